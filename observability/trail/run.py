"""One run's writes: STARTED, heartbeats, the outcome, the signal; each planned by
`observability.transitions` and executed by the store, with its read-back when a reply is lost."""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from observability.audit.confirm import apply_confirmed
from observability.audit.jobs import JobPolicies, JobPolicy
from observability.audit.registry import JobRegistry
from observability.audit.shape import agreed_shards
from observability.audit.store import AuditStore, ConditionFailed
from observability.errors import (
    BatchAlreadyRunning,
    ObservabilityError,
    OutcomeUnknown,
    RunSuperseded,
    StoreUnavailable,
)
from observability.models.describe import describe_exception, truncate
from observability.models.keys import BatchKey
from observability.models.records import BatchState, Status, from_iso, iso
from observability.models.signals import EXHAUSTED, FAILED, RECOVERED, Signal
from observability.notifier import Notifier
from observability.retry.backoff import Exhaust, RetryRule
from observability.retry.rules import RetryPolicy, StoredRetry, error_names, judge
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from observability.trail import shapes
from observability.trail.batch import BatchRun
from observability.trail.pulse import pulse
from observability.transitions import (
    TableConfig,
    Write,
    applied,
    failure,
    heartbeat,
    holder,
    start_again,
    start_new,
    success,
)
from observability.triggers import Trigger

__all__ = ["RunWrites"]

log = logging.getLogger("observability")

_KNOWN_LIMIT = 10_000
_START_ROUNDS = 4


def _still_ours(current: BatchState, run: BatchState) -> bool:
    return (
        current.run_id == run.run_id
        and current.status is Status.STARTED
        and current.version == run.version
    )


class RunWrites:
    """One run's writes, from STARTED to its outcome, and what this process last saw of
    each batch. The base of `AuditTrail`, which builds every attribute declared here."""

    settings: Settings
    store: AuditStore
    notifier: Notifier
    metrics: Metrics
    actor: str
    publish_failures: bool
    defaults: RetryPolicy
    jobs: JobPolicies
    registry: JobRegistry
    table: TableConfig
    _clock: Callable[[], datetime]
    _rng: random.Random
    _fallback: RetryRule
    _stored_defaults: str
    _warned: set[str]
    _warn_lock: threading.Lock
    _unconfirmed: set[str]
    _shape_agreed: threading.Event
    _shape_lock: threading.Lock
    _known: OrderedDict[BatchKey, BatchState]
    _lock: threading.Lock

    def now(self) -> datetime:
        return self._clock()

    def _agree_on_shape(self) -> None:
        """Once per process, before the first write: the shard count the table declares."""
        if self._shape_agreed.is_set():
            return  # every batch after the first: no lock taken
        with self._shape_lock:
            if self._shape_agreed.is_set():
                return
            shards = agreed_shards(self.store.shape(), self.settings)
            self.table = dataclasses.replace(self.table, shards=shards)
            self._shape_agreed.set()

    def _warn_without_trigger(self, job_id: str) -> None:
        """Once per job per process, from any number of threads, at its first failure with
        nothing to re-run it (no trigger given, stored, or set for its job): the policy is
        read there anyway, so a batch that succeeds never pays a read for the warning."""
        with self._warn_lock:
            if job_id in self._warned:
                return
            self._warned.add(job_id)
        log.warning(
            "batches of job %s have no trigger: their failures are alerted, never "
            "retried (pass trigger=..., or set one for the job: remediator policy set "
            "%s --trigger ...)",
            job_id,
            job_id,
        )

    # -- transitions ----------------------------------------------------------------------

    def _remember(self, state: BatchState) -> None:
        with self._lock:
            self._known[state.key] = state
            self._known.move_to_end(state.key)
            while len(self._known) > _KNOWN_LIMIT:
                self._known.popitem(last=False)

    def _recall(self, key: BatchKey) -> BatchState | None:
        with self._lock:
            return self._known.get(key)

    def _start(
        self,
        key: BatchKey,
        trigger: Trigger | None,
        retry: RetryPolicy | None = None,
        *,
        trace_id: str | None = None,
    ) -> BatchRun:
        self._agree_on_shape()
        now = self.now()
        run_id = uuid.uuid4().hex
        trigger_json = trigger.to_json() if trigger else None
        given = StoredRetry(retry, self.defaults).to_json() if retry else None

        def retry_json(prev: BatchState | None) -> str:
            """The policy the batch brought now, else the one it brought before (a policy
            travels with its batch, re-runs included), with this process's defaults."""
            if given is not None:
                return given
            if prev is None or not prev.retry or prev.retry == self._stored_defaults:
                return self._stored_defaults
            kept = StoredRetry.from_json(prev.retry)
            own = kept.own if kept else None
            return StoredRetry(own, self.defaults).to_json() if own else self._stored_defaults

        def plan(prev: BatchState | None) -> tuple[BatchState | None, Write]:
            if prev is None:
                return None, start_new(
                    key, self.table, now=now, run_id=run_id, trace_id=trace_id or run_id,
                    actor=self.actor, trigger_json=trigger_json, incarnation=run_id[:16],
                    retry_json=retry_json(None),
                )  # fmt: skip
            held = holder(prev, now, self.settings.stale_after_seconds)
            if held and prev.run_id not in self._unconfirmed:
                raise BatchAlreadyRunning(key.job_id, key.batch_id, *held)
            return prev, start_again(
                prev, self.table, now=now, run_id=run_id, actor=self.actor,
                trigger_json=trigger_json, retry_json=retry_json(prev), trace_id=trace_id,
            )  # fmt: skip

        # Optimistic: what this process last saw (from pending(), get() or its own writes)
        # is usually current, so the first write normally commits; a rejected one hands back
        # the item as it stands and is planned again.
        known = self._recall(key)
        if known is not None and holder(known, now, self.settings.stale_after_seconds):
            known = self.store.get(key, now)
        prev, write = plan(known)
        for _ in range(_START_ROUNDS):
            try:
                apply_confirmed(self.store, write)
                break
            except OutcomeUnknown as unknown:
                with self._lock:
                    self._unconfirmed.add(run_id)
                raise OutcomeUnknown(
                    f"{key.job_id}/{key.batch_id}: STARTED may have been recorded ({unknown}); "
                    "the work was not run, and this process starts the batch again at once"
                ) from unknown
            except ConditionFailed as lost:
                old = lost.old
                if old is None:
                    current = self.store.get(key, now)
                else:
                    current = BatchState.from_item(old)
                    if current.expires_at and current.expires_at <= int(now.timestamp()):
                        current = None
                prev, write = plan(current)
        else:
            raise BatchAlreadyRunning(key.job_id, key.batch_id, "concurrent writers", iso(now))
        state = applied(prev, write)
        self._remember(state)
        self.metrics.emit(key.job_id, {"JobStarted": 1})
        log.info(
            "batch started",
            extra={
                "job_id": key.job_id,
                "batch_id": key.batch_id,
                "attempt": state.attempt,
                "trace_id": state.trace_id,
            },
        )
        return BatchRun(self, state)

    def _beat(self, run: BatchRun) -> None:
        """Heartbeat `run` from another thread while it runs, first one interval from now."""
        every = self.settings.heartbeat_seconds
        if every > 0:
            run._stop_beats = pulse().add(run._beat_alone, every)

    def _finish(self, run: BatchRun, exc: BaseException | None) -> None:
        if shapes.clean_exit(exc):
            self._succeed(run)
        else:
            assert exc is not None
            self._fail(run, exc)

    def _commit_own(self, run: BatchRun, plan: Callable[[BatchState], Write]) -> BatchState:
        """Write this run's outcome, planned from the item as this process knows it. A write
        whose reply was lost is read back (observability.audit.confirm): `run.read_back` says so."""
        prev = run.state
        for _ in range(_START_ROUNDS):
            write = plan(prev)
            try:
                run.read_back = apply_confirmed(self.store, write)
                break
            except ConditionFailed as lost:
                current = BatchState.from_item(lost.old) if lost.old else None
            if current is not None and _still_ours(current, run.state):
                # Still this run's batch: only its history list moved on (an event recorded
                # without a new version). Plan again from the item as it stands.
                prev = current
                continue
            self._forget(run.state.key)
            raise RunSuperseded(
                f"run {run.run_id} of {run.job_id}/{run.batch_id} no longer owns the batch "
                f"(now {current.status.value if current else 'unknown'}, "
                f"attempt {current.attempt if current else '?'}); result not recorded"
            )
        else:
            raise StoreUnavailable(
                f"{run.job_id}/{run.batch_id}: the outcome was refused {_START_ROUNDS} times"
            )
        state = applied(prev, write)
        self._remember(state)
        run.state = state
        return state

    def _forget(self, key: BatchKey) -> None:
        with self._lock:
            self._known.pop(key, None)

    def _succeed(self, run: BatchRun) -> None:
        now = self.now()
        first_failed = run.state.first_failed_at
        was_alerted = run.state.alerted
        state = self._commit_own(
            run, lambda prev: success(prev, self.table, now=now, actor=self.actor)
        )
        self.registry.noted(run.job_id, now, success=True)  # once per job per process, then 5 min
        values: dict[str, float] = {"JobSuccess": 1, "JobDurationMs": state.duration_ms or 0}
        if first_failed:
            values["TimeToRecoverySeconds"] = (now - from_iso(first_failed)).total_seconds()
        self.metrics.emit(run.job_id, values)
        log.info("batch succeeded", extra={"duration_ms": state.duration_ms})
        if was_alerted and self.publish_failures:
            # Only a batch that paged someone announces its recovery: the floor stays 2 calls.
            self._publish(Signal.of(RECOVERED, state, at=iso(now), actor=self.actor), None)

    def _job_retry(self, job_id: str) -> JobPolicy | None:
        try:
            return self.jobs.get(job_id)
        except ObservabilityError as exc:
            # The failure must be recorded all the same: by the batch's and its defaults.
            log.warning("job policy of %s not read, deciding without it: %s", job_id, exc)
            return None

    def _fail(self, run: BatchRun, exc: BaseException) -> None:
        """Record the failure and signal it; never masks the pipeline's own exception."""
        from observability.retry.match import ErrorFacts, error_code  # the first failure's

        now = self.now()
        job = self._job_retry(run.job_id)
        state = run.state
        error_type, message = describe_exception(exc)
        message = shapes.exit_message(exc) or message
        # Read once, here: the code is stored beside the type, for the remediator and explain.
        code = error_code(exc)
        has_trigger = bool(state.trigger or (job and job.trigger))
        if not has_trigger:
            self._warn_without_trigger(run.job_id)
        verdict, governed = judge(
            stored=state.retry,
            names=ErrorFacts(error_names(exc), truncate(message), code),
            job=job.retry if job else None,
            fallback=self._fallback,
            attempt=state.attempt,
            attempt_floor=state.attempt_floor,
            first_failed_at=from_iso(state.first_failed_at) if state.first_failed_at else None,
            cap_override=state.cap_override,
            has_trigger=has_trigger,
            now=now,
            rng=self._rng,
        )
        retryable = governed.rule != "never" and verdict != Exhaust("quarantined")

        def plan(prev: BatchState) -> Write:
            return failure(
                prev, self.table, now=now, actor=self.actor, error_type=error_type,
                error_message=message, retryable=retryable, verdict=verdict, governed=governed,
                error_code=code,
            )  # fmt: skip

        try:
            state = self._commit_own(run, plan)
        except OutcomeUnknown as unknown:
            log.error("failure of batch may not be recorded: %s", unknown)
            exc.add_note(f"observability: whether the failure was recorded is unknown: {unknown}")
            return
        except (StoreUnavailable, RunSuperseded) as record_error:
            log.error("failure of batch not recorded: %s", record_error)
            exc.add_note(f"observability: the failure was not recorded: {record_error}")
            return
        if run.read_back:
            exc.add_note("observability: the failure was recorded (its reply was lost; read back)")
        exhausted = isinstance(verdict, Exhaust)
        values: dict[str, float] = {"JobFailureCount": 1, "JobDurationMs": state.duration_ms or 0}
        if exhausted:
            values["RemediationExhausted"] = 1
        self.metrics.emit(run.job_id, values)
        # No traceback here: the exception is re-raised, and whoever catches it prints it once.
        log.error(
            "batch %s/%s attempt %d failed: %s: %s",
            run.job_id,
            run.batch_id,
            run.attempt,
            error_type,
            message,
            extra={
                "error_type": error_type,
                "error_code": code,
                "retryable": retryable,
                "rule": governed.rule,
                "why": governed.why,
                "next_retry_at": state.next_retry_at,
                "exhausted": exhausted,
            },
        )
        if self.publish_failures:
            signal = Signal.of(
                EXHAUSTED if exhausted else FAILED,
                state,
                at=iso(now),
                reason=verdict.reason if isinstance(verdict, Exhaust) else None,
                actor=self.actor,
            )
            self._publish(signal, exc)
        self.registry.noted(run.job_id, now, success=False)  # after the signal: once per process

    def _publish(self, signal: Signal, exc: BaseException | None) -> None:
        try:
            self.notifier.publish(signal)
        except ObservabilityError as publish_error:
            # A retryable failure is already in the retry index: the sweep still finds it.
            log.error("%s signal not published: %s", signal.event, publish_error)
            if exc is not None:
                exc.add_note(f"observability: the signal was not published: {publish_error}")

    def _heartbeat(self, state: BatchState, now: datetime) -> BatchState:
        try:
            new = self.store.update(heartbeat(state, self.table, now=now))
        except ConditionFailed:
            self._forget(state.key)
            raise RunSuperseded(
                f"run {state.run_id} of {state.job_id}/{state.batch_id} lost its batch"
            ) from None
        self._remember(new)
        return new
