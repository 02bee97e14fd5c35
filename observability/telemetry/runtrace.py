"""The span of one batch run, and the rule that makes its trace id the audit trail's.

One id everywhere: the `trace_id` the item, its events, the logs and the signal carry is the
trace id of the run's span. A run started inside a context (the trigger's, passed as
`parent=`; an ECS task's `TRACEPARENT` for its own batch; a span of the caller's) takes that
context's trace id. A run of a batch this process has seen (after `pending()` or `get()`)
joins the batch's trace. A run of a new batch starts a new trace, and the item stores its id.

With no SDK configured there is no span: only a context given explicitly or current decides
the id, and otherwise the trail keeps the id it would have kept anyway.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Protocol

from observability.models.traceids import TRACEPARENT_ENV
from observability.telemetry import tracing

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

    from observability.models.keys import BatchKey
    from observability.models.records import BatchState

__all__ = ["RunTrace"]

_NULL: AbstractContextManager[None] = nullcontext()


class _Run(Protocol):
    @property
    def state(self) -> BatchState: ...


def _from_environment(key: BatchKey) -> Context | None:
    """The context an ECS task was started with, when the task runs this very batch."""
    value = os.environ.get(TRACEPARENT_ENV)
    if not value:
        return None
    if (
        os.environ.get("PIPELINE_JOB_ID") != key.job_id
        or os.environ.get("PIPELINE_BATCH_ID") != key.batch_id
    ):
        return None
    return tracing.context_from(value)


class RunTrace:
    """`begin` before STARTED is written, `started` after, `finishing` around the outcome."""

    __slots__ = ("_started_version", "_token", "span", "trace_id")

    def __init__(
        self, span: Span | None = None, trace_id: str | None = None, token: object = None
    ) -> None:
        self.span = span
        self.trace_id = trace_id
        self._token = token
        self._started_version = 0

    @classmethod
    def begin(
        cls,
        key: BatchKey,
        parent: Context | None,
        recall: Callable[[BatchKey], BatchState | None],
        actor: str,
    ) -> RunTrace:
        """The run's span (current until `finishing` ends it) and the trace id to store;
        `trace_id` None keeps the trail's own rule (new id, or the batch's)."""
        if parent is None:
            parent = _from_environment(key)
        if not tracing.enabled():
            found = tracing.trace_id_of(parent)
            return _OFF if found is None else cls(trace_id=found)
        context = parent
        if context is None and tracing.current_trace_id() is None:
            known = recall(key)
            if known is not None:
                context = tracing.anchor_context(known.trace_id)
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        span = tracing.tracer().start_span(
            "batch run",
            context=context,
            kind=tracing.SpanKind.CONSUMER if parent is not None else tracing.SpanKind.INTERNAL,
            attributes={
                "pipeline.job_id": key.job_id,
                "pipeline.batch_id": key.batch_id,
                "pipeline.actor": actor,
            },
        )
        inside = trace.set_span_in_context(span)
        return cls(span, tracing.trace_id_of(inside), otel_context.attach(inside))

    def started(self, state: BatchState) -> None:
        if self.span is None:
            return
        self._started_version = state.version
        self.span.set_attribute("pipeline.attempt", state.attempt)
        self.span.add_event(
            "STARTED", {"pipeline.attempt": state.attempt, "audit.version": state.version}
        )

    def abort(self, exc: BaseException) -> None:
        """STARTED could not be written: the span ends with the error."""
        if self.span is None:
            return
        tracing.mark_error(self.span, exc)
        self._end()

    def finishing(self, run: _Run, error: BaseException | None) -> AbstractContextManager[None]:
        """Around the outcome's write: then the outcome's events, and the span ends."""
        if self.span is None:
            return _NULL
        return self._finishing(run, error)

    @contextmanager
    def _finishing(self, run: _Run, error: BaseException | None) -> Iterator[None]:
        assert self.span is not None
        try:
            yield
        except BaseException as raised:
            tracing.mark_error(self.span, raised)
            raise
        finally:
            self._outcome(run.state, error)
            self._end()

    def _outcome(self, state: BatchState, error: BaseException | None) -> None:
        assert self.span is not None
        for event in state.events or ():
            if int(event.get("version", 0)) > self._started_version:
                self.span.add_event(
                    str(event.get("event")),
                    {
                        "pipeline.attempt": int(event.get("attempt", 0)),
                        "audit.version": int(event.get("version", 0)),
                    },
                )
        self.span.set_attribute("pipeline.outcome", state.status.value)
        if state.error_type:
            self.span.set_attribute("pipeline.error_type", state.error_type)
        if error is not None:
            tracing.mark_error(self.span, error)

    def _end(self) -> None:
        assert self.span is not None
        self.span.end()
        if self._token is not None:
            from opentelemetry import context as otel_context

            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None


_OFF = RunTrace()
