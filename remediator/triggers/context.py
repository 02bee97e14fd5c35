"""Who a re-run is for: the fields every target receives with a re-trigger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from observability.models.keys import BatchKey
from observability.models.traceids import TRACEPARENT

__all__ = ["Firer", "TriggerContext"]


@dataclass(frozen=True, slots=True)
class TriggerContext:
    """Who the re-run is for: the fields every target receives."""

    key: BatchKey
    attempt: int
    trace_id: str | None
    reason: str = "retry"
    # Unique per lifetime of the batch's item (its `incarnation`): a batch that starts over
    # after its item expired gets new execution names. Empty: the trace id stands in.
    incarnation: str = ""
    # W3C context of the re-trigger: the re-run joins the failure's trace with it.
    traceparent: str | None = None
    # An ECS task's size for this attempt (cpu units, memory MiB), from its rule's overrides.
    task_size: tuple[int, int] | None = None

    @property
    def idempotency_key(self) -> str:
        return self.key.idempotency_key(self.attempt)

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job_id": self.key.job_id,
            "batch_id": self.key.batch_id,
            "attempt": self.attempt,
            "trace_id": self.trace_id,
            "reason": self.reason,
        }
        if self.traceparent:
            out[TRACEPARENT] = self.traceparent
        return out


Firer = Callable[[Any, TriggerContext], str]
