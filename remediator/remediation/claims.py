"""The remediator's writes: claim, record a trigger, release, exhaust, mark stale. Pure.

Each is one conditional write of the batch's item. A claim (status, attempt, version, no
live lease) moves the batch to RETRYING under a lease and reserves the next version for the
RETRY_TRIGGERED (or REPLAY_TRIGGERED) event (`pending_trigger`). So the re-run it triggers
may write STARTED the moment the trigger lands, and the event still sorts before it. The
lease's expiry is also the batch's `due_at` in the LIVE# index: if this replica dies before
recording its trigger, the sweep finds the batch exactly when the lease runs out and
triggers the same attempt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from observability.models import BatchState, EventType, Record, Status, iso
from observability.models.keys import live_partition
from observability.retry.backoff import Exhaust as ExhaustVerdict
from observability.retry.backoff import Governed, Verdict
from observability.transitions import Scalar, TableConfig, Write, event_item, settle, with_history

__all__ = [
    "claim",
    "exhaust",
    "mark_stale",
    "noted",
    "recorded",
    "recorded_late",
    "release",
    "trigger_event",
]

# A lease runs out at the batch's `due_at` (BatchState.lease_expires_at reads it there).
_NO_LIVE_LEASE = "(attribute_not_exists(#lease_owner) OR #due_at <= :now)"


def claim(
    state: BatchState,
    cfg: TableConfig,
    *,
    owner: str,
    now: datetime,
    lease_seconds: float,
    require_due: bool = True,
    attempt_floor: int | None = None,
    cap_override: int | None = None,
    operation: str | None = None,
) -> Write:
    """Take the batch for `lease_seconds`, on condition that it is exactly as `state` says.
    With `operation`, the bulk operation it is taken for is stamped on the item: that
    operation then knows the batch as its own, and never starts it again.

    From FAILED or EXHAUSTED it becomes RETRYING (version + 1, the event's slot); a RETRYING
    batch whose lease ran out is taken over as it is, for the same attempt.
    """
    expires = iso(now + timedelta(seconds=lease_seconds))
    # Due now implies no live lease (a lease runs out at `due_at`).
    free = "#due_at <= :now" if require_due else _NO_LIVE_LEASE
    condition = (
        "#status = :status AND #attempt = :attempt AND #version = :version "
        f"AND #expires_at > :now_epoch AND {free}"
    )
    values: dict[str, Scalar] = {
        ":status": state.status.value,
        ":attempt": state.attempt,
        ":version": state.version,
        ":now": iso(now),
        ":now_epoch": int(now.timestamp()),
    }
    fields: dict[str, Scalar] = {
        "lease_owner": owner,
        "due_at": expires,
        "updated_at": iso(now),
    }
    remove: tuple[str, ...] = ()
    if state.status is not Status.RETRYING:
        fields.update(
            status=Status.RETRYING.value,
            version=state.version + 1,
            pending_trigger=state.version + 1,
            due_pk=live_partition(state.key, cfg.shards),
        )
        remove = ("refusals",)  # a new attempt: its refusals count afresh
    if attempt_floor is not None:
        fields["attempt_floor"] = attempt_floor
    if cap_override is not None:
        fields["cap_override"] = cap_override
    if operation is not None:
        fields["operation"] = operation
    return Write(key=state.key, condition=condition, values=values, set=fields, remove=remove)


def _owned(claimed: BatchState, owner: str) -> tuple[str, dict[str, Scalar]]:
    return (
        "#lease_owner = :owner AND #status = :status AND #version = :version",
        {":owner": owner, ":status": claimed.status.value, ":version": claimed.version},
    )


def trigger_event(
    claimed: BatchState,
    *,
    actor: str,
    now: datetime,
    event: EventType,
    detail: dict[str, Any],
) -> Record:
    """RETRY_TRIGGERED / REPLAY_TRIGGERED in the slot the claim reserved, with the attempt
    the re-run will be."""
    return event_item(
        event=event,
        version=claimed.pending_trigger or claimed.version,
        attempt=claimed.attempt + 1,
        status=Status.RETRYING,
        at=now,
        actor=actor,
        trace_id=claimed.trace_id,
        detail=detail,
    )


def recorded(
    claimed: BatchState,
    cfg: TableConfig,
    *,
    owner: str,
    actor: str,
    now: datetime,
    event: EventType,
    detail: dict[str, Any],
    write_id: str,
) -> Write:
    """After the trigger went out: the event, and the lease handed back; from now on the
    re-run must show up (STARTED) before its stale deadline. Every try of one record has
    the same `write_id`, so a try whose reply was lost is recognised as landed."""
    condition, values = _owned(claimed, owner)
    write = Write(
        key=claimed.key,
        condition=condition,
        values=values,
        restates=claimed.lease_owner == owner,
        write_id=write_id,
        set={
            "due_at": cfg.start_by(now),
            "updated_at": iso(now),
            "expires_at": cfg.expires_at(now),
        },
        remove=("lease_owner", "lease_expires_at", "pending_trigger"),
        events=(trigger_event(claimed, actor=actor, now=now, event=event, detail=detail),),
    )
    return with_history(claimed, write, cfg, now)


def recorded_late(claimed: BatchState, events: tuple[Record, ...], write_id: str) -> Write:
    """The re-run was quicker than the record and has started (its STARTED handed the lease
    back): the event still goes into the history, in the slot the claim reserved, once."""
    return Write(
        key=claimed.key,
        condition="#pending_trigger = :slot AND attribute_not_exists(#lease_owner)",
        values={":slot": claimed.pending_trigger or claimed.version},
        remove=("pending_trigger",),
        events=events,
        write_id=write_id,
    )


def release(claimed: BatchState, *, owner: str, retry_at: datetime, refused: bool = False) -> Write:
    """The trigger did not go out: keep the claim's RETRYING state but let its lease end at
    `retry_at`, when any replica (this one included) may trigger the same attempt again.
    A refusal for good (`refused`) is counted: enough of them exhaust it."""
    condition, values = _owned(claimed, owner)
    fields: dict[str, Scalar] = {"due_at": iso(retry_at)}
    if refused:
        fields["refusals"] = claimed.refusals + 1  # the refusal itself is in the log
    return Write(key=claimed.key, condition=condition, values=values, set=fields)


def exhaust(
    state: BatchState,
    cfg: TableConfig,
    *,
    actor: str,
    now: datetime,
    reason: str,
    owner: str | None = None,
    why: str = "",
    beside: Mapping[str, str] | None = None,
) -> Write:
    """EXHAUSTED: listed under EXHAUSTED#, never swept, until a person replays it.

    With `owner`, from a claim this replica holds (a batch found to have no trigger, or
    whose target refused it); `why` is the one line people read; `beside` goes into the
    event's detail (the replica beside the actor's identity)."""
    fields, events = settle(
        state.key,
        cfg,
        ExhaustVerdict(reason),
        version=state.version,
        attempt=state.attempt,
        now=now,
        actor=actor,
        trace_id=state.trace_id,
        error_type=state.error_type,
        governed=Governed(state.rule or "default", state.cap or 0, state.episode_attempt, why=why)
        if why
        else None,
    )
    values: dict[str, Scalar] = {":status": state.status.value, ":version": state.version}
    if owner:
        lease = "#lease_owner = :owner"
        values[":owner"] = owner
    else:
        lease = _NO_LIVE_LEASE
        values[":now"] = iso(now)
    write = Write(
        key=state.key,
        condition=f"#status = :status AND #version = :version AND {lease}",
        values=values,
        restates=bool(owner) and state.lease_owner == owner,
        set={**fields, "updated_at": iso(now), "expires_at": cfg.expires_at(now)},
        remove=("lease_owner", "lease_expires_at", "pending_trigger"),
        events=noted(events, beside),
    )
    return with_history(state, write, cfg, now)


def noted(events: tuple[Record, ...], beside: Mapping[str, str] | None) -> tuple[Record, ...]:
    """`events` with `beside` added to each one's detail (what it has already wins)."""
    if not beside:
        return events
    out = []
    for event in events:
        detail = json.loads(event["detail"]) if isinstance(event.get("detail"), str) else {}
        merged = {**beside, **detail}
        out.append({**event, "detail": json.dumps(merged, separators=(",", ":"), default=str)})
    return tuple(out)


def mark_stale(
    state: BatchState,
    cfg: TableConfig,
    *,
    actor: str,
    now: datetime,
    verdict: Verdict,
    governed: Governed | None = None,
    beside: Mapping[str, str] | None = None,
    too_slow: str | None = None,
) -> Write:
    """A STARTED run without heartbeat, or a RETRYING batch whose re-run never started, or
    (`too_slow`: why) a run past its job's `max_run_seconds` whose policy names `TooSlow`.

    The first failed as its own attempt; the second counts the attempt it never made, so a
    dead worker cannot keep a batch out of the cap. It becomes FAILED (due for its retry)
    or, with no retry left, EXHAUSTED; the STALE event commits with it. The condition on
    `due_at` means a heartbeat that landed since the sweep read the item wins.
    """
    never_started = state.status is Status.RETRYING
    attempt = state.attempt + 1 if never_started else state.attempt
    version = state.version + 1
    since = state.updated_at if never_started else state.heartbeat_at
    message = (
        f"re-run of attempt {attempt} never started (triggered {since})"
        if never_started
        else f"no heartbeat since {since}"
    )
    error_type = "NeverStarted" if never_started else "Stale"
    if too_slow:
        error_type, message = "TooSlow", too_slow
    stale = event_item(
        event=EventType.STALE,
        version=version,
        attempt=attempt,
        status=Status.FAILED,
        at=now,
        actor=actor,
        trace_id=state.trace_id,
        error_type=error_type,
        error_message=message,
        detail={"was": state.status.value, **({"rule": governed.rule} if governed else {})},
    )
    outcome, after = settle(
        state.key,
        cfg,
        verdict,
        version=version,
        attempt=attempt,
        now=now,
        actor=actor,
        trace_id=state.trace_id,
        error_type=error_type,
        governed=governed,
    )
    write = Write(
        key=state.key,
        condition="#status = :status AND #version = :version AND #due_at = :due_at",
        values={
            ":status": state.status.value,
            ":version": state.version,
            ":due_at": state.due_at or "",
        },
        restates=state.due_at is not None,
        set={
            "attempt": attempt,
            "updated_at": iso(now),
            "finished_at": iso(now),
            "error_type": error_type,
            "retryable": True,
            "first_failed_at": state.first_failed_at or iso(now),
            "expires_at": cfg.expires_at(now),
            **outcome,
        },
        remove=("lease_owner", "lease_expires_at", "pending_trigger"),
        events=noted((stale, *after), beside),
    )
    return with_history(state, write, cfg, now)
