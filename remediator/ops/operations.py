"""Bulk replays as a library: select across jobs by filter, store the operation, list, show,
cancel. The service carries the operations out (`remediator.bulk.runner`).

Selection reads at bounded cost, never the whole table: FAILED and EXHAUSTED batches come
from their due-index partitions (`FAILED#<n>`, `EXHAUSTED#<n>`: only failures carry those
keys), filtered by job, time, error type; their items are read (BatchGetItem) only when the
filter needs what the index does not project (the rule, the message). SUCCESS and RESOLVED
batches are in no index: they are read per named job (one Query of its partition).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from observability.audit import AuditStore
from observability.models import TERMINAL_FAILURES, BatchState, Status, iso
from observability.models.keys import exhausted_partitions, failed_partitions, validate_id
from remediator.bulk.items import NoSuchOperation, OperationItems
from remediator.bulk.model import ACTIVE, DONE, Entry, Operation, chunked
from remediator.errors import RemediatorError
from remediator.ops.identity import Actor

__all__ = [
    "BULK_STATUSES",
    "Filter",
    "NoSuchOperation",
    "NotSelectable",
    "cancel",
    "create",
    "select",
    "show",
]

BULK_STATUSES = frozenset({Status.FAILED, Status.EXHAUSTED, Status.SUCCESS, Status.RESOLVED})
_INDEXED = {Status.FAILED: failed_partitions, Status.EXHAUSTED: exhausted_partitions}


class NotSelectable(RemediatorError):
    """The filter cannot be read at bounded cost, or is malformed: nothing stored."""


@dataclass(frozen=True, slots=True)
class Filter:
    """Which batches an operation replays. `jobs` None means every job."""

    jobs: tuple[str, ...] | None
    statuses: frozenset[Status] = TERMINAL_FAILURES
    error_type: str | None = None
    error_match: str | None = None
    rule: str | None = None
    since: datetime | None = None

    def __post_init__(self) -> None:
        if self.error_match is not None:
            try:
                re.compile(self.error_match)
            except re.error as exc:
                raise NotSelectable(f"--error-match {self.error_match!r}: {exc}") from None

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobs": list(self.jobs) if self.jobs is not None else "all",
            "statuses": sorted(s.value for s in self.statuses),
            "error_type": self.error_type,
            "error_match": self.error_match,
            "rule": self.rule,
            "since": iso(self.since) if self.since else None,
        }

    def keeps(self, state: BatchState) -> bool:
        if state.status not in self.statuses:
            return False
        if self.jobs is not None and state.job_id not in self.jobs:
            return False
        if self.since and (state.updated_at or "") < iso(self.since):
            return False
        if self.error_type and state.error_type != self.error_type:
            return False
        if self.rule and state.rule != self.rule:
            return False
        return not self.error_match or bool(re.search(self.error_match, state.error_message or ""))


def select(store: AuditStore, now: datetime, flt: Filter, *, shards: int) -> list[BatchState]:
    """The batches the filter names, by job and batch id."""
    unindexed = flt.statuses - set(_INDEXED)
    if unindexed and flt.jobs is None:
        names = ", ".join(sorted(s.value for s in unindexed))
        raise NotSelectable(
            f"{names} batches are in no index: name the jobs to read with --job "
            "(across every job only FAILED and EXHAUSTED are selected)"
        )
    if unindexed:
        assert flt.jobs is not None
        chosen = [s for job in flt.jobs for s in store.states(validate_id("job_id", job), now)]
    else:
        chosen = _from_the_index(store, now, flt, shards)
    chosen = [s for s in chosen if flt.keeps(s)]
    chosen.sort(key=lambda s: (s.job_id, s.batch_id))
    return chosen


def _from_the_index(store: AuditStore, now: datetime, flt: Filter, shards: int) -> list[BatchState]:
    shape = store.shape()
    shards = shape.shards if shape else shards
    far = now + timedelta(days=3650)
    partitions = [p for s in sorted(flt.statuses) for p in _INDEXED[s](shards)]
    # The index projects status, version, error type and times: enough for most filters.
    narrow = Filter(flt.jobs, flt.statuses, flt.error_type, since=flt.since)
    hints = [h for p in partitions for h in store.due(p, until=far, now=now) if narrow.keeps(h)]
    if not (flt.rule or flt.error_match):
        return hints
    # The rule and the message live in the items: read those of the hints only.
    jobs: dict[str, list[str]] = {}
    for hint in hints:
        jobs.setdefault(hint.job_id, []).append(hint.batch_id)
    return [s for job, ids in jobs.items() for s in store.get_many(job, ids, now).values()]


def create(
    items: OperationItems,
    chosen: list[BatchState],
    flt: Filter,
    *,
    actor: Actor,
    now: datetime,
    max_in_flight: int,
    rate: float | None,
    reason: str | None,
    max_attempts: int | None,
    ttl_days: int,
) -> Operation:
    """Store the operation (its batch list in chunks, then its header); the service does
    the rest."""
    entries = [Entry.of(s) for s in chosen]
    chunks = chunked(entries)
    op = Operation(
        operation_id=f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        state=ACTIVE if entries else DONE,
        created_at=iso(now),
        created_by=actor.arn,
        operator=actor.operator,
        reason=reason,
        filter=flt.as_dict(),
        total=len(entries),
        chunks=len(chunks),
        max_in_flight=max_in_flight,
        rate=rate,
        include_success=Status.SUCCESS in flt.statuses,
        max_attempts=max_attempts,
        finished_at=None if entries else iso(now),
    )
    items.create(op, chunks, int((now + timedelta(days=ttl_days)).timestamp()))
    return op


def show(items: OperationItems, operation_id: str, now: datetime) -> Operation:
    return items.get(validate_id("operation_id", operation_id), now)


def cancel(
    items: OperationItems, operation_id: str, *, actor: Actor, now: datetime
) -> tuple[bool, Operation]:
    """Cancel an active operation (what is running finishes; nothing new starts). Returns
    whether this call cancelled it, and the operation as it stands."""
    op = show(items, operation_id, now)
    cancelled = op.state == ACTIVE and items.cancel(op.operation_id, actor=actor.arn, at=iso(now))
    return cancelled, items.get(op.operation_id, now)
