"""What each transition writes, and on which condition. Pure: the store only executes these.

A transition is one single-item conditional write: the state change and its event(s),
appended to the history list in the same item, commit together or not at all. Each event
carries the state's new version, and every write is conditional on the version it read, so
two writers can never both record "version 5" of a batch.

The history list is bounded: when the events already in the item and the new ones would
pass `HISTORY_BYTES`, the writer first puts the item's events into an immutable archive item
(named by what it holds, see `keys.archive_sk`), then replaces the list by the new events in
its conditional write. A writer that dies in between leaves an archive that the next writer,
planning from the same item, puts again under the same name (a no-op) before trimming.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from observability.models.keys import (
    BatchKey,
    archive_sk,
    exhausted_partition,
    failed_partition,
    live_partition,
)
from observability.models.records import (
    BatchState,
    EventType,
    Plain,
    Record,
    Status,
    av,
    from_iso,
    iso,
)
from observability.retry.backoff import Governed, RetryAt, Verdict
from observability.sizing import value_size

__all__ = [
    "HISTORY_BYTES",
    "Archive",
    "Scalar",
    "TableConfig",
    "Write",
    "applied",
    "archive_if_full",
    "as_put",
    "event_item",
    "failure",
    "heartbeat",
    "holder",
    "new_write_id",
    "settle",
    "start_again",
    "start_new",
    "success",
    "truncate",
    "unrecorded_trigger",
    "with_history",
]

Scalar = str | int | bool
MAX_ERROR_CHARS = 1024
# The history kept in a batch's item, in bytes by DynamoDB's sizing rules: bytes, not a
# count of events, because bytes are what a write pays for. 1 KB holds a first run's
# STARTED and SUCCESS (about 300 bytes: the item stays within one write unit) and a whole
# episode of a failure healed by one retry (about 900), so `history` is one read for most
# batches. What grows past it moves to an archive item in one put of about 1 KB: a write
# costs the same whether the batch has run twice or a thousand times.
HISTORY_BYTES = 1024
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
        """The whole item, for a `put` write."""
        pk, sk = self.item_key
        events = self.events if self.history is None else self.history
        return {"pk": pk, "sk": sk, **self.set, "events": list(events)}


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
        history=after.events or (),
        put=True,
        archive=write.archive,
        write_id=write.write_id,
        leaves=after,
    )


def _history_size(events: Sequence[Record]) -> int:
    return sum(1 + value_size(av(e)) for e in events)


def _surely_fits(events: Sequence[Record]) -> bool:
    """Cheap: compact JSON is at least as long as DynamoDB's size of a flat map of strings,
    numbers and Booleans, less 2 bytes, so a list whose JSON (plus 3 bytes an event) is
    within the limit is within it by DynamoDB's rules too."""
    text = json.dumps(list(events), separators=(",", ":"), default=str)
    return len(text) + 3 * len(events) <= HISTORY_BYTES


def archive_if_full(
    prev: BatchState | None, events: Sequence[Record], cfg: TableConfig, now: datetime
) -> Archive | None:
    """The archive to put before appending `events`, when the item's history is full.

    Only a writer that knows the item's events (it read or wrote the item) can move them;
    one that acts on a hint (the due-index) appends, and the next writer trims.
    """
    if prev is None or not prev.events or not events or not prev.incarnation:
        return None
    both = (*prev.events, *events)
    if _surely_fits(both) or _history_size(both) <= HISTORY_BYTES:
        return None
    last = max(int(e.get("version", 0)) for e in prev.events)
    return Archive(
        key=prev.key,
        sk=archive_sk(prev.batch_id, prev.incarnation, last, len(prev.events)),
        events=prev.events,
        expires_at=cfg.expires_at(now),
    )


def with_history(prev: BatchState | None, write: Write, cfg: TableConfig, now: datetime) -> Write:
    """`write`, archiving the item's events first when its history is full, and as a put
    of the whole item when the writer holds it (`as_put`).

    The trim is conditional on the list being the one archived: an event appended since
    without a new version (a trigger recorded after its re-run started) is never dropped;
    the writer is refused and plans again from the item it is handed back.
    """
    archive = archive_if_full(prev, write.events, cfg, now)
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


def truncate(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
) -> Record:
    """One event as it is stored in the history list (the batch's keys are the item's)."""
    item: Record = {
        "event": event.value,
        "version": version,
        "attempt": attempt,
        "status": status.value,
        "at": iso(at),
        "actor": actor,
    }
    if trace_id:
        item["trace_id"] = trace_id
    if error_type:
        item["error_type"] = error_type
    if error_message is not None:
        item["error_message"] = error_message
    if duration_ms is not None:
        item["duration_ms"] = duration_ms
    if detail:
        item["detail"] = json.dumps(dict(detail), separators=(",", ":"), default=str)
    return item


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
    started inside another trace).
    """
    key = prev.key
    attempt, version = prev.attempt + 1, prev.version + 1
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
                "error_message",
                "lease_owner",
                "lease_expires_at",
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


def _own_run_condition(run: BatchState, now: datetime) -> tuple[str, dict[str, Scalar]]:
    return (
        "#run_id = :run_id AND #status = :started AND #version = :version",
        {":run_id": run.run_id or "", ":started": Status.STARTED.value, ":version": run.version},
    )


def _restates_own_run(run: BatchState) -> bool:
    return run.status is Status.STARTED and run.run_id is not None


def _duration_ms(run: BatchState, now: datetime) -> int:
    started = datetime.fromisoformat((run.started_at or iso(now)).replace("Z", "+00:00"))
    return max(0, int((now - started).total_seconds() * 1000))


def success(run: BatchState, cfg: TableConfig, *, now: datetime, actor: str) -> Write:
    """SUCCESS, only from the run that wrote STARTED (same run id and version)."""
    version = run.version + 1
    stamp = iso(now)
    duration = _duration_ms(run, now)
    condition, values = _own_run_condition(run, now)
    detail: dict[str, Any] = {}
    if run.first_failed_at:
        first = datetime.fromisoformat(run.first_failed_at.replace("Z", "+00:00"))
        detail["recovered_after_seconds"] = round((now - first).total_seconds(), 3)
    event = event_item(
        event=EventType.SUCCESS,
        version=version,
        attempt=run.attempt,
        status=Status.SUCCESS,
        at=now,
        actor=actor,
        trace_id=run.trace_id,
        duration_ms=duration,
        detail=detail,
    )
    hole = unrecorded_trigger(run)
    write = Write(
        key=run.key,
        condition=condition,
        values=values,
        restates=_restates_own_run(run),
        set={
            "status": Status.SUCCESS.value,
            "version": version,
            "finished_at": stamp,
            "updated_at": stamp,
            "duration_ms": duration,
            "expires_at": cfg.expires_at(now),
            # A SUCCESS ends the failure episode: the next run starts a fresh attempt budget.
            "attempt_floor": run.attempt,
        },
        remove=present(
            run,
            (
                "due_pk",
                "due_at",
                "error_type",
                "error_message",
                "first_failed_at",
                "alerted",
                "rule",
                "cap",
                "deadline",
                "cap_override",
                *(("pending_trigger",) if hole else ()),
            ),
        ),
        events=(*hole, event),
    )
    return with_history(run, write, cfg, now)


def settle(
    key: BatchKey,
    cfg: TableConfig,
    verdict: Verdict,
    *,
    version: int,
    attempt: int,
    now: datetime,
    actor: str,
    trace_id: str | None,
    error_type: str | None,
    governed: Governed | None = None,
) -> tuple[dict[str, Scalar], tuple[Record, ...]]:
    """Where a failure recorded at `version` leaves the batch: FAILED and due for its retry,
    or EXHAUSTED (one more event, listed under EXHAUSTED#, never swept).

    Returns the fields to set and the events that follow the failure's own event. The
    EXHAUSTED event names the error's type; its message is the failure's event's, once.
    """
    if isinstance(verdict, RetryAt):
        due = {"due_pk": failed_partition(key, cfg.shards), "due_at": iso(verdict.at)}
        return {"status": Status.FAILED.value, "version": version, **due}, ()
    detail: dict[str, Any] = {"reason": verdict.reason}
    if governed is not None:
        detail["rule"] = governed.rule
        if governed.why:
            detail["why"] = governed.why
    exhausted = event_item(
        event=EventType.EXHAUSTED,
        version=version + 1,
        attempt=attempt,
        status=Status.EXHAUSTED,
        at=now,
        actor=actor,
        trace_id=trace_id,
        error_type=error_type,
        detail=detail,
    )
    fields: dict[str, Scalar] = {
        "status": Status.EXHAUSTED.value,
        "version": version + 1,
        "alerted": True,
        "due_pk": exhausted_partition(key, cfg.shards),
        "due_at": iso(now),
    }
    return fields, (exhausted,)


def failure(
    run: BatchState,
    cfg: TableConfig,
    *,
    now: datetime,
    actor: str,
    error_type: str,
    error_message: str,
    retryable: bool,
    verdict: Verdict,
    governed: Governed | None = None,
) -> Write:
    """FAILED (indexed for its retry) or, when no retry is allowed, FAILED then EXHAUSTED.

    `governed` records the rule that decided it; the cap and deadline it sets are what the
    remediator decides the batch by until its next run."""
    version = run.version + 1
    duration = _duration_ms(run, now)
    message = truncate(error_message)
    condition, values = _own_run_condition(run, now)
    failed_detail: dict[str, Any] = {"retryable": retryable}
    if isinstance(verdict, RetryAt):
        failed_detail["next_retry_at"] = iso(verdict.at)
    if governed is not None:
        failed_detail.update(
            rule=governed.rule,
            episode_attempt=governed.episode_attempt,
            max_attempts=governed.cap,
        )
    failed = event_item(
        event=EventType.FAILED,
        version=version,
        attempt=run.attempt,
        status=Status.FAILED,
        at=now,
        actor=actor,
        trace_id=run.trace_id,
        error_type=error_type,
        error_message=message,
        duration_ms=duration,
        detail=failed_detail,
    )
    outcome, after = settle(
        run.key,
        cfg,
        verdict,
        version=version,
        attempt=run.attempt,
        now=now,
        actor=actor,
        trace_id=run.trace_id,
        error_type=error_type,
        governed=governed,
    )
    stamp = iso(now)
    fields: dict[str, Scalar] = {
        "finished_at": stamp,
        "updated_at": stamp,
        "duration_ms": duration,
        # The message is the FAILED event's (readers take the latest): stored once.
        "error_type": error_type,
        "retryable": retryable,
        "first_failed_at": run.first_failed_at or stamp,
        "expires_at": cfg.outlasting(now, verdict),
        **outcome,
    }
    hole = unrecorded_trigger(run)
    remove: tuple[str, ...] = ("pending_trigger",) if hole else ()
    if governed is not None:
        fields.update(rule=governed.rule, cap=governed.cap)
        if governed.deadline:
            fields["deadline"] = governed.deadline
        else:
            remove = (*remove, "deadline")
    write = Write(
        key=run.key,
        condition=condition,
        values=values,
        restates=_restates_own_run(run),
        set=fields,
        remove=remove,
        events=(*hole, failed, *after),
    )
    return with_history(run, write, cfg, now)


def heartbeat(run: BatchState, cfg: TableConfig, *, now: datetime) -> Write:
    """Keep a long run's claim alive: moves its stale deadline; not a transition (no event)."""
    return Write(
        key=run.key,
        condition="#run_id = :run_id AND #status = :started",
        values={":run_id": run.run_id or "", ":started": Status.STARTED.value},
        set={"heartbeat_at": iso(now), "due_at": cfg.stale_at(now)},
    )
