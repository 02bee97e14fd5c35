"""The failure signal and the alert: the small JSON message published on the topic. Pure.

Message attributes carry what subscription filter policies match on (`event`, `job_id`,
`retryable`), so a subscriber can take only what it needs without reading bodies.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from observability.models.describe import truncate
from observability.models.records import BatchState, EventType

__all__ = [
    "ALERT_EVENTS",
    "CIRCUIT_OPEN",
    "DEADLINE_MET",
    "DEADLINE_MISSED",
    "EXHAUSTED",
    "FAILED",
    "MAX_SIGNAL_BYTES",
    "RECOVERED",
    "SCHEMA_VERSION",
    "TOO_SLOW",
    "Signal",
]

# The `event` attribute of every message on the topic.
FAILED = "FAILED"  # a retryable failure: for the remediator
EXHAUSTED = "EXHAUSTED"  # attempts used up, or not retryable: for people
RECOVERED = "RECOVERED"  # an alerted batch succeeded, or was resolved by hand: ends its alert
CIRCUIT_OPEN = "CIRCUIT_OPEN"  # a job's retries are paused: for people
DEADLINE_MISSED = "DEADLINE_MISSED"  # an expected batch not done by its deadline: for people
TOO_SLOW = "TOO_SLOW"  # a run still going past its job's max_run_seconds: for people
DEADLINE_MET = "deadline_met"  # the reason of the RECOVERED that ends a DEADLINE_MISSED
ALERT_EVENTS = (EXHAUSTED, RECOVERED, CIRCUIT_OPEN, DEADLINE_MISSED, TOO_SLOW)

SCHEMA_VERSION = 1
# SNS allows 256 KB; ids (<= 200 bytes each) and a 1 KiB error keep every signal far below this.
MAX_SIGNAL_BYTES = 8 * 1024


@dataclass(frozen=True, slots=True)
class Signal:
    """A FAILED signal (for the remediator) or an EXHAUSTED alert (for people)."""

    event: str
    job_id: str
    batch_id: str
    attempt: int
    version: int
    status: str
    error_type: str | None
    error_message: str | None
    retryable: bool
    trace_id: str | None
    at: str
    next_retry_at: str | None = None
    reason: str | None = None
    actor: str | None = None
    first_failed_at: str | None = None
    attempt_floor: int = 0
    cap: int | None = None
    deadline: str | None = None
    rule: str | None = None
    error_code: str | None = None
    note: str | None = None  # a person's words (why a batch was resolved by hand)
    v: int = SCHEMA_VERSION

    @classmethod
    def of(
        cls,
        event: EventType | str,
        state: BatchState,
        *,
        at: str,
        reason: str | None = None,
        actor: str | None = None,
    ) -> Signal:
        return cls(
            event=str(event),
            job_id=state.job_id,
            batch_id=state.batch_id,
            attempt=state.attempt,
            version=state.version,
            status=state.status.value,
            error_type=truncate(state.error_type, 256) if state.error_type else None,
            error_message=truncate(state.error_message or "") or None,
            retryable=state.retryable,
            trace_id=state.trace_id,
            at=at,
            next_retry_at=state.next_retry_at,
            reason=reason,
            actor=truncate(actor, 256) if actor else None,
            first_failed_at=state.first_failed_at,
            attempt_floor=state.attempt_floor,
            cap=state.cap,
            deadline=state.deadline,
            rule=state.rule,
            error_code=state.error_code,
        )

    def body(self) -> str:
        text = json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)
        if len(text.encode("utf-8")) > MAX_SIGNAL_BYTES:
            # Only the error text can be long; shrink it rather than fail to signal.
            short = Signal(
                **{**asdict(self), "error_message": truncate(self.error_message or "", 256)}
            )
            text = json.dumps(asdict(short), separators=(",", ":"), ensure_ascii=False)
        return text

    def attributes(self) -> dict[str, dict[str, str]]:
        attrs = {
            "event": self.event,
            "job_id": self.job_id,
            "retryable": "true" if self.retryable else "false",
        }
        if self.reason:
            attrs["reason"] = self.reason
        return {k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signal:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
