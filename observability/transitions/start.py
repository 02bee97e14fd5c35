"""STARTED: who holds a batch, a first run, a run again, a trigger sent but not recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from observability.models.keys import BatchKey, live_partition
from observability.models.records import BatchState, EventType, Record, Status, from_iso, iso
from observability.transitions.history import event_item, with_history
from observability.transitions.writes import Scalar, TableConfig, Write

__all__ = ["holder", "start_again", "start_new", "unrecorded_trigger"]


def holder(state: BatchState, now: datetime, stale_after_seconds: float) -> tuple[str, str] | None:
    """Who holds the batch right now, and until when; None when it is free to start.

    Only a live run holds a batch. A remediator's lease marks a re-trigger in flight: the
    run it triggers must be able to start at once, even before the trigger is recorded.
    """
    stamp = iso(now)
    if state.status is Status.STARTED and state.heartbeat_at:
        until = iso(
            datetime.fromisoformat(state.heartbeat_at.replace("Z", "+00:00"))
            + timedelta(seconds=stale_after_seconds)
        )
        if until > stamp:
            return (f"run {state.run_id}", until)
    return None


def _started_set(
    key: BatchKey,
    cfg: TableConfig,
    *,
    now: datetime,
    attempt: int,
    version: int,
    run_id: str,
    trace_id: str,
    trigger_json: str | None,
    retry_json: str | None,
) -> dict[str, Scalar]:
    stamp = iso(now)
    values: dict[str, Scalar] = {
        "status": Status.STARTED.value,
        "attempt": attempt,
        "version": version,
        "run_id": run_id,
        "trace_id": trace_id,
        "started_at": stamp,
        "heartbeat_at": stamp,
        "updated_at": stamp,
        "due_pk": live_partition(key, cfg.shards),
        "due_at": cfg.stale_at(now),
        "expires_at": cfg.expires_at(now),
    }
    if trigger_json is not None:
        values["trigger"] = trigger_json
    if retry_json is not None:
        values["retry"] = retry_json
    return values


def start_new(
    key: BatchKey,
    cfg: TableConfig,
    *,
    now: datetime,
    run_id: str,
    trace_id: str,
    actor: str,
    trigger_json: str | None,
    incarnation: str,
    retry_json: str | None = None,
) -> Write:
    """First run of a batch: put attempt 1 unless a live item exists (an expired one may).

    `incarnation` names this lifetime of the batch's item: a batch id used again after its
    item expired starts a new one (archives and idempotency keys are per incarnation)."""
    fields = _started_set(
        key,
        cfg,
        now=now,
        attempt=1,
        version=1,
        run_id=run_id,
        trace_id=trace_id,
        trigger_json=trigger_json,
        retry_json=retry_json,
    )
    event = event_item(
        event=EventType.STARTED,
        version=1,
        attempt=1,
        status=Status.STARTED,
        at=now,
        actor=actor,
        trace_id=trace_id,
    )
    return Write(
        key=key,
        condition="attribute_not_exists(#pk) OR #expires_at <= :now_epoch",
        values={":now_epoch": int(now.timestamp())},
        set={**fields, "incarnation": incarnation},
        events=(event,),
        put=True,
    )


def start_again(
    prev: BatchState,
    cfg: TableConfig,
    *,
    now: datetime,
    run_id: str,
    actor: str,
    trigger_json: str | None,
    retry_json: str | None = None,
    trace_id: str | None = None,
) -> Write:
    """A later run: attempt = previous + 1, on condition that nothing changed since `prev`.

    The caller has checked `holder(prev, ...)`; the version condition makes that check hold
    at commit time too. The batch keeps its trace id unless the run brings its own (it
    started inside another trace) and the writer holds the whole item.
    """
    key = prev.key
    attempt, version = prev.attempt + 1, prev.version + 1
    held = prev.stored is not None and bool(prev.stored.get("write_id"))
    if not held and prev.trace_id:
        # The item's events may leave out its trace id (observability.transitions.writes.
        # lean_history): only a writer that puts the whole list can give them theirs back
        # before the item takes another one.
        trace_id = prev.trace_id
    trace_id = trace_id or prev.trace_id or run_id
    fields = _started_set(
        key,
        cfg,
        now=now,
        attempt=attempt,
        version=version,
        run_id=run_id,
        trace_id=trace_id,
        trigger_json=trigger_json,
        retry_json=retry_json,
    )
    event = event_item(
        event=EventType.STARTED,
        version=version,
        attempt=attempt,
        status=Status.STARTED,
        at=now,
        actor=actor,
        trace_id=trace_id,
    )
    if prev.incarnation:
        # Read back from the old run id when a put left it out (writes.lean_state): the new
        # run id must not lend it another.
        fields["incarnation"] = prev.incarnation
    # What the item holds already need not be written again (a shorter request).
    if retry_json is not None and retry_json == prev.retry:
        del fields["retry"]
    if (
        trigger_json is not None
        and prev.trigger is not None
        and trigger_json == json.dumps(prev.trigger, separators=(",", ":"), sort_keys=True)
    ):
        del fields["trigger"]
    write = Write(
        key=key,
        condition="#version = :version AND #expires_at > :now_epoch",
        values={":version": prev.version, ":now_epoch": int(now.timestamp())},
        restates=prev.expires_at > int(now.timestamp()),
        set=fields,
        remove=present(
            prev,
            (
                "finished_at",
                "duration_ms",
                "error_type",
                "error_code",
                "error_message",
                "lease_owner",
                "lease_expires_at",
                "exit_code",
                "stop_reason",
            ),
        ),
        events=(event,),
    )
    return with_history(prev, write, cfg, now)


def present(prev: BatchState, names: tuple[str, ...]) -> tuple[str, ...]:
    """Of `names`, those the item may hold. A writer that knows the whole item (it read or
    wrote it: its history is known) removes only what is there, which keeps the request
    short; one acting on a hint removes them all."""
    if prev.events is None:
        return names
    held = prev.stored if prev.stored is not None else prev.to_scalars()
    return tuple(n for n in names if n in held)


def unrecorded_trigger(run: BatchState) -> tuple[Record, ...]:
    """The event of a re-trigger that went out but was never recorded (the replica that sent
    it stopped first), written by the run it triggered so the history has no hole. Only a
    writer that knows the item's events can tell it is missing."""
    slot = run.pending_trigger
    if slot is None or run.lease_owner or run.events is None:
        return ()
    if any(e.get("version") == slot for e in run.events):
        return ()
    return (
        event_item(
            event=EventType.RETRY_TRIGGERED,
            version=slot,
            attempt=run.attempt,
            status=Status.RETRYING,
            at=from_iso(run.started_at) if run.started_at else datetime.now(UTC),
            actor="remediator",
            trace_id=run.trace_id,
            detail={"unrecorded": True, "note": "sent; its replica stopped before recording it"},
        ),
    )
