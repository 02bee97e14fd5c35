"""From an SQS record body to a Signal. Pure.

Bodies are Signal JSON (raw message delivery) or the SNS envelope around it (a subscription
without raw delivery). Alerts about a whole job (CIRCUIT_OPEN) may carry no batch, so the
fields a Signal requires but such an alert lacks get neutral defaults here.
"""

from __future__ import annotations

from typing import Any

from observability.models.signals import CIRCUIT_OPEN, RECOVERED, SCHEMA_VERSION, Signal
from remediator.messages import MalformedSignal, unwrap

__all__ = ["parse_body", "unwrap"]

# A job-wide alert (or the recovery that ends one) may name no batch.
_BATCH_OPTIONAL = frozenset({CIRCUIT_OPEN, RECOVERED})
_OPTIONAL_TEXT = (
    "error_type",
    "error_code",
    "error_message",
    "trace_id",
    "next_retry_at",
    "reason",
    "actor",
    "note",
)


def _text(data: dict[str, Any], field: str, *, required: bool = False) -> str | None:
    value = data.get(field)
    if value is None or value == "":
        if required:
            raise MalformedSignal(f"{field}: missing or empty")
        return None
    if not isinstance(value, str):
        raise MalformedSignal(f"{field}: must be a string, got {type(value).__name__}")
    return value


def _int(data: dict[str, Any], field: str) -> int:
    value = data.get(field, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedSignal(f"{field}: must be a non-negative integer, got {value!r}")
    return value


def parse_body(body: str) -> Signal:
    """The Signal a record carries, or MalformedSignal naming the field and the problem.

    The fields routing reads are checked; other known fields pass through as sent, so a
    newer producer's additions survive. Any `event` is accepted: deciding which events
    are alerts is the router's job.
    """
    data = unwrap(body)
    event = _text(data, "event", required=True)
    job_id = _text(data, "job_id", required=True)
    batch_id = _text(data, "batch_id", required=event not in _BATCH_OPTIONAL) or ""
    retryable = data.get("retryable", False)
    if not isinstance(retryable, bool):
        raise MalformedSignal(f"retryable: must be a boolean, got {retryable!r}")
    checked: dict[str, Any] = {
        "event": event,
        "job_id": job_id,
        "batch_id": batch_id,
        "attempt": _int(data, "attempt"),
        "version": _int(data, "version"),
        "status": _text(data, "status") or "",
        "retryable": retryable,
        "at": _text(data, "at") or "",
        "v": _int(data, "v") if "v" in data else SCHEMA_VERSION,
    }
    for field in _OPTIONAL_TEXT:
        checked[field] = _text(data, field)
    return Signal.from_dict({**data, **checked})
