"""A bulk replay as stored data, and the service's step on it. Pure: no I/O here.

An operation is a header item (filter, who asked and when, caps, a cursor into its batch
list, the entries it has started and not seen end, the counts) and its batch list, cut into
chunk items of `CHUNK_SIZE` entries written once. A replica's step reads the header, the
items of the entries in flight, and decides: which ended (done, failed), which were skipped
(paused, cancelled or changed since selection, taken by the automatic retry), how many new
ones may start (the in-flight cap, the rate), and what the header becomes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from observability.models import BatchState, Status, from_iso, iso
from observability.models.keys import DELIMITER, validate_id

__all__ = [
    "ACTIVE",
    "CANCELLED",
    "CHUNK_SIZE",
    "DONE",
    "Entry",
    "Operation",
    "Step",
    "allowance",
    "chunked",
    "classify",
    "step",
]

ACTIVE, DONE, CANCELLED = "ACTIVE", "DONE", "CANCELLED"
# Entries per chunk item: an entry is `job#batch#version#status`, at most about 430 bytes
# with ids at their 200-byte limit, so a chunk stays under 220 KB of DynamoDB's 400 KB item
# limit however long the ids; with ids of a few dozen bytes a chunk is 15-25 KB.
CHUNK_SIZE = 500
_LIVE = frozenset({Status.STARTED, Status.RETRYING, Status.FAILED})


@dataclass(frozen=True, slots=True)
class Entry:
    """One selected batch, as it was when selected: the operation starts it only while its
    item is still at that version."""

    job_id: str
    batch_id: str
    version: int
    status: Status

    def encode(self) -> str:
        return DELIMITER.join((self.job_id, self.batch_id, str(self.version), self.status.value))

    @classmethod
    def decode(cls, text: str) -> Entry:
        job, batch, version, status = text.split(DELIMITER)
        return cls(job, batch, int(version), Status(status))

    @classmethod
    def of(cls, state: BatchState) -> Entry:
        return cls(
            validate_id("job_id", state.job_id),
            validate_id("batch_id", state.batch_id),
            state.version,
            state.status,
        )


def chunked(entries: Sequence[Entry], size: int = CHUNK_SIZE) -> list[list[str]]:
    """The batch list as chunk items hold it."""
    return [[e.encode() for e in entries[i : i + size]] for i in range(0, len(entries), size)]


@dataclass(frozen=True, slots=True)
class Operation:
    """The header item of one operation."""

    operation_id: str
    state: str
    created_at: str
    created_by: str
    total: int
    chunks: int
    max_in_flight: int
    filter: dict[str, Any] = field(default_factory=dict)
    operator: str | None = None
    reason: str | None = None
    rate: float | None = None  # starts per minute
    include_success: bool = False
    max_attempts: int | None = None
    cursor: int = 0
    inflight: tuple[int, ...] = ()
    done: int = 0
    failed: int = 0
    skipped: Mapping[str, int] = field(default_factory=dict)
    next_start_at: str | None = None
    finished_at: str | None = None
    cancelled_by: str | None = None
    cancelled_at: str | None = None
    version: int = 1

    def progress(self) -> dict[str, int]:
        return {
            "total": self.total,
            "done": self.done,
            "running": len(self.inflight),
            "failed": self.failed,
            "skipped": sum(self.skipped.values()),
            "left": self.total - self.cursor,
        }

    @property
    def ended(self) -> bool:
        return self.finished_at is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation_id": self.operation_id,
            "state": self.state,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "operator": self.operator,
            "reason": self.reason,
            "filter": dict(self.filter),
            "max_in_flight": self.max_in_flight,
            "rate_per_minute": self.rate,
            "progress": self.progress(),
            "skipped": dict(self.skipped),
            "finished_at": self.finished_at,
            "cancelled_by": self.cancelled_by,
            "cancelled_at": self.cancelled_at,
        }


def classify(entry: Entry, now: BatchState | None, operation_id: str, *, paused: bool) -> str:
    """What an entry in flight (or about to start) is now: `start` (untouched since its
    selection), `running`, `done`, `failed`, or `skipped:<why>`."""
    if now is None:
        return "skipped:gone"
    ours = (now.stored or {}).get("operation") == operation_id and now.version > entry.version
    if ours:
        if now.status in _LIVE:  # a failure of its re-run is retried by the service
            return "running"
        return "done" if now.status is Status.SUCCESS else "failed"
    if now.version == entry.version and now.status is entry.status:
        return "skipped:paused" if paused else "start"
    if now.status is Status.RESOLVED:
        return "skipped:resolved"
    if now.status is Status.EXHAUSTED and _cancelled(now):
        return "skipped:cancelled"
    return "skipped:retried"  # the automatic retry (or a run of its own) moved it first


def _cancelled(state: BatchState) -> bool:
    """Whether its last EXHAUSTED event is a person's cancel."""
    for event in reversed(state.events or ()):
        if event.get("event") == Status.EXHAUSTED.value:
            detail = event.get("detail")
            return isinstance(detail, str) and json.loads(detail).get("reason") == "cancelled"
    return False


def allowance(op: Operation, now: datetime) -> tuple[int, float]:
    """How many may start now by the rate (math.inf without one), and the interval."""
    if not op.rate:
        return (math.inf, 0.0)  # type: ignore[return-value]
    interval = 60.0 / op.rate
    if op.next_start_at is None:
        return (max(1, math.floor(op.rate / 60.0 * 10)), interval)
    due = from_iso(op.next_start_at)
    if now < due:
        return (0, interval)
    # At most a minute's worth of credit builds up while nothing could start.
    credit = min((now - due).total_seconds(), 60.0)
    return (1 + math.floor(credit / interval), interval)


@dataclass(frozen=True, slots=True)
class Step:
    """A replica's step: the header it writes, and the entries (indexes) it must start."""

    header: Operation
    start: tuple[int, ...]
    changed: bool


def step(op: Operation, classes: Mapping[int, str], now: datetime, *, reserve: bool = True) -> Step:
    """From the classes of the entries in flight, the next header: ended entries counted
    and dropped, new entries reserved (unless not `reserve`) up to the cap and the rate."""
    remaining = op.total - op.cursor
    done = op.done + sum(1 for c in classes.values() if c == "done")
    failed = op.failed + sum(1 for c in classes.values() if c == "failed")
    skipped = dict(op.skipped)
    for c in classes.values():
        if c.startswith("skipped:"):
            why = c.split(":", 1)[1]
            skipped[why] = skipped.get(why, 0) + 1
    cancelled = op.state == CANCELLED
    if cancelled:  # what is running finishes; nothing new starts
        for index, c in classes.items():
            if c == "start":
                skipped["operation_cancelled"] = skipped.get("operation_cancelled", 0) + 1
                classes = {**classes, index: "skipped:operation_cancelled"}
    kept = tuple(i for i in op.inflight if classes.get(i) in ("running", "start"))
    restart = tuple(i for i in kept if classes.get(i) == "start")
    new: tuple[int, ...] = ()
    next_start_at = op.next_start_at
    if reserve and not cancelled:
        free = op.max_in_flight - len(kept)
        by_rate, interval = allowance(op, now)
        count = int(max(0, min(free, by_rate, remaining)))
        new = tuple(range(op.cursor, op.cursor + count))
        if count and op.rate:
            base = now
            if next_start_at:
                base = max(from_iso(next_start_at), now - timedelta(seconds=60))
            next_start_at = iso(base + timedelta(seconds=interval * count))
    inflight = kept + new
    ended = not inflight and (cancelled or remaining - len(new) <= 0)
    header = replace(
        op,
        cursor=op.cursor + len(new),
        inflight=inflight,
        done=done,
        failed=failed,
        skipped=skipped,
        next_start_at=next_start_at,
        state=op.state if cancelled or not ended else DONE,
        finished_at=iso(now) if ended and not op.finished_at else op.finished_at,
    )
    changed = header != op
    return Step(header=header, start=restart + new, changed=changed)
