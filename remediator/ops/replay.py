"""`replay`: re-trigger FAILED or EXHAUSTED batches now, on a person's word.

Which batches (named, or every failed one of a job, filtered), the plan shown before, the
pace of the re-triggers, and the re-trigger of one batch: a fresh episode recorded with the
caller's AWS identity (and the declared operator beside it). A batch a person resolved is
replayed by name too: the replay reopens it. With `include_success` a SUCCESS batch is
reprocessed: a new failure episode (`attempt_floor` = its attempt, so its cap counts afresh),
and `pending()` returns it until it succeeds again. `between` names the recorded ids of a
job between two ids (one Query of the job's partition, a sort-key range).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from observability.audit import AuditStore
from observability.errors import InvalidInput
from observability.models import TERMINAL_FAILURES, BatchState, EventType, Status, iso
from observability.models.keys import BatchKey, validate_id
from remediator.errors import RemediatorError
from remediator.ops.identity import Actor
from remediator.remediation import Outcome, Remediator
from remediator.remediation.traces import remediation

__all__ = [
    "REPLAYABLE",
    "REPROCESSABLE",
    "NotReplayable",
    "parse_range",
    "plan",
    "replay",
    "replay_all",
    "select",
    "unrecorded",
]

# What a replay may reopen: a failure, or (named) a batch a person resolved.
REPLAYABLE = TERMINAL_FAILURES | {Status.RESOLVED}
# With `--include-success`: a batch that succeeded is run again (Finance corrected March).
REPROCESSABLE = REPLAYABLE | {Status.SUCCESS}


class NotReplayable(RemediatorError):
    """A named batch has no record, or is not FAILED, EXHAUSTED or RESOLVED: nothing is
    triggered."""


def parse_range(text: str) -> tuple[str, str]:
    """`FIRST..LAST` as two valid batch ids, FIRST not after LAST (InvalidInput otherwise)."""
    first, sep, last = text.partition("..")
    if not sep:
        raise InvalidInput("--range", f"expected FIRST..LAST, got {text!r}")
    first, last = validate_id("batch_id", first), validate_id("batch_id", last)
    if first > last:
        raise InvalidInput("--range", f"{first!r} sorts after {last!r}: name FIRST..LAST")
    return first, last


def unrecorded(
    store: AuditStore, job_id: str, batch_ids: Sequence[str], now: datetime
) -> list[str]:
    """Of the named ids, those the job has no record of (in the order named, once each)."""
    job = validate_id("job_id", job_id)
    ids = list(dict.fromkeys(BatchKey.of(job, b).batch_id for b in batch_ids))
    found = store.get_many(job, ids, now)
    return [b for b in ids if b not in found]


def select(
    store: AuditStore,
    job_id: str,
    now: datetime,
    *,
    batch_ids: Sequence[str] = (),
    since: datetime | None = None,
    error_type: str | None = None,
    include_success: bool = False,
    between: tuple[str, str] | None = None,
    skip_unrecorded: bool = False,
) -> list[BatchState]:
    """The named batches (each FAILED, EXHAUSTED or RESOLVED; SUCCESS too with
    `include_success`), the recorded ones `between` two ids, or with neither every failed
    batch of the job updated since `since`, of `error_type`. `skip_unrecorded` leaves out
    named ids without a record (a backfill runs them) instead of refusing."""
    job = validate_id("job_id", job_id)
    allowed = REPROCESSABLE if include_success else REPLAYABLE
    if between is not None:
        batch_ids = [s.batch_id for s in store.states(job, now, between=between)]
        if not batch_ids:
            return []
    if not batch_ids:
        chosen = [s for s in store.states(job, now) if s.status in TERMINAL_FAILURES]
        if since:
            after = iso(since)
            chosen = [s for s in chosen if (s.updated_at or "") >= after]
        if error_type:
            chosen = [s for s in chosen if s.error_type == error_type]
        return chosen
    # Named twice is meant once (BatchGetItem refuses duplicate keys): first mention wins.
    keys = list(dict.fromkeys(BatchKey.of(job, b) for b in batch_ids))
    found = store.get_many(job, [k.batch_id for k in keys], now)
    missing = [k.batch_id for k in keys if k.batch_id not in found]
    if missing and not skip_unrecorded:
        raise NotReplayable(
            f"no record of batch(es) {', '.join(missing)} in job {job!r} "
            "(--create runs them through the job's default trigger): nothing was replayed"
        )
    chosen = [found[k.batch_id] for k in keys if k.batch_id in found]
    refused = [s for s in chosen if s.status not in allowed]
    if refused:
        listing = ", ".join(f"{s.batch_id} ({s.status.value})" for s in refused)
        hint = "" if include_success else " (--include-success reprocesses SUCCESS batches)"
        raise NotReplayable(
            f"only FAILED, EXHAUSTED or RESOLVED batches are replayed{hint}; not {listing}: "
            f"nothing was replayed (of {len(chosen)} named)"
        )
    return chosen


def plan(chosen: Sequence[BatchState]) -> list[dict[str, Any]]:
    """What a replay would do, batch by batch (the JSON of `--dry-run`)."""
    return [
        {
            "job_id": s.job_id,
            "batch_id": s.batch_id,
            "status": s.status.value,
            "attempt": s.attempt,
            "next_attempt": s.attempt + 1,
        }
        for s in chosen
    ]


def replay_all(
    remediator: Remediator,
    chosen: Sequence[BatchState],
    *,
    actor: Actor,
    reason: str | None,
    max_attempts: int | None = None,
    include_success: bool = False,
    rate: float = 5.0,
    done: Callable[[BatchState, Outcome], None] = lambda _s, _o: None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, str]]:
    """Replay each batch, at most `rate` a second; `done` hears each outcome as it comes."""
    results = []
    for index, state in enumerate(chosen):
        if index:
            sleep(1.0 / rate)  # a replay of hundreds must not stampede the downstream
        outcome = replay(
            remediator, state, actor=actor, reason=reason, max_attempts=max_attempts,
            include_success=include_success,
        )  # fmt: skip
        done(state, outcome)
        results.append({"batch_id": state.batch_id, "outcome": outcome.kind, **outcome.detail})
    return results


@remediation("replay")
def replay(
    remediator: Remediator,
    state: BatchState,
    *,
    actor: Actor,
    reason: str | None,
    max_attempts: int | None = None,
    include_success: bool = False,
    operation: str | None = None,
) -> Outcome:
    """Re-trigger now on a person's word: any FAILED, EXHAUSTED or RESOLVED batch (SUCCESS
    too with `include_success`), a fresh episode (its attempts count from here), with
    `max_attempts` instead of the rule's cap. `operation` names the bulk operation it is part
    of (stamped on the item by the claim, and in the event)."""
    now = remediator.now()
    key = state.key.token
    if state.status not in (REPROCESSABLE if include_success else REPLAYABLE):
        return remediator.count(Outcome("skipped", key, detail={"reason": state.status.value}))
    if not remediator.context.trigger_of(state):
        return remediator.count(Outcome("no_trigger", key, state.attempt + 1))
    claimed = remediator.claimer.claim(
        state, now, require_due=False, attempt_floor=state.attempt, cap_override=max_attempts,
        operation=operation,
    )  # fmt: skip
    if claimed is None:
        return remediator.count(Outcome("conflict", key, state.attempt + 1))
    # A new episode: what it was, and the attempt its cap counts from.
    detail = {**actor.detail(), "was": state.status.value, "episode_from": str(state.attempt)}
    if operation:
        detail["operation"] = operation
    if reason:
        detail["reason"] = reason
    if max_attempts:
        detail["max_attempts"] = str(max_attempts)
    return remediator.count(
        remediator.firer.fire_and_record(
            claimed,
            now,
            event=EventType.REPLAY_TRIGGERED,
            actor=actor.arn,
            detail=detail,
            reason="replay",
        )
    )
