"""Why a batch is not being re-triggered right now: ordered checks over data. Pure.

The checks follow the service's own order (remediator.remediation.policy.decide, then the
guards of a retry): what ends retries for good comes first and stops the checks; what only
holds a retry back (a pause, an open circuit, the budget, the due time) is listed whole,
since several can hold at once. No reason at all means the next sweep or signal takes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from observability.models import BatchState, Status, iso

__all__ = ["Holds", "Reason", "Why", "why_not_now"]


class Why(StrEnum):
    """A reason, in the order the checks are made."""

    RUNNING = "running"  # a run, or the re-trigger of one, is under way
    SUCCEEDED = "succeeded"  # nothing to retry
    CLOSED = "closed"  # another status no retry applies to (closed by a person)
    NEVER_RETRY = "never_retry"  # the rule says never (or NonRetryableError)
    CAP_REACHED = "cap_reached"  # the episode used every attempt its rule allows
    MAX_AGE = "max_age"  # the episode is older than its rule allows
    NO_TRIGGER = "no_trigger"  # neither the batch nor its job can be re-triggered
    EXHAUSTED = "exhausted"  # given up for another recorded reason (a refusing target, ...)
    PAUSED = "paused"  # a person paused the job or its target
    CIRCUIT_OPEN = "circuit_open"  # too many recent failures of the job or its target
    BUDGET = "budget"  # the fleet's re-triggers for this minute are spent
    NOT_DUE = "not_due"  # its backoff has not run out
    NOT_SCHEDULED = "not_scheduled"  # FAILED but in no retry index partition


# What an EXHAUSTED event's `reason` means, as a reason of this list.
_EXHAUST_REASONS = {
    "non_retryable": Why.NEVER_RETRY,
    "max_attempts": Why.CAP_REACHED,
    "max_age": Why.MAX_AGE,
    "no_trigger": Why.NO_TRIGGER,
}


# The only status the service re-triggers from.
_RETRIED = frozenset({Status.FAILED})


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason: its kind, a line for people, and until when it holds (if it ends)."""

    why: Why
    detail: str
    until: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.why.value, "detail": self.detail, "until": self.until}


@dataclass(frozen=True, slots=True)
class Holds:
    """What holds retries back, as read from the guards (None: nothing)."""

    paused: str | None = None  # who paused it and until when, once pauses exist
    circuit_until: str | None = None  # the job's circuit
    target_circuit_until: str | None = None  # the circuit of the target its trigger names
    budget_left: int | None = None  # re-triggers left this minute; None: no budget set
    next_minute: str | None = None  # when the budget fills again


def why_not_now(
    state: BatchState,
    now: datetime,
    *,
    cap: int,
    deadline: str | None,
    has_trigger: bool,
    holds: Holds = Holds(),
    exhausted_reason: str | None = None,
    exhausted_why: str | None = None,
) -> list[Reason]:
    """The reasons, in order; empty when the batch is due and nothing holds it."""
    stamp = iso(now)
    if state.status in (Status.STARTED, Status.RETRYING):
        return [Reason(Why.RUNNING, f"{state.status.value}: a run is under way")]
    if state.lease_expires_at and state.lease_expires_at > stamp:
        return [Reason(Why.RUNNING, "claimed by a replica", state.lease_expires_at)]
    if state.status is Status.SUCCESS:
        return [Reason(Why.SUCCEEDED, "it succeeded: nothing to retry")]
    if state.status is Status.EXHAUSTED:
        why = _EXHAUST_REASONS.get(exhausted_reason or "", Why.EXHAUSTED)
        told = exhausted_why or f"reason {exhausted_reason or 'not recorded'}"
        return [Reason(why, f"EXHAUSTED, waiting for a person: {told}")]
    if state.status not in _RETRIED:  # a status added later (closed by a person)
        return [Reason(Why.CLOSED, f"{state.status.value}: no retry applies")]
    final = _final(state, stamp, cap, deadline, has_trigger)
    if final is not None:
        return [final]
    return _held(state, stamp, holds)


def _final(
    state: BatchState, stamp: str, cap: int, deadline: str | None, has_trigger: bool
) -> Reason | None:
    if not state.retryable or state.rule == "never":
        return Reason(Why.NEVER_RETRY, f"{state.error_type or 'its error'} is never retried")
    if state.episode_attempt >= cap:
        return Reason(
            Why.CAP_REACHED, f"attempt {state.episode_attempt} of {cap} was the last allowed"
        )
    if deadline is not None and deadline <= stamp:
        return Reason(Why.MAX_AGE, f"its rule's maximum age ran out at {deadline}", deadline)
    if not has_trigger:
        return Reason(Why.NO_TRIGGER, "no trigger: give the batch or its job one")
    return None


def _held(state: BatchState, stamp: str, holds: Holds) -> list[Reason]:
    out: list[Reason] = []
    if holds.paused:
        out.append(Reason(Why.PAUSED, f"paused: {holds.paused}"))
    for scope, until in (("job", holds.circuit_until), ("target", holds.target_circuit_until)):
        if until and until > stamp:
            out.append(Reason(Why.CIRCUIT_OPEN, f"the {scope}'s circuit is open", until))
    if not state.due_pk or not state.due_at:
        out.append(Reason(Why.NOT_SCHEDULED, "in no retry index partition: nothing sweeps it"))
    elif state.due_at > stamp:
        out.append(Reason(Why.NOT_DUE, f"its next retry is due at {state.due_at}", state.due_at))
    elif holds.budget_left is not None and holds.budget_left <= 0:
        out.append(
            Reason(Why.BUDGET, "the retry budget of this minute is spent", holds.next_minute)
        )
    return out
