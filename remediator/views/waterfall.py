"""A trace as a waterfall in the terminal: each span on a line, under its parent, with its
offset from the start of the trace, its duration and a bar on a common time scale. Pure.

Spans whose parent is not among them (the first run's, a remediation that joined the trace
by its id) are drawn at the top level, in time order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from observability.models.traceids import is_trace_id, to_xray

__all__ = ["SpanLine", "label", "ordered", "waterfall"]

_BAR = 32


@dataclass(frozen=True, slots=True)
class SpanLine:
    """What the waterfall needs of one finished span."""

    name: str
    span_id: str
    parent_id: str | None
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)
    error: bool = False


def _events(attributes: Mapping[str, Any]) -> str:
    found = attributes.get("audit.events")
    if isinstance(found, str):
        return found
    if isinstance(found, Sequence):
        return ",".join(str(e) for e in found)
    return ""


def label(line: SpanLine) -> str:
    """A short description of a span, from its name and the attributes that say most."""
    a = line.attributes
    if line.name == "batch run":
        text = f"batch run {a.get('pipeline.batch_id', '')}"
        if "pipeline.attempt" in a:
            text += f" attempt {a['pipeline.attempt']}"
        if "pipeline.actor" in a:
            text += f" ({a['pipeline.actor']})"
        if "pipeline.outcome" in a:
            text += f": {a['pipeline.outcome']}"
        return text
    if line.name == "remediate":
        text = f"remediate ({a.get('remediator.via', '?')}, {a.get('remediator.replica', '?')})"
        if "remediator.outcome" in a:
            text += f": {a['remediator.outcome']}"
        return text
    if line.name.startswith(("DynamoDB.", "SNS.")) and _events(a):
        return f"{line.name} {_events(a)}"
    if a.get("audit.archive"):
        return f"{line.name} (archive)"
    if a.get("audit.status"):
        return f"{line.name} -> {a['audit.status']}"
    return line.name


def ordered(spans: Sequence[SpanLine]) -> list[tuple[int, SpanLine]]:
    """Each span with its depth, under its parent, siblings in time order."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanLine]] = {}
    for s in spans:
        parent = s.parent_id if s.parent_id in ids else None
        children.setdefault(parent, []).append(s)
    out: list[tuple[int, SpanLine]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda s: (s.start_ns, s.end_ns)):
            out.append((depth, s))
            walk(s.span_id, depth + 1)

    walk(None, 0)
    return out


def waterfall(trace_id: str, spans: Sequence[SpanLine], *, width: int = _BAR) -> str:
    """The trace as text: a heading with its ids, then one line per span."""
    heading = f"trace {trace_id}"
    if is_trace_id(trace_id):
        heading += f"  (X-Ray: {to_xray(trace_id)})"
    if not spans:
        return heading + "\n  (no spans recorded)"
    start = min(s.start_ns for s in spans)
    total = max(max(s.end_ns for s in spans) - start, 1)
    rows = []
    for depth, s in ordered(spans):
        text = "  " * depth + label(s) + (" !" if s.error else "")
        left = int((s.start_ns - start) * width / total)
        length = max(1, round((s.end_ns - s.start_ns) * width / total))
        left = min(left, width - 1)
        length = min(length, width - left)
        bar = " " * left + "█" * length + " " * (width - left - length)
        rows.append(
            (
                f"+{(s.start_ns - start) / 1e9:.3f}s",
                f"{(s.end_ns - s.start_ns) / 1e6:.1f} ms",
                text,
                bar,
            )
        )
    name_width = max(len(r[2]) for r in rows)
    lines = [heading]
    for offset, duration, text, bar in rows:
        lines.append(f"  {offset:>8}  {duration:>9}  {text:<{name_width}}  |{bar}|")
    return "\n".join(lines)
