"""`failed`: FAILED and EXHAUSTED batches, of one job or of every job from the retry index
(no table scan)."""

from __future__ import annotations

from datetime import datetime, timedelta

from observability.audit import AuditStore
from observability.models import TERMINAL_FAILURES, BatchState
from observability.models.keys import exhausted_partitions, failed_partitions, validate_id

__all__ = ["failed"]


def failed(
    store: AuditStore,
    now: datetime,
    *,
    shards: int,
    job_id: str | None = None,
    rule: str | None = None,
) -> list[BatchState]:
    """The failed batches, by job and batch; `shards` when the table does not declare its
    own; `rule` keeps the failures that rule governs."""
    if job_id:
        job = validate_id("job_id", job_id)
        states = [s for s in store.states(job, now) if s.status in TERMINAL_FAILURES]
    else:
        states = _from_the_index(store, now, shards)
    if rule:
        states = [s for s in states if s.rule == rule]
    return states


def _from_the_index(store: AuditStore, now: datetime, shards: int) -> list[BatchState]:
    shape = store.shape()
    shards = shape.shards if shape else shards
    partitions = failed_partitions(shards) + exhausted_partitions(shards)
    far = now + timedelta(days=3650)
    hints = [
        s
        for p in partitions
        for s in store.due(p, until=far, now=now)
        if s.status in TERMINAL_FAILURES
    ]
    # The index holds what the sweep needs; the items hold the errors people read.
    jobs: dict[str, list[str]] = {}
    for hint in hints:
        jobs.setdefault(hint.job_id, []).append(hint.batch_id)
    states = [
        s
        for job_id, batch_ids in jobs.items()
        for s in store.get_many(job_id, batch_ids, now).values()
        if s.status in TERMINAL_FAILURES
    ]
    states.sort(key=lambda s: (s.job_id, s.batch_id))
    return states
