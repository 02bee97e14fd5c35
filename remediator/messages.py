"""Reads a signal from an SQS message body: raw delivery or the SNS envelope. Pure."""

from __future__ import annotations

import json
from typing import Any

from observability.errors import InvalidInput
from observability.keys import validate_id
from observability.signals import Signal
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


def _int(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedSignal(f"field {name!r} must be a non-negative integer, got {value!r}")
    return value


def parse_signal(body: str) -> Signal:
    """The signal in a message body, or MalformedSignal saying what is wrong with it."""
    data = unwrap(body)
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise MalformedSignal("field 'event' is missing")
    try:
        job_id = validate_id("job_id", data.get("job_id"))
        batch_id = validate_id("batch_id", data.get("batch_id"))
    except InvalidInput as exc:
        raise MalformedSignal(str(exc)) from None
    next_retry_at = data.get("next_retry_at")
    if next_retry_at is not None and not isinstance(next_retry_at, str):
        raise MalformedSignal("field 'next_retry_at' must be a string or null")
    return Signal.from_dict(
        {
            **data,
            "event": event,
            "job_id": job_id,
            "batch_id": batch_id,
            "attempt": _int(data, "attempt"),
            "version": _int(data, "version"),
            "retryable": bool(data.get("retryable", True)),
            "status": str(data.get("status", "FAILED")),
            "at": str(data.get("at", "")),
            "error_type": data.get("error_type"),
            "error_message": data.get("error_message"),
            "trace_id": data.get("trace_id"),
        }
    )
