"""`replay --create`: a batch that was never recorded, run through its job's default trigger.

A backfill writes the batch's first item already claimed (RETRYING, attempt 0, under this
process's lease, `backfill` set): one conditional PutItem that only lands where no live item
is, so a batch recorded meanwhile (or backfilled by another person at the same time) is a
conflict, never run twice. The trigger then goes out and its REPLAY_TRIGGERED event (detail
`backfill`) is recorded in the slot the put reserved, exactly as a replay's; the run it
triggers writes STARTED as attempt 1.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from observability.audit import AuditStore, ConditionFailed
from observability.models import EventType, Status, iso
from observability.models.keys import BatchKey, live_partition
from observability.transitions import TableConfig, Write
from remediator.errors import RemediatorError
from remediator.ops.identity import Actor
from remediator.remediation import Outcome, Remediator
from remediator.remediation.gate import held_back
from remediator.remediation.policy import Trigger

__all__ = ["NoDefaultTrigger", "backfill", "created", "default_trigger"]


class NoDefaultTrigger(RemediatorError):
    """A backfill was asked of a job that has no default trigger: nothing is written."""


def default_trigger(store: AuditStore, job_id: str) -> dict[str, object]:
    """The job's default trigger (its stored policy), or NoDefaultTrigger in one line."""
    policy = store.job_policy(job_id)
    if policy is None or not policy.trigger:
        raise NoDefaultTrigger(
            f"job {job_id!r} has no default trigger, so a batch never recorded cannot be run: "
            f"set one with `remediator policy set {job_id} --trigger JSON`"
        )
    return dict(policy.trigger)


def created(
    key: BatchKey, cfg: TableConfig, *, owner: str, now: datetime, lease_seconds: float
) -> Write:
    """The batch's first item, claimed by `owner`: no live item may exist (an expired one
    may), and the REPLAY_TRIGGERED event has version 1 reserved."""
    expires = iso(now + timedelta(seconds=lease_seconds))
    return Write(
        key=key,
        condition="attribute_not_exists(#pk) OR #expires_at <= :now_epoch",
        values={":now_epoch": int(now.timestamp())},
        set={
            "status": Status.RETRYING.value,
            "attempt": 0,
            "version": 1,
            "pending_trigger": 1,
            "attempt_floor": 0,
            "backfill": True,
            "lease_owner": owner,
            "due_pk": live_partition(key, cfg.shards),
            "due_at": expires,
            "trace_id": uuid.uuid4().hex,
            "incarnation": uuid.uuid4().hex[:16],
            "updated_at": iso(now),
            "expires_at": cfg.expires_at(now),
        },
        put=True,
    )


def backfill(
    remediator: Remediator,
    job_id: str,
    batch_id: str,
    *,
    actor: Actor,
    reason: str | None,
    guarded: bool = False,
) -> Outcome:
    """Create the batch claimed, fire its job's default trigger, record it.

    `guarded` (a deadline's backfill, which no person asked for): a pause of the job or of
    its target, their circuits and the fleet's budget hold it as they hold a retry; the
    created batch then waits, claimed until they let it go, and the sweep triggers it as a
    retry (remediator.remediation.hold, remediator.remediation.gate)."""
    now = remediator.now()
    key = BatchKey.of(job_id, batch_id)
    write = created(
        key,
        remediator.table,
        owner=remediator.context.name,
        now=now,
        lease_seconds=remediator.settings.lease_seconds,
    )
    try:
        claimed = remediator.store.update(write)
    except ConditionFailed:
        detail = {"reason": "recorded meanwhile: replay it by name"}
        return remediator.count(Outcome("conflict", key.token, 1, detail))
    trigger = remediator.context.trigger_of(claimed) if guarded else None
    if trigger:
        r = remediator
        paused = r.hold.check(claimed, Trigger(1), now, trigger)
        if paused is not None:
            # Due at once, claimed by no live lease: the sweep holds it as a paused retry
            # and triggers it when the pause ends.
            r.claimer.release(claimed, now)
            return r.count(paused)
        waits = held_back(
            claimed, trigger, now, attempt=1, breaker=r.breaker, claimer=r.claimer,
            job_circuit=True,
        )  # fmt: skip
        if waits is not None:
            return r.count(waits)
    detail = {**actor.detail(), "backfill": "true"}
    if reason:
        detail["reason"] = reason
    return remediator.count(
        remediator.firer.fire_and_record(
            claimed, now, event=EventType.REPLAY_TRIGGERED, actor=actor.arn, detail=detail,
            reason="replay",
        )
    )  # fmt: skip
