"""The remediator's part of a batch's trace: the signal's time in the queue, and a span per
remediation parented on the failure's context.

A signal carries the failed run's context (`traceparent`, an SNS message attribute that raw
delivery hands to SQS): the remediation it causes is handled inside that context. A signal
heard before its retry is due leaves the retry to the sweep; its context is kept here, by
batch and version, so that the sweep of this replica parents the retry on the failure too.
What the sweep finds without such a hint (a lost signal, another replica's) joins the
batch's trace by its stored id (`tracing.anchor_context`).

With no SDK there is no span, but the context is still made current, so that re-triggers
pass it on and a traced worker joins the batch's trace.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Concatenate, ParamSpec, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace

from observability.telemetry import tracing

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from observability.models import BatchState

__all__ = ["HINT_LIMIT", "Hints", "remediation", "signal_context"]

P = ParamSpec("P")
HINT_LIMIT = 10_000
SCOPE = "remediator"

# How the remediation in hand was found: "signal" inside `signal_context`, else "sweep".
_via: ContextVar[str] = ContextVar("remediator_via", default="sweep")


class _Outcome(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def detail(self) -> dict[str, str]: ...


class _Message(Protocol):
    """What `signal_context` reads of a received signal (the consumer's `Received`)."""

    @property
    def message_id(self) -> str: ...
    @property
    def receive_count(self) -> int: ...
    @property
    def traceparent(self) -> str | None: ...
    @property
    def sent_at_ms(self) -> int | None: ...
    @property
    def received_at_ns(self) -> int: ...


class _Replica(Protocol):
    @property
    def replica(self) -> str: ...


OutcomeT = TypeVar("OutcomeT", bound=_Outcome)
S = TypeVar("S", bound=_Replica)
_Method = Callable[Concatenate[S, "BatchState", P], OutcomeT]


class Hints:
    """Failure contexts of signals heard before their retry was due, by (batch, version)."""

    def __init__(self, limit: int = HINT_LIMIT) -> None:
        self._limit = limit
        self._found: OrderedDict[tuple[str, int], Context] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, token: str, version: int, context: Context) -> None:
        with self._lock:
            self._found[(token, version)] = context
            self._found.move_to_end((token, version))
            while len(self._found) > self._limit:
                self._found.popitem(last=False)

    def take(self, token: str, version: int) -> Context | None:
        with self._lock:
            return self._found.pop((token, version), None)


HINTS = Hints()


@contextmanager
def signal_context(message: _Message) -> Iterator[None]:
    """Handle one signal inside the failure's context it carried; its time in the queue
    (sent to received) becomes a span of that trace."""
    parent = tracing.context_from(message.traceparent) if message.traceparent else None
    if parent is not None and message.sent_at_ms and tracing.enabled():
        queued = tracing.tracer(SCOPE).start_span(
            "signal queued",
            context=parent,
            kind=tracing.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "aws_sqs",
                "messaging.message.id": message.message_id,
                "messaging.sqs.receive_count": message.receive_count,
            },
            start_time=message.sent_at_ms * 1_000_000,
        )
        queued.end(end_time=message.received_at_ns or time.time_ns())
    via = _via.set("signal")
    token = otel_context.attach(parent) if parent is not None else None
    try:
        yield
    finally:
        if token is not None:
            otel_context.detach(token)
        _via.reset(via)


def _parent(state: BatchState, how: str) -> Context | None:
    """The context a remediation of `state` belongs in, when none is current."""
    if tracing.current_trace_id() is not None:
        return None
    hint = HINTS.take(state.key.token, state.version)
    return hint if hint is not None else tracing.anchor_context(state.trace_id)


def remediation(
    how: str | None = None,
) -> Callable[[_Method[S, P, OutcomeT]], _Method[S, P, OutcomeT]]:
    """Decorates `Remediator.remediate` (signal or sweep) and `replay`: one span per call,
    in the failure's context, with the outcome as its attributes."""

    def decorate(fn: _Method[S, P, OutcomeT]) -> _Method[S, P, OutcomeT]:
        @functools.wraps(fn)
        def wrapper(owner: S, state: BatchState, /, *args: P.args, **kwargs: P.kwargs) -> OutcomeT:
            via = how or _via.get()
            parent = _parent(state, via)
            signal = tracing.current_trace_id() is not None and via == "signal"
            current = otel_context.get_current()
            token = otel_context.attach(parent) if parent is not None else None
            try:
                with tracing.span(
                    "remediate",
                    kind=tracing.SpanKind.CONSUMER if signal else tracing.SpanKind.INTERNAL,
                    attributes={
                        "pipeline.job_id": state.job_id,
                        "pipeline.batch_id": state.batch_id,
                        "remediator.via": via,
                        "remediator.replica": owner.replica,
                    },
                    scope=SCOPE,
                ) as span:
                    outcome = fn(owner, state, *args, **kwargs)
                    if span is not None:
                        _describe(span, outcome)
            finally:
                if token is not None:
                    otel_context.detach(token)
            if outcome.kind == "not_due" and signal:
                HINTS.keep(state.key.token, state.version, current)
            return outcome

        return wrapper

    return decorate


_FAILED_OUTCOMES = frozenset({"trigger_failed", "triggered_unrecorded"})


def _describe(span: trace.Span, outcome: _Outcome) -> None:
    span.set_attribute("remediator.outcome", outcome.kind)
    if outcome.attempt:
        span.set_attribute("pipeline.attempt", outcome.attempt)
    for name in ("reason", "response_id", "at"):
        if name in outcome.detail:
            span.set_attribute(f"remediator.{name}", outcome.detail[name])
    if outcome.kind in _FAILED_OUTCOMES:
        span.set_status(
            trace.Status(trace.StatusCode.ERROR, outcome.detail.get("error", outcome.kind))
        )
