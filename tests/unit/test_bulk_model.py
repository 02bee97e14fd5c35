"""A bulk operation's step, pure: what an entry in flight is, how many start, what a chunk
weighs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from observability.models import BatchState, Status, iso
from remediator.bulk.model import (
    CANCELLED,
    CHUNK_SIZE,
    DONE,
    Entry,
    Operation,
    chunked,
    classify,
    step,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ENTRY = Entry("job", "b1", 3, Status.EXHAUSTED)


def state(status: Status, version: int, operation: str | None = None, **kw: object) -> BatchState:
    stored = {"operation": operation} if operation else {}
    return BatchState("job", "b1", status, 2, version, stored=stored, **kw)  # type: ignore[arg-type]


def op(**kw: object) -> Operation:
    base: dict[str, object] = {
        "operation_id": "op1", "state": "ACTIVE", "created_at": iso(NOW),
        "created_by": "arn:me", "total": 10, "chunks": 1, "max_in_flight": 4,
    }  # fmt: skip
    return Operation(**{**base, **kw})  # type: ignore[arg-type]


def test_an_entry_is_what_its_item_says_now():
    assert classify(ENTRY, state(Status.EXHAUSTED, 3), "op1", paused=False) == "start"
    assert classify(ENTRY, state(Status.EXHAUSTED, 3), "op1", paused=True) == "skipped:paused"
    for live in (Status.RETRYING, Status.STARTED, Status.FAILED):
        assert classify(ENTRY, state(live, 5, "op1"), "op1", paused=False) == "running"
    assert classify(ENTRY, state(Status.SUCCESS, 6, "op1"), "op1", paused=False) == "done"
    assert classify(ENTRY, state(Status.EXHAUSTED, 6, "op1"), "op1", paused=False) == "failed"
    # Moved by someone else: never started over it.
    assert classify(ENTRY, state(Status.RESOLVED, 4), "op1", paused=False) == "skipped:resolved"
    assert classify(ENTRY, state(Status.RETRYING, 4, "op0"), "op1", paused=False) == (
        "skipped:retried"
    )
    cancel = {"event": "EXHAUSTED", "detail": json.dumps({"reason": "cancelled"})}
    failed = Entry("job", "b1", 3, Status.FAILED)
    moved = state(Status.EXHAUSTED, 4, events=(cancel,))
    assert classify(failed, moved, "op1", paused=False) == "skipped:cancelled"
    assert classify(ENTRY, None, "op1", paused=False) == "skipped:gone"


def test_a_step_keeps_the_cap_and_counts_what_ended():
    first = step(op(), {}, NOW)
    assert first.start == (0, 1, 2, 3)
    assert first.header.inflight == (0, 1, 2, 3)
    assert first.header.cursor == 4
    classes = {0: "done", 1: "running", 2: "failed", 3: "skipped:paused"}
    second = step(first.header, classes, NOW)
    assert second.header.inflight == (1, 4, 5, 6)  # three slots freed, three started
    assert (second.header.done, second.header.failed) == (1, 1)
    assert second.header.skipped == {"paused": 1}
    assert second.start == (4, 5, 6)
    idle = step(second.header, dict.fromkeys(second.header.inflight, "running"), NOW)
    assert not idle.changed
    assert idle.start == ()


def test_an_entry_reserved_and_never_claimed_is_started_again():
    reserved = op(cursor=4, inflight=(0, 1, 2, 3))
    again = step(reserved, {0: "start", 1: "running", 2: "running", 3: "running"}, NOW)
    assert again.start == (0,)
    assert again.header.inflight == (0, 1, 2, 3)


def test_the_rate_spaces_the_starts():
    paced = op(rate=6.0, max_in_flight=100, next_start_at=iso(NOW))  # one each 10 s
    now = step(paced, {}, NOW)
    assert len(now.start) == 1
    assert now.header.next_start_at == iso(NOW + timedelta(seconds=10))
    assert step(now.header, {0: "running"}, NOW + timedelta(seconds=5)).start == ()
    later = step(now.header, {0: "running"}, NOW + timedelta(seconds=30))
    assert len(later.start) == 3  # 10 s, 20 s and 30 s after the first


def test_it_ends_done_or_cancelled_once_nothing_runs():
    last = op(total=2, cursor=2, inflight=(0, 1))
    ended = step(last, {0: "done", 1: "done"}, NOW).header
    assert (ended.state, ended.finished_at, ended.done) == (DONE, iso(NOW), 2)
    cancelled = op(state=CANCELLED, cursor=4, inflight=(0, 1))
    still = step(cancelled, {0: "running", 1: "start"}, NOW)
    assert still.start == ()  # nothing new, not even a reserved one
    assert still.header.inflight == (0,)
    assert still.header.skipped == {"operation_cancelled": 1}
    over = step(still.header, {0: "done"}, NOW).header
    assert (over.state, over.finished_at) == (CANCELLED, iso(NOW))


def test_a_chunk_stays_far_under_the_item_limit_with_ids_at_their_limit():
    longest = Entry("j" * 200, "b" * 200, 10**9, Status.EXHAUSTED)
    [chunk] = chunked([longest] * CHUNK_SIZE)
    assert sum(len(e.encode()) + 3 for e in chunk) < 250_000  # 400 KB is DynamoDB's limit
    assert Entry.decode(chunk[0]) == longest
    assert len(chunked([ENTRY] * 10_000)) == 20
