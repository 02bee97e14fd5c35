"""OpenTelemetry traces: spans when an SDK is configured, the W3C context on every hop.

Only the OpenTelemetry API is a dependency, and it is a no-op until an SDK is configured: by
the application (`opentelemetry.trace.set_tracer_provider`), or from the standard OTEL_*
variables with `configure_tracing()` (`observability.telemetry.setup`; the `traces` extra:
SDK and OTLP/HTTP exporter). While none is, the library starts no span: each helper here
looks at the provider first and returns at once, so a batch costs what it cost before.

The API itself is imported only once something uses it: the application (a provider it
set, a span of its own: either imported `opentelemetry.trace` first), `use_provider`, or a
context that arrived with a re-run. Until then no provider but the no-op one can be in
force and no span can be current, so `enabled()` is False and the current trace id None
without importing it: a pipeline that does not trace never pays its import.

The context travels as a W3C `traceparent` (see `observability.models.traceids`): an SNS message
attribute on the failure signal, then on every re-trigger, and `context_from(...)` reads it
back from whatever carried it, for `trail.batch(..., parent=...)`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from observability.models.traceids import (
    TRACEPARENT,
    TRACEPARENT_ENV,
    anchor_span_id,
    format_traceparent,
    is_trace_id,
    parse_traceparent,
)

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, SpanContext, SpanKind, Tracer, TracerProvider

__all__ = [
    "SpanKind",
    "anchor_context",
    "aws_call",
    "context_from",
    "current_trace_id",
    "enabled",
    "mark_error",
    "no_sdk",
    "remote_context",
    "span",
    "trace_id_of",
    "traceparent",
    "tracer",
    "use_provider",
]

log = logging.getLogger("observability")

_NULL: AbstractContextManager[None] = nullcontext()
_override: TracerProvider | None = None
_tracers: tuple[TracerProvider | None, dict[str, Tracer]] = (None, {})
_lock = threading.Lock()
_VERSION = "0.1.0"
_API = "opentelemetry.trace"


def __getattr__(name: str) -> object:
    if name == "SpanKind":  # re-exported for callers' span kinds, loaded with the API
        from opentelemetry.trace import SpanKind

        return SpanKind
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- is anything listening? ----------------------------------------------------------------


def _untouched() -> bool:
    """True while nothing has imported the API nor asked for a provider by variable: then
    the no-op provider is in force and no span is current, as the API would answer."""
    return (
        _API not in sys.modules
        and _override is None
        and not os.environ.get("OTEL_PYTHON_TRACER_PROVIDER")
    )


def no_sdk(chosen: TracerProvider) -> bool:
    """True for the API's own providers, which record nothing."""
    from opentelemetry import trace

    return isinstance(chosen, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def provider() -> TracerProvider:
    """The provider spans go to: `use_provider`'s inside its block, else the global one."""
    from opentelemetry import trace

    return _override or trace.get_tracer_provider()


def enabled() -> bool:
    """True when an SDK is configured: only then does this library start spans."""
    if _untouched():
        return False
    return not no_sdk(provider())


def tracer(scope: str = "observability") -> Tracer:
    """The tracer of one instrumentation scope (`observability`, `remediator`), cached."""
    global _tracers
    current = provider()
    owner, found = _tracers
    if owner is not current:
        with _lock:
            owner, found = _tracers
            if owner is not current:
                found = {}
                _tracers = (current, found)
    cached = found.get(scope)
    if cached is None:
        cached = found[scope] = current.get_tracer(scope, _VERSION)
    return cached


@contextmanager
def use_provider(chosen: TracerProvider) -> Iterator[TracerProvider]:
    """Send this library's spans to `chosen` inside the block, whatever the global provider
    is (the demo, tests: the global one can be set only once per process)."""
    global _override
    previous, _override = _override, chosen
    try:
        yield chosen
    finally:
        _override = previous


# -- spans ---------------------------------------------------------------------------------


def span(
    name: str,
    *,
    kind: SpanKind | None = None,
    attributes: Mapping[str, Any] | None = None,
    context: Context | None = None,
    scope: str = "observability",
) -> AbstractContextManager[Span | None]:
    """A span, current inside the block (INTERNAL unless `kind`); `None` and no work at all
    when tracing is off."""
    if not enabled():
        return _NULL
    from opentelemetry.trace import SpanKind

    return _started(name, kind or SpanKind.INTERNAL, attributes, context, scope)


@contextmanager
def _started(
    name: str,
    kind: SpanKind,
    attributes: Mapping[str, Any] | None,
    context: Context | None,
    scope: str,
) -> Iterator[Span]:
    with tracer(scope).start_as_current_span(
        name,
        context=context,
        kind=kind,
        attributes=dict(attributes) if attributes else None,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            mark_error(current, exc)
            raise


def mark_error(target: Span, exc: BaseException) -> None:
    """Record an exception on a span: its type as `error.type`, the status ERROR."""
    from opentelemetry.trace import Status, StatusCode

    target.set_attribute("error.type", type(exc).__name__)
    target.record_exception(exc)
    target.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:256]))


def aws_call(
    service: str,
    operation: str,
    *,
    table: str | None = None,
    destination: str | None = None,
    events: Sequence[Mapping[str, Any]] = (),
    status: object = None,
    archive: bool = False,
    kind: SpanKind | None = None,
) -> AbstractContextManager[Span | None]:
    """A span around one AWS call (`DynamoDB.UpdateItem`, `SNS.Publish`), named as the
    OpenTelemetry AWS SDK conventions name them; `events` are the audit events it writes,
    `status` the batch status it sets, `archive` that it moves older events out of an item.
    A CLIENT span unless `kind`."""
    if not enabled():
        return _NULL
    from opentelemetry.trace import SpanKind

    attributes: dict[str, Any] = {
        "rpc.system": "aws-api",
        "rpc.service": service,
        "rpc.method": operation,
    }
    if table is not None:
        attributes["aws.dynamodb.table_names"] = [table]
    if destination is not None:
        attributes["messaging.system"] = f"aws_{service.lower()}"
        attributes["messaging.destination.name"] = destination.rsplit(":", 1)[-1]
    if events:
        attributes["audit.events"] = [str(e.get("event", "")) for e in events]
    if isinstance(status, str):
        attributes["audit.status"] = status
    if archive:
        attributes["audit.archive"] = True
    return _started(
        f"{service}.{operation}", kind or SpanKind.CLIENT, attributes, None, "observability"
    )


# -- context ---------------------------------------------------------------------------------


def remote_context(trace_id: str, span_id: str, *, sampled: bool = True) -> Context:
    """A context whose parent is a span of another process (or of the past)."""
    from opentelemetry import trace
    from opentelemetry.context import Context
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    parent = SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent), Context())


def anchor_context(trace_id: str | None) -> Context | None:
    """The batch's trace when no span of it is at hand (`traceids.anchor_span_id`); None
    for an id that is not a W3C trace id (items written before traces existed)."""
    if not is_trace_id(trace_id):
        return None
    assert trace_id is not None
    return remote_context(trace_id, anchor_span_id(trace_id))


def _span_context(context: Context | None = None) -> SpanContext | None:
    """The span context of `context` (the current one when None); None when there is none,
    and always while the API is untouched (no span can be current)."""
    if context is None and _untouched():
        return None
    from opentelemetry import trace

    found = trace.get_current_span(context).get_span_context()
    return found if found.is_valid else None


def trace_id_of(context: Context | None) -> str | None:
    """The W3C trace id of a context (the current one when None), or None."""
    found = _span_context(context)
    return f"{found.trace_id:032x}" if found is not None else None


def current_trace_id() -> str | None:
    return trace_id_of(None)


def traceparent(context: Context | None = None) -> str | None:
    """The `traceparent` that makes the next hop a child of the current span (or of
    `context`'s); None when there is none."""
    found = _span_context(context)
    if found is None:
        return None
    return format_traceparent(
        f"{found.trace_id:032x}", f"{found.span_id:016x}", sampled=found.trace_flags.sampled
    )


def _attribute(attributes: object) -> object:
    """The traceparent in a map of SQS or SNS message attributes, in any of their spellings."""
    if not isinstance(attributes, Mapping):
        return None
    value = attributes.get(TRACEPARENT)
    if isinstance(value, Mapping):
        # boto3 SQS: StringValue; Lambda's SQS event: stringValue; SNS envelope: Value.
        for name in ("StringValue", "stringValue", "Value"):
            if isinstance(value.get(name), str):
                return value[name]
        return None
    return value


def _find(source: object, depth: int = 0) -> object:
    if isinstance(source, str) or source is None or depth > 3:
        return source
    if not isinstance(source, Mapping):
        return None
    for key in (TRACEPARENT, TRACEPARENT_ENV):
        if isinstance(source.get(key), str):
            return source[key]
    for key in ("MessageAttributes", "messageAttributes"):
        if key in source:
            return _attribute(source[key])
    if isinstance(source.get("detail"), Mapping):  # an EventBridge event
        return _find(source["detail"], depth + 1)
    records = source.get("Records")
    if isinstance(records, list) and len(records) == 1:  # a Lambda event of one message
        record = records[0]
        if isinstance(record, Mapping) and isinstance(record.get("Sns"), Mapping):
            return _find(record["Sns"], depth + 1)
        return _find(record, depth + 1)
    return None


def context_from(source: object) -> Context | None:
    """The trace context a re-run was started with, for `trail.batch(..., parent=...)`.

    `source` is whatever carried it: a `traceparent` string; an SQS message as boto3 returns
    it, or a Lambda SQS event (of one record); a Step Functions input, a Lambda payload or
    an EventBridge event or its `detail` (a `traceparent` field); `os.environ` of an ECS
    task (`TRACEPARENT`). None when it carries no valid one: the run then starts its own.
    """
    parsed = parse_traceparent(_find(source))
    if parsed is None:
        return None
    trace_id, span_id, sampled = parsed
    return remote_context(trace_id, span_id, sampled=sampled)
