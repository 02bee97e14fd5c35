"""What a state change does to a batch, and the write that records a run stopped without a
word. Pure.

Events arrive at least once and in any order, so each is judged against the item as it
stands: one for an attempt older than the item's, or for a transition the item has passed,
changes nothing (a duplicate is one of those); only the next transition of the attempt it
names is written, as one conditional write on the version it was planned from.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from observability.models import BatchState, EventType, Status, iso
from observability.retry.backoff import Governed, Verdict
from observability.transitions import Scalar, TableConfig, Write, event_item, settle, with_history
from remediator.events.parse import FAILED, StateChange
from remediator.remediation.claims import noted

__all__ = ["IGNORE", "LATER", "RECORD", "source_steps", "stop_decision", "stopped"]

RECORD, IGNORE, LATER = "record", "ignore", "later"


def stop_decision(state: BatchState | None, attempt: int) -> tuple[str, str]:
    """Whether a triggered run's abnormal stop (attempt `attempt`) is recorded now: RECORD,
    IGNORE (with why) or LATER (its re-trigger is not recorded yet: the event waits)."""
    if state is None:
        return IGNORE, "no such batch"
    if state.status is Status.STARTED and state.attempt == attempt:
        return RECORD, "the run's own attempt"
    if state.status is Status.RETRYING and state.attempt == attempt - 1:
        # The re-run died before it wrote STARTED; a live lease means its trigger is not
        # recorded yet, and the record must land first.
        if state.lease_owner:
            return LATER, "trigger not recorded yet"
        return RECORD, "never started"
    if state.attempt >= attempt:
        return IGNORE, f"the batch is past it ({state.status.value}, attempt {state.attempt})"
    return IGNORE, f"attempt {attempt} is not the batch's next (attempt {state.attempt})"


def source_steps(state: BatchState | None, attempt: int, phase: str) -> tuple[str, ...]:
    """The writes a source's run event needs, in order: "new" (STARTED of attempt 1),
    "again" (STARTED of the next attempt), then "finish" (SUCCESS or FAILED); () when the
    item is already there or past it."""
    finish = ("finish",) if phase != "STARTED" else ()
    if state is None:
        return ("new", *finish) if attempt == 1 else ()
    if state.attempt == attempt:
        return finish if state.status is Status.STARTED else ()
    if state.attempt == attempt - 1 and state.status is not Status.STARTED:
        return ("again", *finish)
    return ()


def stopped(
    state: BatchState,
    cfg: TableConfig,
    *,
    change: StateChange,
    actor: str,
    now: datetime,
    verdict: Verdict,
    governed: Governed | None,
    beside: Mapping[str, str] | None = None,
) -> Write:
    """FAILED for a run AWS saw stop abnormally (then EXHAUSTED when no retry is left),
    with its exit code and stop reason in the event and the item. A RETRYING batch's re-run
    that died before STARTED fails its own attempt, as a stale one would."""
    assert change.phase == FAILED
    never_started = state.status is Status.RETRYING
    attempt = state.attempt + 1 if never_started else state.attempt
    version = state.version + 1
    error_type = change.error_type or "RunStopped"
    failed = event_item(
        event=EventType.FAILED, version=version, attempt=attempt, status=Status.FAILED,
        at=change.at, actor=actor, trace_id=state.trace_id, error_type=error_type,
        error_message=change.message or "", exit_code=change.exit_code,
        stop_reason=change.reason,
        detail={"run": change.run_id, "source": f"aws.{change.service}",
                **({"rule": governed.rule} if governed else {})},
    )  # fmt: skip
    outcome, after = settle(
        state.key, cfg, verdict, version=version, attempt=attempt, now=now, actor=actor,
        trace_id=state.trace_id, error_type=error_type, governed=governed,
    )  # fmt: skip
    fields: dict[str, Scalar] = {
        "attempt": attempt,
        "updated_at": iso(now),
        "finished_at": iso(change.at),
        "error_type": error_type,
        "retryable": governed is None or governed.rule != "never",
        "first_failed_at": state.first_failed_at or iso(now),
        "expires_at": cfg.outlasting(now, verdict),
        **outcome,
    }
    if change.exit_code is not None:
        fields["exit_code"] = change.exit_code
    if change.reason:
        fields["stop_reason"] = change.reason
    write = Write(
        key=state.key,
        condition="#status = :status AND #version = :version AND #attempt = :attempt",
        values={
            ":status": state.status.value,
            ":version": state.version,
            ":attempt": state.attempt,
        },
        restates=True,
        set=fields,
        remove=("lease_owner", "lease_expires_at", "pending_trigger"),
        events=noted((failed, *after), beside),
    )
    return with_history(state, write, cfg, now)
