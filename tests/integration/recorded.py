"""A finished span as plain data: from the SDK, or from the JSON line a process wrote.

Apart from harness.py because the processes of the traces test import it, and they must
not import the suite's conftest (it clears the REMEDIATOR_* variables they are run with).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Recorded"]


@dataclass(frozen=True)
class Recorded:
    """One finished span, as plain data (from the SDK, or as a process wrote it in JSON)."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    kind: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    error: bool = False
    service: str = ""

    @classmethod
    def of(cls, span: Any) -> Recorded:
        """From an SDK ReadableSpan."""
        return cls(
            name=span.name,
            trace_id=f"{span.context.trace_id:032x}",
            span_id=f"{span.context.span_id:016x}",
            parent_id=f"{span.parent.span_id:016x}" if span.parent else None,
            kind=span.kind.name,
            start_ns=span.start_time,
            end_ns=span.end_time,
            attributes={
                k: list(v) if isinstance(v, tuple) else v
                for k, v in (span.attributes or {}).items()
            },
            events=[e.name for e in span.events],
            error=span.status.status_code.name == "ERROR",
            service=str(span.resource.attributes.get("service.name", "")),
        )

    def as_json(self) -> str:
        return json.dumps(asdict(self))
