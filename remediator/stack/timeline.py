"""The demo's telling: each audit event printed once as it lands, and the trace of a batch
drawn from the spans the OpenTelemetry SDK recorded in memory."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TextIO

from observability.models import AuditEvent, from_iso
from observability.telemetry import tracing
from remediator.views.render import Style
from remediator.views.waterfall import SpanLine, waterfall

__all__ = ["LEGEND", "Timeline", "draw_trace", "recording", "span_lines"]

# The words of the trace and the timeline that are the code's, not English.
LEGEND = (
    "\n  not_due: the remediator looked at the batch before its backoff ran out, and left it\n"
    "  (archive): older events moved to an item of their own, so the batch's item stays small\n"
    "  -> Slack, PagerDuty: the demo prints what the alert router would deliver there\n"
)


class Timeline:
    """Prints each audit event once, in order, with the time since the demo began."""

    def __init__(self, out: TextIO, style: Style, start: datetime) -> None:
        self.out = out
        self.style = style
        self.start = start
        self.seen: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def line(self, at: datetime, who: str, what: str, detail: str = "") -> None:
        offset = (at - self.start).total_seconds()
        with self._lock:
            self.out.write(
                f"  {offset:+6.1f}s  {who:<13} {what}{'  ' + detail if detail else ''}\n"
            )
            self.out.flush()

    def event(self, e: AuditEvent) -> None:
        if (e.batch_id, e.version) in self.seen:
            return
        self.seen.add((e.batch_id, e.version))
        detail = f"attempt {e.attempt}"
        if e.error_type and e.error_message:
            detail += f"  {e.error_type}: {e.error_message}"
        if "next_retry_at" in e.detail:
            wait = (from_iso(e.detail["next_retry_at"]) - from_iso(e.at)).total_seconds()
            detail += f"  (retry in {max(wait, 0):.1f}s"
            if "rule" in e.detail:
                detail += f', rule "{e.detail["rule"]}": {e.detail.get("episode_attempt")} of '
                detail += f"{e.detail.get('max_attempts')} attempts"
            detail += ")"
        if "recovered_after_seconds" in e.detail:
            detail += f"  (healed {e.detail['recovered_after_seconds']:.1f}s after the failure)"
        if "reason" in e.detail and e.event.value == "EXHAUSTED":
            detail += f"  {e.detail.get('why') or 'reason: ' + e.detail['reason']}"
        what = f"{e.batch_id}  {self.style.status(e.event.value):<16}"
        if not self.style.colour:
            what = f"{e.batch_id}  {e.event.value:<16}"
        self.line(from_iso(e.at), e.actor, what, detail)


@contextmanager
def recording() -> Iterator[Any]:
    """The SDK's in-memory exporter, receiving this library's spans for the demo's length;
    None when the SDK is not installed (the `traces` extra)."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        yield None
        return
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "demo"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracing.use_provider(provider):
        yield exporter
    provider.shutdown()


def span_lines(exporter: Any, trace_id: str) -> list[SpanLine]:
    """The finished spans of one trace, as the waterfall draws them."""
    return [
        SpanLine(
            name=span.name,
            span_id=f"{span.context.span_id:016x}",
            parent_id=f"{span.parent.span_id:016x}" if span.parent else None,
            start_ns=span.start_time,
            end_ns=span.end_time,
            attributes=dict(span.attributes or {}),
            error=not span.status.is_ok,
        )
        for span in exporter.get_finished_spans()
        if f"{span.context.trace_id:032x}" == trace_id
    ]


def draw_trace(
    out: TextIO, style: Style, batch_id: str, trace_id: str | None, exporter: Any
) -> None:
    """The trace of a batch, drawn from the spans recorded while it ran (a hint to install
    the SDK when none were)."""
    if exporter is None:
        out.write(
            f"\n  (pip install 'self-healing-pipelines[traces]' to see the trace of {batch_id})\n"
        )
        return
    if not trace_id:
        return
    drawn = waterfall(trace_id, span_lines(exporter, trace_id))
    out.write(
        f"\n{style.bold(f'The trace of {batch_id}')}, as the OpenTelemetry SDK recorded it "
        "(! ended in error):\n\n" + drawn + "\n" + LEGEND
    )
    out.flush()
