"""What the remediator does with a batch it has heard of or found. Pure: no clock, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from observability.models import BatchState, Status, from_iso, iso
from observability.retry.backoff import RetryRule

__all__ = ["Action", "Exhaust", "MarkStale", "NotDue", "Skip", "Trigger", "decide"]


@dataclass(frozen=True, slots=True)
class Trigger:
    """Claim and re-trigger now; the re-run will be attempt `attempt`."""

    attempt: int


@dataclass(frozen=True, slots=True)
class NotDue:
    """Leave it: the sweep will find it at `at`."""

    at: str


@dataclass(frozen=True, slots=True)
class Exhaust:
    """No retry is allowed any more: record EXHAUSTED and alert."""

    reason: str


@dataclass(frozen=True, slots=True)
class MarkStale:
    """A run (or a triggered re-run) showed no sign of life by its deadline."""

    never_started: bool


@dataclass(frozen=True, slots=True)
class Skip:
    """Nothing to do (already handled, claimed by someone else, or not ours to touch)."""

    reason: str


Action = Trigger | NotDue | Exhaust | MarkStale | Skip


def _age_seconds(state: BatchState, now: datetime) -> float:
    if not state.first_failed_at:
        return 0.0
    return max(0.0, (now - from_iso(state.first_failed_at)).total_seconds())


def decide(state: BatchState, now: datetime, fallback: RetryRule) -> Action:
    """The one place that turns a state into an action.

    A failure is decided by what was recorded with it (`cap`, `deadline`: the rule that
    governs it, see observability.retry.judge), never by this process's own settings;
    `fallback` only serves a batch recorded without them.
    """
    stamp = iso(now)
    if state.lease_expires_at and state.lease_expires_at > stamp:
        return Skip("claimed")
    if state.status is Status.RETRYING and state.lease_owner:
        # Claimed, but its trigger was never recorded (the replica died, or the target
        # refused it): trigger the same attempt again; a dead replica costs no attempt.
        return Trigger(state.attempt + 1)
    if state.status in (Status.STARTED, Status.RETRYING):
        if state.due_pk and state.due_at and state.due_at <= stamp:
            return MarkStale(never_started=state.status is Status.RETRYING)
        return Skip("running")
    if state.status is not Status.FAILED:
        return Skip(state.status.value.lower())
    if not state.retryable:
        return Exhaust("non_retryable")
    cap = state.cap or fallback.max_attempts
    if state.episode_attempt >= cap:
        return Exhaust("max_attempts")
    deadline = state.deadline
    if deadline is None and state.cap is None and fallback.max_age_seconds is not None:
        age = _age_seconds(state, now)
        deadline = stamp if age >= fallback.max_age_seconds else None
    if deadline is not None and deadline <= stamp:
        return Exhaust("max_age")
    if not state.due_at:
        return Skip("not_indexed")
    if state.due_at > stamp:
        return NotDue(state.due_at)
    return Trigger(state.attempt + 1)
