"""A run's outcome: SUCCESS, FAILED (with its retry verdict), settling, heartbeats. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from observability.models.describe import truncate
from observability.models.keys import BatchKey, exhausted_partition, failed_partition
from observability.models.records import BatchState, EventType, Record, Status, iso
from observability.retry.backoff import Governed, RetryAt, Verdict
from observability.transitions.history import event_item, with_history
from observability.transitions.start import present, unrecorded_trigger
from observability.transitions.writes import Scalar, TableConfig, Write

__all__ = ["failure", "heartbeat", "settle", "success"]


# The run's own item: its run id, or none beside a trace id that is the run id (a put leaves
# the run id out then: observability.transitions.writes.lean_state).
OWN_RUN = "(#run_id = :run_id OR (attribute_not_exists(#run_id) AND #trace_id = :run_id))"


def _own_run_condition(run: BatchState, now: datetime) -> tuple[str, dict[str, Scalar]]:
    return (
        f"{OWN_RUN} AND #status = :started AND #version = :version",
        {":run_id": run.run_id or "", ":started": Status.STARTED.value, ":version": run.version},
    )


def _restates_own_run(run: BatchState) -> bool:
    return run.status is Status.STARTED and run.run_id is not None


def _duration_ms(run: BatchState, now: datetime) -> int:
    started = datetime.fromisoformat((run.started_at or iso(now)).replace("Z", "+00:00"))
    return max(0, int((now - started).total_seconds() * 1000))


def success(run: BatchState, cfg: TableConfig, *, now: datetime, actor: str) -> Write:
    """SUCCESS, only from the run that wrote STARTED (same run id and version)."""
    version = run.version + 1
    stamp = iso(now)
    duration = _duration_ms(run, now)
    condition, values = _own_run_condition(run, now)
    detail: dict[str, Any] = {}
    if run.first_failed_at:
        first = datetime.fromisoformat(run.first_failed_at.replace("Z", "+00:00"))
        detail["recovered_after_seconds"] = round((now - first).total_seconds(), 3)
    event = event_item(
        event=EventType.SUCCESS,
        version=version,
        attempt=run.attempt,
        status=Status.SUCCESS,
        at=now,
        actor=actor,
        trace_id=run.trace_id,
        duration_ms=duration,
        detail=detail,
    )
    hole = unrecorded_trigger(run)
    write = Write(
        key=run.key,
        condition=condition,
        values=values,
        restates=_restates_own_run(run),
        set={
            "status": Status.SUCCESS.value,
            "version": version,
            "finished_at": stamp,
            "updated_at": stamp,
            "duration_ms": duration,
            "expires_at": cfg.expires_at(now),
            # A SUCCESS ends the failure episode: the next run starts a fresh attempt budget.
            "attempt_floor": run.attempt,
        },
        remove=present(
            run,
            (
                # A heartbeat means something only while the run is STARTED.
                "heartbeat_at",
                "due_pk",
                "due_at",
                "error_type",
                "error_code",
                "error_message",
                "first_failed_at",
                "alerted",
                "rule",
                "cap",
                "deadline",
                "cap_override",
                "exit_code",
                "stop_reason",
                *(("pending_trigger",) if hole else ()),
            ),
        ),
        events=(*hole, event),
    )
    return with_history(run, write, cfg, now)


def settle(
    key: BatchKey,
    cfg: TableConfig,
    verdict: Verdict,
    *,
    version: int,
    attempt: int,
    now: datetime,
    actor: str,
    trace_id: str | None,
    error_type: str | None,
    governed: Governed | None = None,
) -> tuple[dict[str, Scalar], tuple[Record, ...]]:
    """Where a failure recorded at `version` leaves the batch: FAILED and due for its retry,
    or EXHAUSTED (one more event, listed under EXHAUSTED#, never swept).

    Returns the fields to set and the events that follow the failure's own event. The
    EXHAUSTED event names the error's type; its message is the failure's event's, once.
    With `governed`, the fields also hold the rule, its cap and its deadline: what the
    remediator decides the batch by until its next run.
    """
    ruling: dict[str, Scalar] = {}
    if governed is not None:
        ruling = {"rule": governed.rule, "cap": governed.cap}
        if governed.deadline:
            ruling["deadline"] = governed.deadline
    if isinstance(verdict, RetryAt):
        due = {"due_pk": failed_partition(key, cfg.shards), "due_at": iso(verdict.at)}
        return {"status": Status.FAILED.value, "version": version, **due, **ruling}, ()
    detail: dict[str, Any] = {"reason": verdict.reason}
    if governed is not None:
        detail["rule"] = governed.rule
        if governed.why:
            detail["why"] = governed.why
    exhausted = event_item(
        event=EventType.EXHAUSTED,
        version=version + 1,
        attempt=attempt,
        status=Status.EXHAUSTED,
        at=now,
        actor=actor,
        trace_id=trace_id,
        error_type=error_type,
        detail=detail,
    )
    fields: dict[str, Scalar] = {
        "status": Status.EXHAUSTED.value,
        "version": version + 1,
        "alerted": True,
        "due_pk": exhausted_partition(key, cfg.shards),
        "due_at": iso(now),
        **ruling,
    }
    return fields, (exhausted,)


def failure(
    run: BatchState,
    cfg: TableConfig,
    *,
    now: datetime,
    actor: str,
    error_type: str,
    error_message: str,
    retryable: bool,
    verdict: Verdict,
    governed: Governed | None = None,
    error_code: str | None = None,
    exit_code: int | None = None,
    stop_reason: str | None = None,
) -> Write:
    """FAILED (indexed for its retry) or, when no retry is allowed, FAILED then EXHAUSTED.

    `governed` records the rule that decided it; the cap and deadline it sets are what the
    remediator decides the batch by until its next run. `exit_code` and `stop_reason` are
    a run's end as AWS announced it (a state-change event), kept in the event and the item."""
    version = run.version + 1
    duration = _duration_ms(run, now)
    message = truncate(error_message)
    condition, values = _own_run_condition(run, now)
    failed_detail: dict[str, Any] = {"retryable": retryable}
    if error_code:
        failed_detail["error_code"] = error_code
    if isinstance(verdict, RetryAt):
        failed_detail["next_retry_at"] = iso(verdict.at)
    if governed is not None:
        failed_detail.update(
            rule=governed.rule,
            episode_attempt=governed.episode_attempt,
            max_attempts=governed.cap,
        )
    failed = event_item(
        event=EventType.FAILED,
        version=version,
        attempt=run.attempt,
        status=Status.FAILED,
        at=now,
        actor=actor,
        trace_id=run.trace_id,
        error_type=error_type,
        error_message=message,
        duration_ms=duration,
        detail=failed_detail,
        exit_code=exit_code,
        stop_reason=stop_reason,
    )
    outcome, after = settle(
        run.key,
        cfg,
        verdict,
        version=version,
        attempt=run.attempt,
        now=now,
        actor=actor,
        trace_id=run.trace_id,
        error_type=error_type,
        governed=governed,
    )
    stamp = iso(now)
    fields: dict[str, Scalar] = {
        "finished_at": stamp,
        "updated_at": stamp,
        "duration_ms": duration,
        # The message is the FAILED event's (readers take the latest): stored once.
        "error_type": error_type,
        "retryable": retryable,
        "first_failed_at": run.first_failed_at or stamp,
        "expires_at": cfg.outlasting(now, verdict),
        **outcome,
    }
    if exit_code is not None:
        fields["exit_code"] = exit_code
    if stop_reason:
        fields["stop_reason"] = stop_reason
    hole = unrecorded_trigger(run)
    # A heartbeat means something only while the run is STARTED.
    remove: tuple[str, ...] = (
        *present(run, ("heartbeat_at",)),
        *(("pending_trigger",) if hole else ()),
    )
    if error_code:
        fields["error_code"] = error_code
    elif run.error_code:
        remove = (*remove, "error_code")
    if governed is not None and not governed.deadline:
        remove = (*remove, "deadline")  # an earlier episode's deadline governs no more
    write = Write(
        key=run.key,
        condition=condition,
        values=values,
        restates=_restates_own_run(run),
        set=fields,
        remove=remove,
        events=(*hole, failed, *after),
    )
    return with_history(run, write, cfg, now)


def heartbeat(run: BatchState, cfg: TableConfig, *, now: datetime) -> Write:
    """Keep a long run's claim alive: moves its stale deadline; not a transition (no event)."""
    return Write(
        key=run.key,
        condition=f"{OWN_RUN} AND #status = :started",
        values={":run_id": run.run_id or "", ":started": Status.STARTED.value},
        set={"heartbeat_at": iso(now), "due_at": cfg.stale_at(now)},
    )
