"""PagerDuty Events API v2 bodies: trigger an incident, resolve it. Pure.

The dedup key is the batch (`job#batch`), so a repeated alert joins the open incident
instead of paging twice, and the batch's recovery resolves exactly that incident.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from observability.models.signals import Signal
from remediator.alerts.formats.summary import clip, commands, headline

__all__ = ["MAX_DEDUP_KEY", "dedup_key", "resolve_event", "trigger_event"]

MAX_DEDUP_KEY = 255  # PagerDuty's limit
_SUMMARY_LIMIT = 1024  # PagerDuty's limit
_CIRCUIT = "circuit"
_CLIENT = "self-healing-pipelines remediator"


def dedup_key(signal: Signal) -> str:
    """`job#batch`, or `job#circuit` for a job-wide alert; hashed to fit if too long.

    Ids may be 200 bytes each, so `job#batch` can exceed PagerDuty's 255 characters. The
    shortened form is still deterministic, so a trigger and its resolve agree.
    """
    key = f"{signal.job_id}#{signal.batch_id or _CIRCUIT}"
    if len(key) <= MAX_DEDUP_KEY:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{key[: MAX_DEDUP_KEY - len(digest) - 1]}#{digest}"


def _timestamp(at: str) -> str | None:
    # PagerDuty rejects the whole event for a bad timestamp: send only a valid, aware one.
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    return at if moment.tzinfo is not None else None


def _details(signal: Signal) -> dict[str, Any]:
    found: dict[str, Any] = {
        "event": signal.event,
        "job_id": signal.job_id,
        "batch_id": signal.batch_id or None,
        "attempt": signal.attempt or None,
        "error_type": signal.error_type,
        "error_message": signal.error_message,
        "reason": signal.reason,
        "retryable": signal.retryable,
        "trace_id": signal.trace_id,
        "at": signal.at or None,
        "actor": signal.actor,
        "commands": commands(signal),
    }
    return {name: value for name, value in found.items() if value is not None}


def trigger_event(signal: Signal, routing_key: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "summary": clip(headline(signal), _SUMMARY_LIMIT),
        "source": signal.job_id,
        "severity": "error",
        "group": signal.job_id,
        "class": signal.error_type or signal.event,
        "custom_details": _details(signal),
    }
    if signal.batch_id:
        payload["component"] = signal.batch_id
    timestamp = _timestamp(signal.at)
    if timestamp:
        payload["timestamp"] = timestamp
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(signal),
        "client": _CLIENT,
        "payload": payload,
    }


def resolve_event(signal: Signal, routing_key: str) -> dict[str, Any]:
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key(signal)}
