"""`status`: a job's batches, counted per status, stale runs flagged."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from observability.audit import AuditStore
from observability.models import BatchState, Status, from_iso
from observability.models.keys import validate_id

__all__ = ["batches", "is_stale", "shown_attempt", "status", "status_counts"]


def batches(store: AuditStore, job_id: str, now: datetime) -> list[BatchState]:
    """Every batch recorded for the job (InvalidInput for an id no batch could have)."""
    return list(store.states(validate_id("job_id", job_id), now))


def status(
    job_id: str, states: Sequence[BatchState], now: datetime, stale_after_seconds: float
) -> dict[str, Any]:
    """The JSON shape of `status`: the job, its counts per status, its batches."""
    return {
        "job_id": job_id,
        "counts": status_counts(states),
        "batches": [
            {
                **s.as_dict(),
                "attempt": shown_attempt(s),
                "stale": is_stale(s, now, stale_after_seconds),
            }
            for s in states
        ],
    }


def shown_attempt(state: BatchState) -> int:
    """The attempt as `history` tells it. A RETRYING batch has been re-triggered: the event
    of its claim carries the attempt the re-run will be, one past the last run's."""
    return state.attempt + 1 if state.status is Status.RETRYING else state.attempt


def status_counts(states: Sequence[BatchState]) -> dict[str, int]:
    counts = {status.value: 0 for status in Status}
    for state in states:
        counts[state.status.value] += 1
    return counts


def is_stale(state: BatchState, now: datetime, stale_after_seconds: float) -> bool:
    if state.status is not Status.STARTED or not state.heartbeat_at:
        return False
    return (now - from_iso(state.heartbeat_at)).total_seconds() > stale_after_seconds
