"""Recording AWS state-change events in the audit trail, then acting on a failure at once.

Two kinds of run are recorded. A run the remediator triggered (its `PIPELINE_*` variables
name the batch and attempt) that stopped abnormally becomes FAILED with its exit code and
stop reason, at once rather than at its stale deadline. A run of an opted-in source (a Glue
job, a state machine: `remediator policy set JOB --source ...`) is recorded as a batch of
its job: STARTED, SUCCESS, FAILED. Each write is one conditional write planned from the
item as it stands (remediator.events.plan), so duplicates and late events change nothing.
A failure then goes where a producer's signal goes (`Remediator.handle_signal`): the same
policies, caps, pauses, budget and alerts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from observability.audit import ConditionFailed
from observability.clients import AwsClients
from observability.errors import StoreUnavailable
from observability.models import BatchState, Status, from_iso, iso
from observability.models.keys import BatchKey, source_key
from observability.models.signals import EXHAUSTED, FAILED, Signal
from observability.retry import judge
from observability.retry.backoff import Exhaust
from observability.retry.match import ErrorFacts
from observability.transitions import TableConfig, Write, failure, start_again, start_new, success
from observability.triggers import trigger_from_dict
from remediator.events.parse import STARTED, SUCCESS, StateChange, identity_of, rerun_of
from remediator.events.plan import LATER, RECORD, source_steps, stop_decision, stopped
from remediator.events.sources import source_of
from remediator.remediation import Remediator
from remediator.remediation.context import Outcome
from remediator.triggers.sources import rerun_trigger

__all__ = ["EventRecorder", "EventsUnavailable"]

log = logging.getLogger("remediator.events")
_ROUNDS = 4  # plans from a fresher item when another writer got there first


class EventsUnavailable(StoreUnavailable):
    """AWS could not be asked about a run (GetJobRun): the event comes back later."""


class EventRecorder:
    """One replica's reader of state changes; thread-safe."""

    def __init__(
        self,
        remediator: Remediator,
        clients: AwsClients,
        *,
        cache_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.remediator = remediator
        self.context = remediator.context
        self.clients = clients
        self.cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._jobs: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    # -- who the run is for -----------------------------------------------------------

    def job_of(self, source: str) -> str | None:
        """The job that opted `source` in (cached like job policies), or None."""
        now = self._monotonic()
        with self._lock:
            hit = self._jobs.get(source)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        pk, sk = source_key(source)
        item = self.context.store.other_item({"pk": {"S": pk}, "sk": {"S": sk}})
        job = (item or {}).get("job_id")
        with self._lock:
            self._jobs[source] = (now, job)
        return job if isinstance(job, str) else None

    def _glue_run(self, job_name: str, run_id: str) -> dict[str, Any]:
        try:
            reply = self.clients.client("glue").get_job_run(JobName=job_name, RunId=run_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
                return {}
            raise EventsUnavailable(f"GetJobRun {job_name}/{run_id}: {exc}") from exc
        except BotoCoreError as exc:
            raise EventsUnavailable(f"GetJobRun {job_name}/{run_id}: {exc}") from exc
        run = reply.get("JobRun")
        return run if isinstance(run, dict) else {}

    def handle(self, change: StateChange) -> Outcome:
        """Record one state change; Outcome "later" asks for the event to be seen again."""
        if not change.phase:  # still running, or a clean exit the run records itself
            return Outcome("event_ignored", change.run_id, detail={"why": "nothing to record"})
        if change.service in ("glue", "states"):
            job = self.job_of(source_of(change.service, change.name))
            if job is not None:
                return self.context.count(self._source(job, change))
        if change.phase != FAILED:
            return Outcome("event_ignored", change.run_id, detail={"why": "not a source's run"})
        identity = change.identity
        if identity is None and change.service == "glue":
            identity = identity_of(self._glue_run(change.name, change.run_id).get("Arguments"))
        if identity is None:
            return Outcome("event_ignored", change.run_id, detail={"why": "not a triggered run"})
        key = BatchKey.of(identity.job_id, identity.batch_id)
        return self.context.count(self._stopped(key, identity.attempt, change))

    # -- a triggered run that stopped ---------------------------------------------------

    def _stopped(self, key: BatchKey, attempt: int, change: StateChange) -> Outcome:
        c = self.context
        for _ in range(_ROUNDS):
            now = c.now()
            state = c.store.get(key, now)
            decision, why = stop_decision(state, attempt)
            if decision != RECORD or state is None:
                kind = "event_later" if decision == LATER else "event_ignored"
                return Outcome(kind, key.token, attempt, {"why": why})
            job = c.job(key.job_id)
            verdict, governed = judge(
                stored=state.retry, names=_facts(change, "RunStopped"),
                job=job.retry if job else None, fallback=c.fallback, attempt=attempt,
                attempt_floor=state.attempt_floor,
                first_failed_at=from_iso(state.first_failed_at) if state.first_failed_at else None,
                cap_override=state.cap_override, has_trigger=bool(c.trigger_of(state)),
                now=now, rng=c.rng,
            )  # fmt: skip
            write = stopped(
                state, c.table, change=change, actor=c.actor, now=now, verdict=verdict,
                governed=governed, beside=c.beside(),
            )  # fmt: skip
            try:
                after = c.store.update(write)
            except ConditionFailed:
                continue
            reason = verdict.reason if isinstance(verdict, Exhaust) else None
            return self._failed(after, now, reason)
        return Outcome("event_conflict", key.token, attempt)

    def _failed(self, after: BatchState, now: datetime, reason: str | None) -> Outcome:
        """Where a recorded failure goes next: a producer's signal's way, or its alert."""
        c, r = self.context, self.remediator
        c.metrics.emit(after.job_id, {"JobFailureCount": 1})
        log.warning(
            "run stopped: recorded FAILED",
            extra={"job_id": after.job_id, "batch_id": after.batch_id, "attempt": after.attempt,
                   "error_type": after.error_type},
        )  # fmt: skip
        if after.status is Status.EXHAUSTED:
            c.metrics.emit(after.job_id, {"RemediationExhausted": 1})
            r.alarms.alert(Signal.of(EXHAUSTED, after, at=iso(now), reason=reason, actor=c.name))
            return Outcome("exhausted", after.key.token, after.attempt, {"reason": reason or ""})
        r.handle_signal(Signal.of(FAILED, after, at=iso(now), actor=c.name))
        return Outcome("event_failed", after.key.token, after.attempt)

    # -- an opted-in source's run ----------------------------------------------------

    def _source(self, job_id: str, change: StateChange) -> Outcome:
        started_at = change.started_at
        if change.service == "glue":
            run = self._glue_run(change.name, change.run_id)
            found = identity_of(run.get("Arguments"))
            batch, attempt = (found.batch_id, found.attempt) if found else (change.run_id, 1)
            started = run.get("StartedOn")
            started_at = started if isinstance(started, datetime) else None
        else:
            batch, attempt = rerun_of(change.execution) or (change.execution, change.redrives + 1)
        key = BatchKey.of(job_id, batch)
        source = source_of(change.service, change.name)
        run_id = f"{change.run_id}#{change.redrives}" if change.redrives else change.run_id
        for _ in range(_ROUNDS):
            now = self.context.now()
            state = self.context.store.get(key, now)
            steps = source_steps(state, attempt, change.phase)
            if not steps:
                return Outcome("event_ignored", key.token, attempt, {"why": "recorded already"})
            try:
                for step in steps:
                    state = self._step(step, key, state, change, source, run_id, started_at, now)
            except ConditionFailed:
                continue
            assert state is not None
            if state.status in (Status.FAILED, Status.EXHAUSTED) and steps[-1] == "finish":
                return self._failed(state, now, _exhausted_reason(state))
            if state.status is Status.SUCCESS:
                self.context.metrics.emit(job_id, {"JobSuccess": 1})
            return Outcome(f"event_{state.status.value.lower()}", key.token, state.attempt)
        return Outcome("event_conflict", key.token, attempt)

    def _step(
        self,
        step: str,
        key: BatchKey,
        state: BatchState | None,
        change: StateChange,
        source: str,
        run_id: str,
        started_at: datetime | None,
        now: datetime,
    ) -> BatchState:
        c, table = self.context, self.context.table
        at = min(started_at or change.at, change.at)
        if step == "new":
            trace = uuid.uuid4().hex
            trigger = trigger_from_dict(rerun_trigger(source)).to_json()
            write: Write = start_new(
                key, table, now=at, run_id=run_id, trace_id=trace, actor=f"aws.{change.service}",
                trigger_json=trigger, incarnation=trace[:16],
            )  # fmt: skip
        elif step == "again":
            assert state is not None
            write = start_again(
                state, table, now=at, run_id=run_id, actor=f"aws.{change.service}",
                trigger_json=None,
            )  # fmt: skip
        else:
            assert state is not None
            write = self._finish(state, change, table, now)
        return c.store.update(write)

    def _finish(
        self, run: BatchState, change: StateChange, table: TableConfig, now: datetime
    ) -> Write:
        c = self.context
        actor = f"aws.{change.service}"
        if change.phase == SUCCESS:
            return success(run, table, now=change.at, actor=actor)
        assert change.phase != STARTED
        job = c.job(run.job_id)
        verdict, governed = judge(
            stored=run.retry, names=_facts(change, "RunFailed"),
            job=job.retry if job else None, fallback=c.fallback, attempt=run.attempt,
            attempt_floor=run.attempt_floor,
            first_failed_at=from_iso(run.first_failed_at) if run.first_failed_at else None,
            cap_override=run.cap_override, has_trigger=True, now=now, rng=c.rng,
        )  # fmt: skip
        return failure(
            run, table, now=change.at, actor=actor, error_type=change.error_type or "RunFailed",
            error_message=change.message or "", retryable=governed.rule != "never",
            verdict=verdict, governed=governed, exit_code=change.exit_code,
            stop_reason=change.reason,
        )  # fmt: skip


def _facts(change: StateChange, default: str) -> ErrorFacts:
    """The stopped run as rules read it: `exit_code` and `reason` match AWS's own words."""
    return ErrorFacts(
        names=(change.error_type or default,),
        message=change.message or "",
        exit_code=change.exit_code,
        reason=change.reason,
    )


def _exhausted_reason(state: BatchState) -> str | None:
    """Why an EXHAUSTED batch is (its last EXHAUSTED event's `reason`), for the alert."""
    for event in reversed(state.events or ()):
        if event.get("event") == EXHAUSTED and isinstance(event.get("detail"), str):
            reason = json.loads(event["detail"]).get("reason")
            return reason if isinstance(reason, str) else None
    return None
