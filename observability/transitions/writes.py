"""A planned write: its item, condition and event(s), and the state it leaves. Pure."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from observability.models.keys import BatchKey
from observability.models.records import BatchState, Plain, Record, iso
from observability.retry.backoff import RetryAt, Verdict

__all__ = [
    "Archive",
    "Scalar",
    "TableConfig",
    "Write",
    "applied",
    "as_put",
    "lean_history",
    "lean_state",
    "new_write_id",
    "with_traces",
]

Scalar = str | int | bool
_NAME = re.compile(r"#([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class TableConfig:
    """The parts of the settings that shape items: shards, staleness, retention."""

    shards: int = 8
    stale_after_seconds: float = 3600.0
    ttl_days: int = 90
    # A re-triggered run must show up (STARTED) within this: it waits for a queue, a cold
    # start or a container, which no heartbeat measures, so it keeps the old hour.
    start_within_seconds: float = 3600.0

    def expires_at(self, now: datetime) -> int:
        return int((now + timedelta(days=self.ttl_days)).timestamp())

    def stale_at(self, now: datetime) -> str:
        return iso(now + timedelta(seconds=self.stale_after_seconds))

    def start_by(self, now: datetime) -> str:
        """The deadline of a re-trigger: its run STARTED by then, or NeverStarted."""
        return iso(
            now + timedelta(seconds=max(self.start_within_seconds, self.stale_after_seconds))
        )

    def outlasting(self, now: datetime, verdict: Verdict) -> int:
        """The expiry of an item due for a retry: the retention, or longer when a rule's
        delay reaches past it (an item must not expire before its retry and the stale
        deadline of the re-run it triggers)."""
        expires = self.expires_at(now)
        if isinstance(verdict, RetryAt):
            latest = verdict.at + timedelta(seconds=self.stale_after_seconds, days=1)
            expires = max(expires, int(latest.timestamp()))
        return expires


@dataclass(frozen=True, slots=True)
class Archive:
    """Older events of one batch moved out of its item: put once, never changed."""

    key: BatchKey
    sk: str
    events: tuple[Record, ...]
    expires_at: int

    def item(self) -> dict[str, Plain]:
        return {
            "pk": self.key.pk,
            "sk": self.sk,
            "events": list(self.events),
            "expires_at": self.expires_at,
        }


def lean_history(events: Sequence[Record], was: str | None, trace_id: str | None) -> list[Record]:
    """The history list as a put stores it. An event whose trace id is the item's leaves it
    out (readers take the item's: 40 bytes less an event, on every write of the item); one
    that left out the item's previous trace id (`was`) gets it back, so that a run that
    brings a new trace id never lends it to the events before it."""
    out: list[Record] = []
    for event in events:
        trace = event.get("trace_id", was)
        if trace is not None and trace == trace_id:
            event = {k: v for k, v in event.items() if k != "trace_id"}
        elif "trace_id" not in event and was is not None:
            event = {**event, "trace_id": was}
        out.append(event)
    return out


def with_traces(events: Sequence[Record], trace_id: str | None) -> tuple[Record, ...]:
    """Events with the item's trace id written out where they leave it out: as an archive,
    which holds no trace id of its own, stores them."""
    if trace_id is None:
        return tuple(events)
    return tuple(e if "trace_id" in e else {**e, "trace_id": trace_id} for e in events)


@functools.lru_cache(maxsize=256)
def _condition_names(condition: str) -> frozenset[str]:
    # Conditions are a few templates (values are placeholders): each is parsed once.
    return frozenset(_NAME.findall(condition))


def new_write_id() -> str:
    """64 random bits as 16 hex digits (a uuid4's first 16 hold 60, at four times the cost)."""
    return os.urandom(8).hex()


@dataclass(frozen=True, slots=True)
class Write:
    """One conditional write of a batch's item, and the events it appends to its history.

    `put` replaces the whole item (a batch seen for the first time, or one whose writer holds
    it exactly as stored: `history` is then its whole list); otherwise `set`/`remove` and
    the appended events become an UpdateExpression. `events` are always the ones this write
    adds. With `archive`, the item's events are put in that archive item first and the list
    is replaced by `events`. `condition` names attributes as `#name` and values as `:name`;
    every `#name` is mapped to the attribute of the same name. `write_id` is stamped on the
    item, so that a retry whose first try landed is recognised (see observability.audit).
    """

    key: BatchKey
    condition: str
    values: Mapping[str, Plain] = field(default_factory=dict)
    set: Mapping[str, Plain] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    events: tuple[Record, ...] = ()
    put: bool = False
    archive: Archive | None = None
    # Another item of the batch's job (its policy item) instead of the batch's own.
    sort_key: str | None = None
    history: tuple[Record, ...] | None = None
    write_id: str = field(default_factory=new_write_id)
    # The condition only restates what the planner read in the item it planned from (no
    # clock in it): a put over that very item (same write_id) holds it already.
    restates: bool = False
    # The state it leaves, when the planner has it already (a put made by `as_put`).
    leaves: BatchState | None = field(default=None, compare=False, repr=False)

    @property
    def item_key(self) -> tuple[str, str]:
        return (self.key.pk, self.sort_key or self.key.sk)

    def names(self) -> dict[str, str]:
        used = set(_condition_names(self.condition))
        if not self.put:
            used |= set(self.set) | set(self.remove)
            if self.events:
                used.add("events")
        return {f"#{name}": name for name in sorted(used)}

    def update_expression(self) -> str:
        sets = [f"#{k} = :set_{k}" for k in self.set]
        if self.events:
            if self.archive is not None:
                sets.append("#events = :events")
            else:
                sets.append("#events = list_append(#events, :events)")
        parts = []
        if sets:
            parts.append("SET " + ", ".join(sets))
        if self.remove:
            parts.append("REMOVE " + ", ".join(f"#{k}" for k in self.remove))
        return " ".join(parts)

    def expression_values(self) -> dict[str, Plain]:
        out: dict[str, Plain] = dict(self.values)
        if not self.put:
            out.update({f":set_{k}": v for k, v in self.set.items()})
            if self.events:
                out[":events"] = list(self.events)
        return out

    def item(self) -> dict[str, Plain]:
        """The whole item, for a `put` write (its events lean: see `lean_history`)."""
        pk, sk = self.item_key
        events = self.events if self.history is None else self.history
        trace = self.set.get("trace_id")
        lean = lean_history(events, None, trace if isinstance(trace, str) else None)
        return {"pk": pk, "sk": sk, **lean_state(self.set), "events": lean}


def lean_state(values: Mapping[str, Plain]) -> Mapping[str, Plain]:
    """The state as a put stores it: a run id that is the trace id (a run that brought no
    trace of its own), and an incarnation that is the run id's first 16 digits (a batch's
    first run), are left out; `BatchState.from_plain` reads them back. 65 bytes less on
    every write of most items. The trace id stays: the due-index projects it. Only a put
    may leave them out: a STARTED planned as an UpdateItem sets all three."""
    run_id = values.get("run_id")
    if not isinstance(run_id, str):
        return values
    gone = {"run_id"} if values.get("trace_id") == run_id else set()
    if values.get("incarnation") == run_id[:16]:
        gone.add("incarnation")
    return {k: v for k, v in values.items() if k not in gone} if gone else values


def applied(prev: BatchState | None, write: Write) -> BatchState:
    """The state a committed write leaves behind, without reading it back. It holds the
    whole item (`stored`) when the write was a put or the writer held the item before."""
    if write.leaves is not None:
        return write.leaves
    if write.put or prev is None:
        return BatchState.from_plain({**write.item(), "write_id": write.write_id})
    stored = prev.stored
    merged = {**(stored if stored is not None else prev.to_scalars()), **write.set}
    merged["write_id"] = write.write_id
    for name in write.remove:
        merged.pop(name, None)
    if write.archive is not None:
        merged["events"] = list(write.events)
    elif prev.events is None:
        merged.pop("events", None)  # appended to a list this process has not seen
    elif write.events:
        merged["events"] = [*prev.events, *write.events]
    after = BatchState.from_plain(merged)
    return after if stored is not None else dataclasses.replace(after, stored=None)


def as_put(prev: BatchState | None, write: Write) -> Write:
    """`write` as a conditional PutItem of the whole item it leaves, when the writer holds
    the item exactly as stored; else `write` unchanged.

    On condition that the item's `write_id` is unchanged: every write of a batch's item
    stamps a new one, so the put lands only on the very item it was computed from, and
    attributes that this version does not know are kept. A write that `restates` its item
    needs no other condition; any other keeps its own as well. A put and an UpdateItem cost
    the same write units; a put asks the table to evaluate no update expression (on moto,
    the slowest part of a write by far).
    """
    stored = prev.stored if prev is not None else None
    if (
        write.put
        or write.sort_key is not None
        or stored is None
        or not stored.get("write_id")
        or "pk" not in stored
    ):
        return write
    after = applied(prev, write)
    history = lean_history(after.events or (), prev.trace_id if prev else None, after.trace_id)
    after = dataclasses.replace(
        after, events=tuple(history), stored={**(after.stored or {}), "events": history}
    )
    item = {
        k: v for k, v in (after.stored or {}).items() if k not in ("pk", "sk", "events", "write_id")
    }
    seen = "#write_id = :seen"
    return Write(
        key=write.key,
        condition=seen if write.restates else f"({write.condition}) AND {seen}",
        values={":seen": stored["write_id"], **({} if write.restates else write.values)},
        set=item,
        events=write.events,
        history=tuple(history),
        put=True,
        archive=write.archive,
        write_id=write.write_id,
        leaves=after,
    )
