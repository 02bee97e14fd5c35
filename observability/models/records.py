"""Statuses, records and their DynamoDB item form. Pure: no I/O, no boto3."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from observability.models.keys import BatchKey, batch_id_from_sk, job_id_from_pk
from observability.models.traceids import is_trace_id, to_xray
from observability.models.values import AttributeValue, Plain, av, av_map, plain, plain_item

__all__ = [
    "TERMINAL_FAILURES",
    "AttributeValue",
    "AuditEvent",
    "BatchState",
    "EventType",
    "Item",
    "Plain",
    "Record",
    "Status",
    "av",
    "av_map",
    "from_iso",
    "is_expired",
    "iso",
    "plain",
    "plain_item",
]

Item = dict[str, AttributeValue]
# One event as stored in a batch's history list (a DynamoDB map).
Record = dict[str, Plain]


class Status(StrEnum):
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    RETRYING = "RETRYING"
    EXHAUSTED = "EXHAUSTED"
    RESOLVED = "RESOLVED"  # closed by a person: pending() skips it, nothing retries it


class EventType(StrEnum):
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    STALE = "STALE"
    RETRY_TRIGGERED = "RETRY_TRIGGERED"
    REPLAY_TRIGGERED = "REPLAY_TRIGGERED"
    EXHAUSTED = "EXHAUSTED"
    RESOLVED = "RESOLVED"


TERMINAL_FAILURES = frozenset({Status.FAILED, Status.EXHAUSTED})


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601, so that string order is time order (GSI sort keys rely on it)."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            raise ValueError("naive datetime: every timestamp here is timezone-aware UTC")
        moment = moment.astimezone(UTC)
    # isoformat, not strftime: the same text (years 1000-9999), in a third of the time.
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def is_expired(item: Mapping[str, AttributeValue], now: datetime) -> bool:
    """TTL deletes lag by days: an item past `expires_at` is treated as gone by every read."""
    value = item.get("expires_at")
    return bool(value and "N" in value and int(value["N"]) <= int(now.timestamp()))


def _text(data: Mapping[str, Plain], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


def _int(data: Mapping[str, Plain], name: str, default: int = 0) -> int:
    value = data.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _opt_int(data: Mapping[str, Plain], name: str) -> int | None:
    value = data.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _last_error(events: Sequence[Record]) -> str | None:
    """The message of the latest event that carries one (a failure's, or a stale run's)."""
    found = [e for e in events if isinstance(e.get("error_message"), str)]
    return max(found, key=lambda e: _int(e, "version"))["error_message"] if found else None


# Fields of BatchState that are not stored as attributes of their own name.
_DERIVED = frozenset({"job_id", "batch_id", "stored"})


@dataclass(frozen=True, slots=True)
class BatchState:
    """The current state of one batch, as its item holds it.

    `events` is the history kept in the item (oldest first, older ones archived), or None
    where the source does not carry it (the due-index, a signal). `retry` is the stored
    retry policy (JSON, see observability.retry.StoredRetry); `rule`, `cap` and `deadline`
    say what governs the current failure: the matched rule, the attempts it allows in this
    episode (attempts after `attempt_floor`), and when its maximum age runs out.
    """

    job_id: str
    batch_id: str
    status: Status
    attempt: int
    version: int
    run_id: str | None = None
    trace_id: str | None = None
    started_at: str | None = None
    heartbeat_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None
    duration_ms: int | None = None
    error_type: str | None = None
    error_code: str | None = None  # the error's code (observability.retry.match.error_code)
    error_message: str | None = None
    exit_code: int | None = None  # a run AWS stopped: its exit code and stop reason
    stop_reason: str | None = None
    retryable: bool = True
    trigger: dict[str, Any] | None = None
    lease_owner: str | None = None
    lease_expires_at: str | None = None
    due_pk: str | None = None
    due_at: str | None = None
    first_failed_at: str | None = None
    attempt_floor: int = 0
    alerted: bool = False
    expires_at: int = 0
    incarnation: str | None = None
    pending_trigger: int | None = None
    write_id: str | None = None
    retry: str | None = None
    rule: str | None = None
    cap: int | None = None
    deadline: str | None = None
    cap_override: int | None = None
    refusals: int = 0
    events: tuple[Record, ...] | None = None
    # The whole item as stored, attributes this version does not know included, when it
    # was read whole or written by this process: a writer that holds it may put the item.
    stored: Mapping[str, Plain] | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> BatchKey:
        return BatchKey(self.job_id, self.batch_id)

    @property
    def episode_attempt(self) -> int:
        """This attempt's number within its failure episode (since the last SUCCESS or
        replay): the number the attempt cap counts."""
        return self.attempt - self.attempt_floor

    @property
    def next_retry_at(self) -> str | None:
        """When the remediator will next act on a failure (only FAILED batches have one)."""
        return self.due_at if self.status is Status.FAILED and self.due_pk else None

    @classmethod
    def from_plain(cls, data: Mapping[str, Plain]) -> BatchState:
        """From an item's attributes as Python values (keys `pk`/`sk` give the ids)."""
        # One pass over the attributes the item has (twice per batch on the hot path): a
        # value of another type than its field's reads as absent, as the field's default.
        values: dict[str, Any] = {"attempt": 0, "version": 0}
        for name, value in data.items():
            kind = _FIELD_TYPES.get(name)
            if kind is not None and isinstance(value, kind):
                if kind is int and isinstance(value, bool):
                    continue
                values[name] = value
        raw_events = data.get("events")
        events = (
            tuple(e for e in raw_events if isinstance(e, dict))
            if isinstance(raw_events, list)
            else None
        )
        if not values.get("job_id"):
            values["job_id"] = job_id_from_pk(_text(data, "pk") or "")
        if not values.get("batch_id"):
            values["batch_id"] = batch_id_from_sk(_text(data, "sk") or "")
        values["status"] = Status(values.get("status", ""))
        # A put leaves these out when they repeat another (transitions.writes.lean_state):
        # a run id that is the trace id, an incarnation that is the run id's first digits.
        if "run_id" not in values and "started_at" in values and "trace_id" in values:
            values["run_id"] = values["trace_id"]
        run_id = values.get("run_id")
        if run_id is not None:
            values.setdefault("incarnation", run_id[:16])
        if values.get("lease_owner") and "due_at" in values:
            # A lease runs out at the batch's due time: claims write it there only.
            values["lease_expires_at"] = values["due_at"]
        if not values.get("error_message"):
            failed = values.get("error_type")
            values["error_message"] = _last_error(events) if events and failed else None
        raw_trigger = values.pop("trigger", None)
        return cls(
            **values,
            trigger=json.loads(raw_trigger) if raw_trigger else None,
            events=events,
            stored=dict(data) if events is not None else None,
        )

    @classmethod
    def from_item(cls, item: Mapping[str, AttributeValue]) -> BatchState:
        return cls.from_plain(plain_item(item))

    def to_scalars(self) -> dict[str, Plain]:
        """The item's attributes as Python values, keys included; unset ones are absent."""
        key = self.key
        out: dict[str, Plain] = {"pk": key.pk, "sk": key.sk}
        for name in self.__slots__:
            if name in _DERIVED:
                continue
            value = getattr(self, name)
            if value is None:
                continue
            if name == "error_message" and self.events is not None:
                continue  # stored in the failure's event, not twice
            if name == "trigger":
                value = json.dumps(value, separators=(",", ":"), sort_keys=True)
            elif name == "events":
                value = list(value)
            out[name] = value.value if isinstance(value, StrEnum) else value
        return out

    def history(self) -> list[AuditEvent]:
        """The events the item itself holds, oldest first (archived ones are not here)."""
        return [
            AuditEvent.from_record(self.job_id, self.batch_id, e, self.trace_id)
            for e in self.events or ()
        ]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by the CLI (`status --output json`)."""
        return {
            "job_id": self.job_id,
            "batch_id": self.batch_id,
            "status": self.status.value,
            "attempt": self.attempt,
            "version": self.version,
            "started_at": self.started_at,
            "heartbeat_at": self.heartbeat_at,
            "finished_at": self.finished_at,
            "updated_at": self.updated_at,
            "duration_ms": self.duration_ms,
            "error_type": self.error_type,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "exit_code": self.exit_code,
            "stop_reason": self.stop_reason,
            "retryable": self.retryable,
            "next_retry_at": self.next_retry_at,
            "trace_id": self.trace_id,
            "lease_owner": self.lease_owner,
            "lease_expires_at": self.lease_expires_at,
            "episode_attempt": self.episode_attempt,
            "max_attempts": self.cap,
            "rule": self.rule,
        }


_READ_AS = {"str": str, "str | None": str, "int": int, "int | None": int, "bool": bool}
# How `from_plain` reads each attribute: as its field's type (status and trigger are text).
_FIELD_TYPES: dict[str, type] = {
    **{f.name: _READ_AS[str(f.type)] for f in fields(BatchState) if f.type in _READ_AS},
    "status": str,
    "trigger": str,
}


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One transition of one batch: the audit trail proper."""

    job_id: str
    batch_id: str
    event: EventType
    attempt: int
    version: int
    at: str
    actor: str
    status: Status
    trace_id: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    duration_ms: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    stop_reason: str | None = None

    @classmethod
    def from_record(
        cls,
        job_id: str,
        batch_id: str,
        record: Mapping[str, Plain],
        trace_id: str | None = None,
    ) -> AuditEvent:
        """One event; `trace_id` is its item's, which an event in the item's own list
        leaves out when it is the same (archived events always spell theirs out)."""
        raw_detail = _text(record, "detail")
        return cls(
            job_id=job_id,
            batch_id=batch_id,
            event=EventType(_text(record, "event") or ""),
            attempt=_int(record, "attempt"),
            version=_int(record, "version"),
            at=_text(record, "at") or "",
            actor=_text(record, "actor") or "",
            # An event named after the status it leaves (STARTED, FAILED...) leaves it out.
            status=Status(_text(record, "status") or _text(record, "event") or ""),
            trace_id=_text(record, "trace_id") or trace_id,
            error_type=_text(record, "error_type"),
            error_message=_text(record, "error_message"),
            duration_ms=_opt_int(record, "duration_ms"),
            detail=json.loads(raw_detail) if raw_detail else {},
            exit_code=_opt_int(record, "exit_code"),
            stop_reason=_text(record, "stop_reason"),
        )

    @staticmethod
    def merge(
        job_id: str, batch_id: str, *chunks: Sequence[Record], trace_id: str | None = None
    ) -> list[AuditEvent]:
        """Events from archive chunks and the item, one per version (its first copy: a writer
        that died between archiving and trimming left two), oldest first. `trace_id` is the
        item's, for its events that leave it out."""
        by_version: dict[int, Record] = {}
        for chunk in chunks:
            for record in chunk:
                by_version.setdefault(_int(record, "version"), record)
        return [
            AuditEvent.from_record(job_id, batch_id, by_version[v], trace_id)
            for v in sorted(by_version)
        ]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by the CLI (`history --output json`)."""
        out: dict[str, Any] = {
            "event": self.event.value,
            "attempt": self.attempt,
            "at": self.at,
            "actor": self.actor,
            "status": self.status.value,
            "version": self.version,
            "trace_id": self.trace_id,
        }
        if is_trace_id(self.trace_id):
            out["xray_trace_id"] = to_xray(self.trace_id or "")  # as the X-Ray console shows it
        if self.error_type:
            out["error_type"] = self.error_type
            out["error_message"] = self.error_message
        for name in ("duration_ms", "exit_code", "stop_reason"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        # Detail adds context; it never overrides the fields every consumer relies on.
        out.update({k: v for k, v in self.detail.items() if k not in out})
        return out
