"""Statuses, records and their DynamoDB item form. Pure: no I/O, no boto3."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from observability.keys import BatchKey, batch_id_from_sk

__all__ = [
    "TERMINAL_FAILURES",
    "AttributeValue",
    "AuditEvent",
    "BatchState",
    "EventType",
    "Item",
    "Status",
    "av",
    "from_iso",
    "is_expired",
    "iso",
    "plain",
]

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]


class Status(StrEnum):
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    RETRYING = "RETRYING"
    EXHAUSTED = "EXHAUSTED"


class EventType(StrEnum):
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    STALE = "STALE"
    RETRY_TRIGGERED = "RETRY_TRIGGERED"
    REPLAY_TRIGGERED = "REPLAY_TRIGGERED"
    EXHAUSTED = "EXHAUSTED"


TERMINAL_FAILURES = frozenset({Status.FAILED, Status.EXHAUSTED})


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601, so that string order is time order (GSI sort keys rely on it)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every timestamp here is timezone-aware UTC")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def av(value: str | int | bool) -> AttributeValue:
    """One Python value as a DynamoDB attribute value (the only three kinds stored here)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"S": value}


def plain(value: AttributeValue) -> str | int | bool | None:
    if "S" in value:
        return str(value["S"])
    if "N" in value:
        return int(value["N"])
    if "BOOL" in value:
        return bool(value["BOOL"])
    return None


def _s(item: Mapping[str, AttributeValue], name: str) -> str | None:
    value = item.get(name)
    return str(value["S"]) if value and "S" in value else None


def _n(item: Mapping[str, AttributeValue], name: str, default: int = 0) -> int:
    value = item.get(name)
    return int(value["N"]) if value and "N" in value else default


def _b(item: Mapping[str, AttributeValue], name: str, default: bool) -> bool:
    value = item.get(name)
    return bool(value["BOOL"]) if value and "BOOL" in value else default


def is_expired(item: Mapping[str, AttributeValue], now: datetime) -> bool:
    """TTL deletes lag by days: an item past `expires_at` is treated as gone by every read."""
    return _n(item, "expires_at", 0) <= int(now.timestamp()) if "expires_at" in item else False


@dataclass(frozen=True, slots=True)
class BatchState:
    """The current state of one batch, as its state item holds it."""

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
    error_message: str | None = None
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

    @property
    def key(self) -> BatchKey:
        return BatchKey(self.job_id, self.batch_id)

    @property
    def next_retry_at(self) -> str | None:
        """When the remediator will next act on a failure (only FAILED batches have one)."""
        return self.due_at if self.status is Status.FAILED and self.due_pk else None

    @classmethod
    def from_item(cls, item: Mapping[str, AttributeValue]) -> BatchState:
        raw_trigger = _s(item, "trigger")
        duration = item.get("duration_ms")
        return cls(
            job_id=_s(item, "job_id") or "",
            batch_id=_s(item, "batch_id") or batch_id_from_sk(_s(item, "sk") or ""),
            status=Status(_s(item, "status") or ""),
            attempt=_n(item, "attempt"),
            version=_n(item, "version"),
            run_id=_s(item, "run_id"),
            trace_id=_s(item, "trace_id"),
            started_at=_s(item, "started_at"),
            heartbeat_at=_s(item, "heartbeat_at"),
            finished_at=_s(item, "finished_at"),
            updated_at=_s(item, "updated_at"),
            duration_ms=int(duration["N"]) if duration and "N" in duration else None,
            error_type=_s(item, "error_type"),
            error_message=_s(item, "error_message"),
            retryable=_b(item, "retryable", True),
            trigger=json.loads(raw_trigger) if raw_trigger else None,
            lease_owner=_s(item, "lease_owner"),
            lease_expires_at=_s(item, "lease_expires_at"),
            due_pk=_s(item, "due_pk"),
            due_at=_s(item, "due_at"),
            first_failed_at=_s(item, "first_failed_at"),
            attempt_floor=_n(item, "attempt_floor"),
            alerted=_b(item, "alerted", False),
            expires_at=_n(item, "expires_at"),
        )

    def to_scalars(self) -> dict[str, str | int | bool]:
        """The state item's attributes (without keys), as stored; unset ones are absent."""
        out: dict[str, str | int | bool] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "trigger":
                value = json.dumps(value, separators=(",", ":"), sort_keys=True)
            out[name] = value.value if isinstance(value, StrEnum) else value
        return out

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
            "error_message": self.error_message,
            "retryable": self.retryable,
            "next_retry_at": self.next_retry_at,
            "trace_id": self.trace_id,
            "lease_owner": self.lease_owner,
            "lease_expires_at": self.lease_expires_at,
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

    @classmethod
    def from_item(cls, item: Mapping[str, AttributeValue]) -> AuditEvent:
        raw_detail = _s(item, "detail")
        duration = item.get("duration_ms")
        return cls(
            job_id=_s(item, "job_id") or "",
            batch_id=_s(item, "batch_id") or "",
            event=EventType(_s(item, "event") or ""),
            attempt=_n(item, "attempt"),
            version=_n(item, "version"),
            at=_s(item, "at") or "",
            actor=_s(item, "actor") or "",
            status=Status(_s(item, "status") or ""),
            trace_id=_s(item, "trace_id"),
            error_type=_s(item, "error_type"),
            error_message=_s(item, "error_message"),
            duration_ms=int(duration["N"]) if duration and "N" in duration else None,
            detail=json.loads(raw_detail) if raw_detail else {},
        )

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
        if self.error_type:
            out["error_type"] = self.error_type
            out["error_message"] = self.error_message
        if self.duration_ms is not None:
            out["duration_ms"] = self.duration_ms
        # Detail adds context; it never overrides the fields every consumer relies on.
        out.update({k: v for k, v in self.detail.items() if k not in out})
        return out
