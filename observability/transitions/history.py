"""The bounded history list: events as items, and the archive a full list moves to. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from observability.models.keys import archive_sk
from observability.models.records import BatchState, EventType, Record, Status, iso
from observability.transitions.sizing import plain_size
from observability.transitions.writes import Archive, TableConfig, Write, as_put, with_traces

__all__ = ["HISTORY_BYTES", "ITEM_BYTES", "archive_if_full", "event_item", "with_history"]

# The history kept in a batch's item, in bytes by DynamoDB's sizing rules: bytes, not a
# count of events, because bytes are what a write pays for. This bounds the list whatever
# the rest of the item holds: what grows past it moves to an archive item in one put of
# about 1 KB, so a write costs the same whether the batch has run twice or a thousand times.
HISTORY_BYTES = 1024
# One write unit. A write of a batch that has run before also archives when the item it
# leaves would pass this and would not without its older events: the history budget is
# then "1 KB less the state", the size that keeps each later write at one unit (measured
# per write: bench.retry_costs, docs/BENCHMARKS.md). A first run never archives: its
# STARTED and its outcome are the floor's two calls.
ITEM_BYTES = 1024
# The attribute `events` itself: its name and a list's overhead.
_LIST_BYTES = len("events") + 3


def _history_size(events: Sequence[Record]) -> int:
    return sum(1 + plain_size(e) for e in events)


def _state_size(prev: BatchState, write: Write) -> int:
    """Bytes of the item `write` leaves, its history list aside."""
    held = prev.stored if prev.stored is not None else prev.to_scalars()
    after = {**held, **write.set, "write_id": write.write_id}
    for name in (*write.remove, "events"):
        after.pop(name, None)
    return sum(len(name.encode("utf-8")) + plain_size(value) for name, value in after.items())


def _over_a_unit(state: int, kept: Sequence[Record], new: Sequence[Record]) -> bool:
    """The item would pass one write unit with its older events, and not without them."""
    fresh = state + _LIST_BYTES + _history_size(new)
    return fresh <= ITEM_BYTES < fresh + _history_size(kept)


def _surely_fits(events: Sequence[Record]) -> bool:
    """Cheap: compact JSON is at least as long as DynamoDB's size of a flat map of strings,
    numbers and Booleans, less 2 bytes, so a list whose JSON (plus 3 bytes an event) is
    within the limit is within it by DynamoDB's rules too."""
    text = json.dumps(list(events), separators=(",", ":"), default=str)
    return len(text) + 3 * len(events) <= HISTORY_BYTES


def archive_if_full(
    prev: BatchState | None,
    events: Sequence[Record],
    cfg: TableConfig,
    now: datetime,
    planned: Write | None = None,
) -> Archive | None:
    """The archive to put before appending `events`, when the item's history is full: past
    `HISTORY_BYTES`, or (given the `planned` write, when the batch has run before) holding
    the item that write leaves over `ITEM_BYTES` on its own.

    Only a writer that knows the item's events (it read or wrote the item) can move them;
    one that acts on a hint (the due-index) appends, and the next writer trims.
    """
    if prev is None or not prev.events or not events or not prev.incarnation:
        return None
    both = (*prev.events, *events)
    full = not _surely_fits(both) and _history_size(both) > HISTORY_BYTES
    if not full and (
        planned is None
        or prev.version <= 1
        or not _over_a_unit(_state_size(prev, planned), prev.events, events)
    ):
        return None
    last = max(int(e.get("version", 0)) for e in prev.events)
    return Archive(
        key=prev.key,
        sk=archive_sk(prev.batch_id, prev.incarnation, last, len(prev.events)),
        events=with_traces(prev.events, prev.trace_id),
        expires_at=cfg.expires_at(now),
    )


def with_history(prev: BatchState | None, write: Write, cfg: TableConfig, now: datetime) -> Write:
    """`write`, archiving the item's events first when its history is full, and as a put
    of the whole item when the writer holds it (`as_put`).

    The trim is conditional on the list being the one archived: an event appended since
    without a new version (a trigger recorded after its re-run started) is never dropped;
    the writer is refused and plans again from the item it is handed back.
    """
    archive = archive_if_full(prev, write.events, cfg, now, write)
    if archive is not None:
        write = Write(
            key=write.key,
            condition=f"({write.condition}) AND size(#events) = :history_len",
            values={**write.values, ":history_len": len(archive.events)},
            set=write.set,
            remove=write.remove,
            events=write.events,
            archive=archive,
            write_id=write.write_id,
            restates=write.restates,
        )
    return as_put(prev, write)


def event_item(
    *,
    event: EventType,
    version: int,
    attempt: int,
    status: Status,
    at: datetime,
    actor: str,
    trace_id: str | None,
    error_type: str | None = None,
    error_message: str | None = None,
    duration_ms: int | None = None,
    detail: Mapping[str, Any] | None = None,
    exit_code: int | None = None,
    stop_reason: str | None = None,
) -> Record:
    """One event as it is stored in the history list (the batch's keys are the item's)."""
    item: Record = {"event": event.value, "version": version, "attempt": attempt}
    if status.value != event.value:
        item["status"] = status.value  # STARTED, SUCCESS, FAILED...: the event names it
    item["at"] = iso(at)
    item["actor"] = actor
    if trace_id:
        item["trace_id"] = trace_id
    if error_type:
        item["error_type"] = error_type
    if error_message is not None:
        item["error_message"] = error_message
    if duration_ms is not None:
        item["duration_ms"] = duration_ms
    if exit_code is not None:
        item["exit_code"] = exit_code
    if stop_reason:
        item["stop_reason"] = stop_reason
    if detail:
        item["detail"] = json.dumps(dict(detail), separators=(",", ":"), default=str)
    return item
