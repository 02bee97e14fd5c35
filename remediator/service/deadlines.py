"""Expected batches at their deadlines: found by the sweep through the due-index, at a cost
that does not grow with the number of jobs or periods.

Each scheduled job has one entry in the due-index (`DEADLINE#<n>`), due at its next
deadline (or its next look at a late or running batch). A sweep reads every `DEADLINE#`
shard for what has come due (a Query each, returning only those jobs), and for each job:
its schedule item (GetItem), the batches in question (one BatchGetItem of at most
`LIMIT` + the late ones), then one conditional write of the schedule's next step. Only the
replica whose step landed acts on it: a missing batch goes through the job's default
trigger as a backfill (unless a pause holds the job or that trigger's target), and one
DEADLINE_MISSED goes out per batch; a late batch that lands later gets the RECOVERED
(`deadline_met`) that ends it; a run past `max_run_seconds` gets one TOO_SLOW per attempt.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from observability.audit import ConditionFailed
from observability.audit.jobs import JobPolicy
from observability.audit.schedules import (
    JobSchedule,
    due_schedules,
    read_schedule,
    step_schedule,
)
from observability.errors import ObservabilityError
from observability.models import BatchState, iso
from observability.models.signals import (
    DEADLINE_MET,
    DEADLINE_MISSED,
    RECOVERED,
    TOO_SLOW,
    Signal,
)
from remediator.errors import RemediatorError
from remediator.ops.backfill import backfill
from remediator.ops.identity import Actor
from remediator.remediation import Outcome, Remediator
from remediator.remediation.lateness import Decision, decide, look

__all__ = ["DeadlineWatch"]

log = logging.getLogger("remediator.deadlines")


class DeadlineWatch:
    """One replica's deadline sweep; called by its sweeper after the retries."""

    def __init__(self, remediator: Remediator) -> None:
        self.remediator = remediator

    def due_jobs(self, now: datetime) -> list[str]:
        """The jobs whose schedule has come due, from every `DEADLINE#` shard (hints)."""
        return due_schedules(self.remediator.store, self.remediator.table.shards, now)

    def advance(self, progress: Callable[[], None] = lambda: None) -> Counter[str]:
        """Visit every job whose schedule is due; `progress` is called before each."""
        seen: Counter[str] = Counter()
        now = self.remediator.now()
        for job_id in self.due_jobs(now):
            if self.remediator.stopping.is_set():
                break
            progress()
            seen[self.visit(job_id, now)] += 1
        return seen

    def visit(self, job_id: str, now: datetime) -> str:
        """One job's due schedule: read, decide, step, act. Returns what happened."""
        r = self.remediator
        schedule = read_schedule(r.store, job_id)
        if schedule is None or schedule.due_at is None or schedule.due_at > iso(now):
            return "deadline_not_due"  # the index lagged behind a change
        seen = look(schedule, now)
        ids = seen.ids(schedule)
        states = r.store.get_many(job_id, ids, now)  # expired items are left out
        # The job's policy is read only when a batch never started. A pause, an open circuit
        # or a used-up budget holds its backfill as it holds a retry (remediation.gate).
        missing = any(e.batch_id not in states for e in seen.due)
        policy = r.context.jobs.get(job_id) if missing else None
        decision = decide(schedule, seen, states, now, can_trigger=bool(policy and policy.trigger))
        write = step_schedule(
            schedule, cursor=seen.cursor, checked_through=decision.checked_through,
            late=decision.late, slow=decision.flagged, next_at=decision.next_at,
            shards=r.table.shards,
        )  # fmt: skip
        try:
            r.store.commit(write)
        except ConditionFailed:
            return "deadline_conflict"  # another replica took this step
        self._act(schedule, decision, now)
        r.metrics.emit(
            job_id,
            {"BatchesLate": len(decision.late), "FreshnessLagSeconds": decision.lag_seconds(now)},
        )
        return "deadline_checked"

    def _act(self, schedule: JobSchedule, decision: Decision, now: datetime) -> None:
        r = self.remediator
        job_id = schedule.job_id
        actor = Actor(r.context.actor)
        outcomes: dict[str, str] = {}
        for batch_id in decision.trigger:
            try:
                done = backfill(r, job_id, batch_id, actor=actor, reason="deadline", guarded=True)
                outcomes[batch_id] = _said(done)
            except (ObservabilityError, RemediatorError) as exc:
                # Its alert still goes out; the batch stays late and is paged as such.
                log.warning("deadline backfill of %s/%s failed: %s", job_id, batch_id, exc)
                outcomes[batch_id] = "failed"
        for batch_id, due, state in decision.missed:
            if state is None:
                kind = outcomes.get(batch_id)
                what = "never started; " + (
                    "triggered through the job's default trigger"
                    if kind in ("triggered", "triggered_unrecorded")
                    else f"its backfill: {kind}"
                    if kind
                    else "not triggered (the job has no default trigger)"
                )
            else:
                what = f"{state.status.value} at attempt {state.attempt}"
            message = f"due by {iso(due)}; {what}"
            r.alarms.alert(_signal(DEADLINE_MISSED, job_id, batch_id, state, now, message))
        if decision.unpaged:
            first, last, n = decision.unpaged[0], decision.unpaged[-1], len(decision.unpaged)
            message = (f"{n} more expected batches past their deadline, not paged one by one: "
                       f"{first} .. {last} (remediator schedule show {job_id})")  # fmt: skip
            # One id for every summary of the job: PagerDuty keeps them one incident.
            summary = _signal(DEADLINE_MISSED, job_id, "late-batches", None, now, message)
            r.alarms.alert(dataclasses.replace(summary, reason="many_late"))
        for _batch_id, state in decision.met:
            r.alarms.alert(
                Signal.of(RECOVERED, state, at=iso(now), reason=DEADLINE_MET, actor=r.context.actor)
            )
        for state in decision.slow:
            limit = schedule.calendar.max_run_seconds if schedule.calendar else 0
            message = f"running since {state.started_at}, past max_run_seconds {limit}"
            r.alarms.alert(_signal(TOO_SLOW, job_id, state.batch_id, state, now, message))
            r.metrics.emit(job_id, {"TooSlow": 1})
            if _names_too_slow(r.context.jobs.get(job_id)):
                # The job's policy treats it as a failure: FAILED (TooSlow), retried by its rule.
                r.count(r.closer.stale(state, now, too_slow=message))
        with r.context.lock:
            r.counts["deadline_missed"] += len(decision.missed) + len(decision.unpaged)
            r.counts["deadline_met"] += len(decision.met)
            r.counts["too_slow"] += len(decision.slow)
            r.counts["deadline_backfill"] += len(decision.trigger)


def _names_too_slow(policy: JobPolicy | None) -> bool:
    """Whether the job's retry policy names `TooSlow` (a rule's error, or never): then a run
    past `max_run_seconds` is a failure, as a dead one is `Stale`; else it is only told."""
    retry = policy.retry if policy else None
    if retry is None:
        return False
    return any("TooSlow" in rule.errors for rule in retry.rules) or "TooSlow" in retry.never


def _said(outcome: Outcome) -> str:
    """A backfill's outcome as the late batch's alert tells it."""
    if outcome.kind == "budget":
        return "budget (the fleet's re-trigger budget is used up: it goes next minute)"
    if outcome.kind == "paused" and "pause" in outcome.detail:
        return f"paused (the {outcome.detail['pause']} is paused: it goes when the pause ends)"
    if outcome.kind == "paused":
        circuit = f"target {outcome.detail['target']}" if "target" in outcome.detail else "job"
        return f"paused (the {circuit}'s circuit is open: it goes at {outcome.detail['until']})"
    return outcome.kind


def _signal(
    event: str, job_id: str, batch_id: str, state: BatchState | None, now: datetime, message: str
) -> Signal:
    """An alert about one expected batch; one never written has attempt 0 and no status."""
    if state is not None:
        base = Signal.of(event, state, at=iso(now), reason=event.lower())
        return dataclasses.replace(base, error_message=message)
    return Signal(
        event=event, job_id=job_id, batch_id=batch_id, attempt=0, version=0, status="MISSING",
        error_type=None, error_message=message, retryable=True, trace_id=None, at=iso(now),
        reason="never_started",
    )  # fmt: skip
