"""`explain` and `policy test`: which rule, from which layer, which delays, when it gives up,
and why a batch is not being retried now. Pure: records and policies in, data out.

`explain` tells a recorded batch as the service decides it: by the rule recorded with its
failure (its cap and deadline), whatever a policy says since. `policy test` tells what an
error would get if a batch of the job failed with it now, with no policy of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from observability.audit.jobs import JobPolicy
from observability.models import AuditEvent, BatchState, EventType, Status, from_iso
from observability.retry import RetryPolicy, StoredRetry
from observability.retry.backoff import RetryRule
from observability.retry.match import ErrorFacts
from remediator.ops.schedule import (
    Delay,
    ErrorSpec,
    GiveUp,
    Layer,
    Match,
    delays,
    give_up,
    match,
    names_of,
    runs_with,
)
from remediator.ops.why import Holds, Reason, why_not_now

__all__ = ["Explanation", "Failure", "RuleTest", "explain", "try_error"]

_FAILURES = (EventType.FAILED, EventType.STALE)


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt of the episode, as the history tells it."""

    attempt: int
    at: str
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "at": self.at, "error": self.error}


def _rule_dict(found: Match) -> dict[str, Any] | None:
    return found.rule.to_dict() if found.rule else None


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything `remediator explain` says about one batch."""

    state: BatchState
    found: Match
    cap: int
    failures: tuple[Failure, ...]
    next_retry_at: str | None
    delays: tuple[Delay, ...]
    ends: GiveUp | None
    reasons: tuple[Reason, ...]
    has_trigger: bool
    notes: tuple[str, ...] = field(default=())
    runs: tuple[str, ...] = ()  # what the next attempts run with, by the rule's overrides

    def as_dict(self) -> dict[str, Any]:
        s = self.state
        return {
            "job_id": s.job_id,
            "batch_id": s.batch_id,
            "status": s.status.value,
            "error_type": s.error_type,
            "error_code": s.error_code,
            "error_message": s.error_message,
            "rule": self.found.name,
            "layer": self.found.layer.value,
            "matched": self.found.matched or None,
            "retry_rule": _rule_dict(self.found),
            "episode": {
                "attempt": s.episode_attempt,
                "max_attempts": self.cap,
                "first_failed_at": s.first_failed_at,
                "failures": [f.as_dict() for f in self.failures],
            },
            "next_retry_at": self.next_retry_at,
            "next_attempts": [d.as_dict() for d in self.delays],
            "runs_with": list(self.runs),
            "gives_up": self.ends.as_dict() if self.ends else None,
            "has_trigger": self.has_trigger,
            "why_not_now": [r.as_dict() for r in self.reasons],
            "notes": list(self.notes),
        }


def _episode(state: BatchState, events: Sequence[AuditEvent]) -> tuple[Failure, ...]:
    """The failures since the episode began (after the last SUCCESS, past the floor)."""
    since = max((e.version for e in events if e.event is EventType.SUCCESS), default=0)
    return tuple(
        Failure(e.attempt, e.at, f"{e.error_type or e.event.value}: {e.error_message or ''}")
        for e in events
        if e.event in _FAILURES and e.version > since and e.attempt > state.attempt_floor
    )


def _exhausted(events: Sequence[AuditEvent]) -> tuple[str | None, str | None]:
    last = next((e for e in reversed(events) if e.event is EventType.EXHAUSTED), None)
    if last is None:
        return None, None
    reason, why = last.detail.get("reason"), last.detail.get("why")
    return (str(reason) if reason else None), (str(why) if why else None)


def explain(
    state: BatchState,
    events: Sequence[AuditEvent],
    now: datetime,
    *,
    job: JobPolicy | None,
    fallback: RetryRule,
    holds: Holds = Holds(),  # noqa: B008 - frozen: one shared default is safe
) -> Explanation:
    """The batch as the service sees it at `now`; `fallback` is the deciding process's
    settings, used only for a batch recorded without a policy (as the service does)."""
    kept = StoredRetry.from_json(state.retry)
    names = names_of(state.error_type) if state.error_type else ()
    found = match(
        ErrorFacts(
            names, state.error_message or "", state.error_code, state.exit_code, state.stop_reason
        ),
        batch=kept.own if kept else None,
        job=job.retry if job else None,
        settings=kept.env if kept else None,
        fallback=fallback,
        recorded=state.rule,
    )
    notes = []
    if found.layer is Layer.UNKNOWN:
        notes.append(f'rule "{state.rule}" is in no policy any more; its recorded cap holds')
    rule = found.rule
    cap = state.cap or (rule.max_attempts if rule else 0)
    failures = _episode(state, events)
    retried = rule is not None and not rule.quarantine
    pending = delays(rule, state.episode_attempt, cap) if rule and retried else []
    next_at = state.next_retry_at
    ends = None
    if rule is not None:
        # The next retry's time is drawn already: the bounds that remain run from it.
        after = from_iso(next_at) if next_at else None
        last = from_iso(failures[-1].at) if failures else None
        ends = give_up(
            rule,
            cap,
            first_failed=from_iso(state.first_failed_at) if state.first_failed_at else None,
            last_failed=after or last,
            pending=pending[1:] if after else pending,
            deadline=state.deadline,
        )
        if after and not pending[1:]:
            ends = GiveUp(ends.cap, ends.deadline, ends.max_age_seconds, next_at)
    trigger = state.trigger or (job.trigger if job else None)
    has_trigger = bool(trigger)
    runs = runs_with(rule, trigger, range(state.episode_attempt + 1, cap + 1)) if rule else []
    reason, why = _exhausted(events) if state.status is Status.EXHAUSTED else (None, None)
    reasons = why_not_now(
        state,
        now,
        cap=cap,
        deadline=ends.deadline if ends else state.deadline,
        has_trigger=has_trigger,
        holds=holds,
        exhausted_reason=reason,
        exhausted_why=why,
    )
    return Explanation(
        state, found, cap, failures, next_at, tuple(pending), ends, tuple(reasons),
        has_trigger, tuple(notes), tuple(runs),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class RuleTest:
    """What `policy test` says: the rule an error would get, its delays and its end."""

    job_id: str
    error: ErrorSpec
    names: tuple[str, ...]
    found: Match
    delays: tuple[Delay, ...]
    ends: GiveUp | None
    runs: tuple[str, ...] = ()  # what the next attempts run with, by the rule's overrides

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "error_type": self.error.type,
            "error_message": self.error.message,
            "error_code": self.error.code,
            "matched_names": list(self.names),
            "rule": self.found.name,
            "layer": self.found.layer.value,
            "matched": self.found.matched or None,
            "retry_rule": _rule_dict(self.found),
            "next_attempts": [d.as_dict() for d in self.delays],
            "runs_with": list(self.runs),
            "gives_up": self.ends.as_dict() if self.ends else None,
        }


def try_error(
    job_id: str,
    error: ErrorSpec,
    *,
    job: JobPolicy | None,
    settings: RetryPolicy,
    fallback: RetryRule,
) -> RuleTest:
    """The rule a first failure with `error` gets in a batch of the job that brings no
    policy of its own, recorded by a process with these `settings`."""
    facts = error.facts()
    found = match(facts, batch=None, job=job.retry if job else None, settings=settings,
                  fallback=fallback)  # fmt: skip
    rule = found.rule
    if rule is None or rule.quarantine:
        return RuleTest(job_id, error, facts.names, found, (), None)
    pending = delays(rule, 1, rule.max_attempts)
    ends = give_up(rule, rule.max_attempts, first_failed=None, last_failed=None, pending=())
    runs = runs_with(rule, job.trigger if job else None, range(2, rule.max_attempts + 1))
    return RuleTest(job_id, error, facts.names, found, tuple(pending), ends, tuple(runs))
