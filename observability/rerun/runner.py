"""Runs one requested batch under `trail.batch`, once per attempt, and says how it went.

Shared by every way a re-run arrives (SQS worker, Lambda handler, Step Functions or ECS
task). A delivery is at least once: before a re-run starts, the batch's state is read, and
an attempt that already started (a duplicate delivery, an old message) is not run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from observability.errors import BatchAlreadyRunning, StoreUnavailable
from observability.rerun.request import RerunRequest
from observability.trail.shapes import resolve

if TYPE_CHECKING:
    from observability.trail import AuditTrail, BatchRun
    from observability.triggers import Trigger

__all__ = ["Rerun", "RerunOutcome", "RerunResult", "log_result", "run_request"]

log = logging.getLogger("observability.rerun")

R = TypeVar("R")


class RerunOutcome(StrEnum):
    SUCCEEDED = "succeeded"  # SUCCESS recorded
    FAILED = "failed"  # the work raised; FAILED recorded, the remediator retries or alerts
    DUPLICATE = "duplicate"  # that attempt already started: nothing was run
    BUSY = "busy"  # a live run holds the batch: try again later
    UNRECORDED = "unrecorded"  # the audit table could not be reached: try again later

    @property
    def done(self) -> bool:
        """The trail has the outcome (or never needed it): the delivery can be let go."""
        return self in (RerunOutcome.SUCCEEDED, RerunOutcome.FAILED, RerunOutcome.DUPLICATE)


class Rerun:
    """What the work function receives: the batch, its attempt, its body, and a heartbeat."""

    def __init__(self, request: RerunRequest, run: BatchRun, context: Any = None) -> None:
        self.request = request
        self.run = run
        self.context = context  # the Lambda context, where there is one

    job_id = property(lambda self: self.run.job_id)
    batch_id = property(lambda self: self.run.batch_id)
    attempt = property(lambda self: self.run.attempt)
    trace_id = property(lambda self: self.run.trace_id)
    body = property(lambda self: self.request.body)
    reason = property(lambda self: self.request.reason)

    def heartbeat(self, *, force: bool = False) -> bool:
        """Long work calls this now and then, so the run is not taken for dead."""
        return self.run.heartbeat(force=force)

    def __repr__(self) -> str:
        return f"Rerun({self.job_id}/{self.batch_id}, attempt {self.attempt})"


@dataclass(frozen=True, slots=True)
class RerunResult(Generic[R]):
    outcome: RerunOutcome
    request: RerunRequest
    attempt: int | None = None  # the attempt that ran (or had already run)
    value: R | None = None
    error: BaseException | None = None

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly account, for a handler's return value and for logs."""
        out: dict[str, Any] = {
            "outcome": self.outcome.value,
            "job_id": self.request.job_id,
            "batch_id": self.request.batch_id,
            "attempt": self.attempt,
        }
        if self.error is not None:
            out["error_type"] = type(self.error).__name__
            out["error_message"] = str(self.error)
        return out


def _already_started(request: RerunRequest, trail: AuditTrail) -> int | None:
    """The attempt the batch is at when it is at or past the requested one, else None."""
    if request.attempt is None:
        return None
    state = trail.get(request.job_id, request.batch_id)
    if state is None or state.attempt < request.attempt:
        return None
    return state.attempt


def run_request(
    trail: AuditTrail,
    request: RerunRequest,
    work: Callable[[Rerun], R],
    *,
    trigger: Trigger | None = None,
    context: Any = None,
) -> RerunResult[R]:
    """Run `work` for the requested batch under `trail.batch(...)`; `work` may be a
    coroutine function (awaited to its end in an event loop of its own).

    The work's own exception is not raised: it is recorded (FAILED) and returned in the
    result, so that callers that consume deliveries can let them go. Errors of the library
    before the work (bad ids, no topic configured) are raised.
    """
    try:
        seen = _already_started(request, trail)
    except StoreUnavailable as exc:
        return RerunResult(RerunOutcome.UNRECORDED, request, error=exc)
    if seen is not None:
        log.info(
            "attempt %s of %s/%s already started (batch at attempt %d): not run again",
            request.attempt,
            request.job_id,
            request.batch_id,
            seen,
            extra=_fields(request),
        )
        return RerunResult(RerunOutcome.DUPLICATE, request, attempt=seen)
    batch = trail.batch(request.job_id, request.batch_id, trigger=trigger)
    run: BatchRun | None = None
    finished = False
    try:
        with batch as run:
            if request.attempt is not None and run.attempt != request.attempt:
                log.warning(
                    "running attempt %d of %s/%s; the trigger asked for attempt %d",
                    run.attempt,
                    run.job_id,
                    run.batch_id,
                    request.attempt,
                )
            # Async work (a coroutine function) is run to its end before SUCCESS.
            value = resolve(work(Rerun(request, run, context)))
            finished = True
    except BatchAlreadyRunning as exc:
        if run is None:
            return RerunResult(RerunOutcome.BUSY, request, error=exc)
        return RerunResult(RerunOutcome.FAILED, request, attempt=run.attempt, error=exc)
    except StoreUnavailable as exc:
        if run is None or finished:
            # Not started, or the SUCCESS write failed: the batch goes stale and is retried.
            return RerunResult(
                RerunOutcome.UNRECORDED, request, attempt=run.attempt if run else None, error=exc
            )
        return RerunResult(RerunOutcome.FAILED, request, attempt=run.attempt, error=exc)
    except Exception as exc:
        if run is None:
            raise
        outcome = RerunOutcome.UNRECORDED if finished else RerunOutcome.FAILED
        return RerunResult(outcome, request, attempt=run.attempt, error=exc)
    return RerunResult(RerunOutcome.SUCCEEDED, request, attempt=run.attempt, value=value)


def _fields(request: RerunRequest) -> dict[str, Any]:
    return {
        "job_id": request.job_id,
        "batch_id": request.batch_id,
        "attempt": request.attempt,
        "trace_id": request.trace_id,
    }


def log_result(result: RerunResult[Any]) -> None:
    """One log record for a result that is not raised to anyone: the traceback is shown here
    (and only here) for a failed batch whose exception the caller swallows."""
    fields = {**_fields(result.request), "attempt": result.attempt, "outcome": result.outcome}
    where = f"{result.request.job_id}/{result.request.batch_id}"
    error = result.error
    if result.outcome is RerunOutcome.FAILED and error is not None:
        log.error(
            "the work of batch %s attempt %s raised %s: %s",
            where,
            result.attempt,
            type(error).__name__,
            error,
            exc_info=(type(error), error, error.__traceback__),
            extra=fields,
        )
    elif result.outcome in (RerunOutcome.BUSY, RerunOutcome.UNRECORDED):
        log.warning("batch %s not run, will be tried again: %s", where, error, extra=fields)
    elif result.outcome is RerunOutcome.SUCCEEDED:
        log.info("batch %s attempt %s succeeded", where, result.attempt, extra=fields)
