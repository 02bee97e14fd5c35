"""What a claimed batch waits for before its trigger goes out: the circuits and the fleet's
budget. One place, for a retry and for a deadline's backfill alike.

A batch that waits keeps the claim's RETRYING state with its lease ending when it may go
(`Claimer.release`): the sweep then takes it over as any claim whose trigger never went out,
and triggers the same attempt through these checks again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from observability.models import BatchState, from_iso
from observability.models.keys import breaker_key, target_breaker_key
from remediator.guards import CircuitBreaker
from remediator.remediation.claim import Claimer
from remediator.remediation.context import Outcome
from remediator.triggers import target_of

__all__ = ["held_back"]


def held_back(
    claimed: BatchState,
    trigger: Mapping[str, Any],
    now: datetime,
    *,
    attempt: int,
    breaker: CircuitBreaker,
    claimer: Claimer,
    job_circuit: bool = False,
) -> Outcome | None:
    """Why the claimed batch's trigger waits (its claim handed back until then), or None
    when it may go. `job_circuit`: check the job's circuit too (a retry checks it before
    claiming, so as to write nothing while it is open)."""
    key = claimed.key.token
    if job_circuit:
        until = breaker.paused_until(breaker_key(claimed.job_id), now)
        if until:
            claimer.release(claimed, from_iso(until))
            return Outcome("paused", key, attempt, {"until": until})
    target = target_of(dict(trigger))
    until = breaker.paused_until(target_breaker_key(target), now)
    if until:
        # A broken target pauses what goes to it; the claim waits out its circuit.
        claimer.release(claimed, from_iso(until))
        return Outcome("paused", key, attempt, {"until": until, "target": target})
    # The fleet's budget pays for claims that won, never for duplicates that lost them.
    if not claimer.afford(claimed, now):
        return Outcome("budget", key, attempt)
    return None
