"""Reads a signal from an SQS message body: raw delivery or the SNS envelope. Pure."""

from __future__ import annotations

import json
from typing import Any

from observability.errors import InvalidInput
from observability.models import from_iso
from observability.models.keys import validate_id
from observability.models.signals import Signal
from remediator.errors import RemediatorError

__all__ = ["MAX_BODY_BYTES", "MalformedSignal", "parse_signal", "unwrap"]

# SQS bodies can be 256 KB; a signal is a few hundred bytes. Refuse to parse giants.
MAX_BODY_BYTES = 64 * 1024


class MalformedSignal(RemediatorError):
    """The message is not a signal this service understands; it is left for the DLQ."""


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedSignal(f"{what} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedSignal(f"{what} is a JSON {type(data).__name__}, not an object")
    return data


def unwrap(body: str) -> dict[str, Any]:
    """The signal object of a body, taken out of its SNS envelope if it has one.

    Raw message delivery gives the signal itself; a subscription without it wraps the
    signal in an envelope's `Message`. Both are accepted.
    """
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise MalformedSignal(f"body is larger than {MAX_BODY_BYTES} bytes")
    data = _object(body, "body")
    if data.get("Type") == "Notification" and "Message" in data:
        message = data["Message"]
        if not isinstance(message, str):
            raise MalformedSignal("SNS envelope: Message is not a string")
        data = _object(message, "SNS envelope Message")
    return data


def _int(data: dict[str, Any], name: str, default: int | None = None) -> int:
    value = data.get(name)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedSignal(f"field {name!r} must be a non-negative integer, got {value!r}")
    return value


def _text(data: dict[str, Any], name: str, limit: int = 4096) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise MalformedSignal(f"field {name!r} must be a string of at most {limit} characters")
    return value


def _moment(data: dict[str, Any], name: str) -> str | None:
    value = _text(data, name, 64)
    if value is None:
        return None
    try:
        from_iso(value)
    except ValueError:
        raise MalformedSignal(f"field {name!r} must be an ISO 8601 time, got {value!r}") from None
    return value


def parse_signal(body: str) -> Signal:
    """The signal in a message body, or MalformedSignal saying what is wrong with it.

    Every field used downstream is checked here, so that nothing a sender gets wrong can
    reach a decision, a condition or an item.
    """
    data = unwrap(body)
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise MalformedSignal("field 'event' is missing")
    try:
        job_id = validate_id("job_id", data.get("job_id"))
        batch_id = validate_id("batch_id", data.get("batch_id"))
    except InvalidInput as exc:
        raise MalformedSignal(str(exc)) from None
    retryable = data.get("retryable", True)
    if not isinstance(retryable, bool):
        raise MalformedSignal(f"field 'retryable' must be true or false, got {retryable!r}")
    return Signal(
        event=event,
        job_id=job_id,
        batch_id=batch_id,
        attempt=_int(data, "attempt"),
        version=_int(data, "version"),
        status=_text(data, "status", 32) or "FAILED",
        error_type=_text(data, "error_type", 256),
        error_message=_text(data, "error_message"),
        retryable=retryable,
        trace_id=_text(data, "trace_id", 256),
        at=_moment(data, "at") or "",
        next_retry_at=_moment(data, "next_retry_at"),
        reason=_text(data, "reason", 256),
        actor=_text(data, "actor", 256),
        first_failed_at=_moment(data, "first_failed_at"),
        attempt_floor=_int(data, "attempt_floor", 0),
        cap=_int(data, "cap", 0) or None,
        deadline=_moment(data, "deadline"),
        rule=_text(data, "rule", 64),
        error_code=_text(data, "error_code", 64),
    )
