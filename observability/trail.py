"""The facade pipelines use: `AuditTrail`, its `batch(...)` context manager, `pending(...)`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from observability import forksafe, shapes
from observability.audit import AuditStore, ConditionFailed
from observability.backoff import Exhaust, RetryRule
from observability.clients import AwsClients, default_clients
from observability.clock import SkewClock
from observability.confirm import apply_confirmed
from observability.describe import describe_exception
from observability.errors import (
    BatchAlreadyRunning,
    ConcurrentChange,
    InvalidInput,
    ObservabilityError,
    OutcomeUnknown,
    RunSuperseded,
    StoreUnavailable,
)
from observability.jobs import JobPolicies, JobPolicy, change_policy
from observability.keys import BatchKey, validate_id
from observability.logger import bind
from observability.metrics import Metrics
from observability.models import AuditEvent, BatchState, Status, from_iso, iso
from observability.notifier import Notifier
from observability.pulse import pulse
from observability.retry import RetryPolicy, StoredRetry, error_names, judge
from observability.runtrace import RunTrace
from observability.settings import Settings, load_settings
from observability.shape import agreed_shards
from observability.signals import EXHAUSTED, FAILED, RECOVERED, Signal
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

if TYPE_CHECKING:
    from opentelemetry.context import Context

__all__ = ["AuditTrail", "Batch", "BatchRun"]

log = logging.getLogger("observability")

P = ParamSpec("P")
R = TypeVar("R")

_KNOWN_LIMIT = 10_000
_UNSET = object()
_START_ROUNDS = 4


def _still_ours(current: BatchState, run: BatchState) -> bool:
    return (
        current.run_id == run.run_id
        and current.status is Status.STARTED
        and current.version == run.version
    )


def default_actor() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class BatchRun:
    """One run of one batch, handed out by `with trail.batch(...) as run`."""

    def __init__(self, trail: AuditTrail, state: BatchState) -> None:
        self._trail = trail
        self.state = state
        self._last_beat = trail.now()
        # The automatic heartbeat (another thread) and this run's owner share `state`.
        self._guard = threading.Lock()
        self._ended = False
        self._stop_beats: Callable[[], None] | None = None
        self.read_back = False  # the outcome's reply was lost; the item was read back

    job_id = property(lambda self: self.state.job_id)
    batch_id = property(lambda self: self.state.batch_id)
    attempt = property(lambda self: self.state.attempt)
    trace_id = property(lambda self: self.state.trace_id)
    run_id = property(lambda self: self.state.run_id)

    def heartbeat(self, *, force: bool = False) -> bool:
        """Tell the remediator this run is alive; returns True when a write was made.

        Cheap to call in a loop: at most one write per quarter of the stale window (and at
        most one a minute) unless `force`. Raises RunSuperseded when the run lost its batch;
        after the batch ended there is nothing to keep alive: False, no write.
        """
        with self._guard:
            if self._ended:
                return False
            now = self._trail.now()
            interval = min(self._trail.settings.stale_after_seconds / 4, 60.0)
            if not force and (now - self._last_beat).total_seconds() < interval:
                return False
            self.state = self._trail._heartbeat(self.state, now)
            self._last_beat = now
            return True

    def _beat_alone(self) -> bool:
        """The automatic heartbeat's beat; False once the run needs no more."""
        try:
            self.heartbeat(force=True)
        except RunSuperseded as lost:
            log.warning("%s", lost)
            return False
        except ObservabilityError as exc:  # the next beat may get through
            log.warning("heartbeat of %s/%s not written: %s", self.job_id, self.batch_id, exc)
        return not self._ended

    def _end(self) -> None:
        """No beat after this (one in flight is waited for): the outcome is written next."""
        with self._guard:
            self._ended = True
        if self._stop_beats is not None:
            self._stop_beats()


class Batch:
    """`with trail.batch(job, batch) as run:` or `@trail.batch(job, batch)`."""

    def __init__(
        self,
        trail: AuditTrail,
        key: BatchKey,
        trigger: Trigger | None,
        retry: RetryPolicy | None = None,
        parent: Context | None = None,
    ) -> None:
        self._trail = trail
        self.key = key
        self.trigger = trigger
        self.retry = retry
        self.parent = parent
        self._stack: list[tuple[BatchRun, ExitStack, RunTrace]] = []

    def __enter__(self) -> BatchRun:
        traced = RunTrace.begin(self.key, self.parent, self._trail._recall, self._trail.actor)
        try:
            run = self._trail._start(self.key, self.trigger, self.retry, trace_id=traced.trace_id)
        except BaseException as exc:
            traced.abort(exc)
            raise
        return self._entered(run, traced)

    async def __aenter__(self) -> BatchRun:
        traced = RunTrace.begin(self.key, self.parent, self._trail._recall, self._trail.actor)
        try:  # writes in a worker thread (with this context): the event loop runs on
            run = await asyncio.to_thread(
                self._trail._start, self.key, self.trigger, self.retry, trace_id=traced.trace_id
            )
        except BaseException as exc:
            traced.abort(exc)
            raise
        return self._entered(run, traced)

    def _entered(self, run: BatchRun, traced: RunTrace) -> BatchRun:
        traced.started(run.state)
        context = ExitStack()
        context.enter_context(
            bind(
                job_id=run.job_id,
                batch_id=run.batch_id,
                attempt=run.attempt,
                trace_id=run.trace_id,
            )
        )
        self._stack.append((run, context, traced))
        self._trail._beat(run)
        return run

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        run, context, traced = self._stack.pop()
        run._end()
        with context, traced.finishing(run, exc):
            self._trail._finish(run, exc)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        run, context, traced = self._stack.pop()
        run._end()
        with context, traced.finishing(run, exc):
            await asyncio.to_thread(self._trail._finish, run, exc)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """A fresh batch per call, over the whole of the work: awaited for a coroutine
        function, iterated for a generator function (see observability.shapes)."""

        def fresh() -> Batch:
            return Batch(self._trail, self.key, self.trigger, self.retry, self.parent)

        return shapes.wrap(fn, fresh, fresh)


class AuditTrail:
    """Records every batch transition in DynamoDB and screams on SNS when one fails.

    Everything is injectable for tests (clients, clock, random source, metrics sink);
    by default settings come from the environment and clients are the process-wide ones.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clients: AwsClients | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
        actor: str | None = None,
        publish_failures: bool = True,
        non_retryable: Sequence[type[BaseException]] = (),
    ) -> None:
        self.settings = settings or load_settings()
        self.clients = clients or default_clients(self.settings.region)
        self.store = AuditStore(self.clients, self.settings.table_name)
        self.notifier = Notifier(self.clients, self.settings.topic_arn)
        self.metrics = metrics or Metrics(
            self.settings.metrics_namespace, enabled=self.settings.metrics_enabled
        )
        # Its own clock corrected by the offset measured from AWS's (an injected one as is).
        self._clock = SkewClock.unless_given(clock, self.clients.listen_dates, self._skew_measured)
        self._rng = rng or random.Random()
        self.actor = actor or default_actor()
        self.publish_failures = publish_failures
        # The defaults this process records with every batch that brings no policy of its
        # own: its settings, and the exception classes it was told never to retry.
        never = [k.__name__ for k in non_retryable]
        self.defaults = RetryPolicy.from_settings(self.settings, never=never)
        self._fallback = RetryRule.from_settings(self.settings)
        self._stored_defaults = StoredRetry(None, self.defaults).to_json()
        self.jobs = JobPolicies(
            self.store.job_policy, cache_seconds=self.settings.policy_cache_seconds
        )
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()
        # Runs whose STARTED went out with no answer and no read-back: this process knows
        # they never ran, so it does not wait for their stale deadline to start them again.
        self._unconfirmed: set[str] = set()
        self.table = TableConfig(
            shards=self.settings.retry_shards,
            stale_after_seconds=self.settings.stale_after_seconds,
            ttl_days=self.settings.ttl_days,
        )
        self._shape_agreed = threading.Event()
        self._shape_lock = threading.Lock()
        self._known: OrderedDict[BatchKey, BatchState] = OrderedDict()
        self._lock = threading.Lock()
        forksafe.renew_locks(self, "_lock", "_shape_lock", "_warn_lock")

    def now(self) -> datetime:
        return self._clock()

    def _skew_measured(self, seconds: float) -> None:
        self.metrics.emit(None, {"ClockSkewSeconds": seconds})

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

    # -- public API -----------------------------------------------------------------------

    def connect(self) -> AuditTrail:
        """Read the table's shape now (the first batch does it otherwise): for a Lambda's
        init phase, so that no invocation pays it. Raises ConfigError when this process's
        REMEDIATOR_RETRY_SHARDS disagrees with the table's."""
        self._agree_on_shape()
        return self

    def batch(
        self,
        job_id: str,
        batch_id: str | int,
        *,
        trigger: Trigger | None = None,
        retry: RetryPolicy | None = None,
        parent: Context | None = None,
    ) -> Batch:
        """Wrap one batch: STARTED now, SUCCESS on normal exit, FAILED (re-raised) on error.

        `trigger` says how the remediator re-runs exactly this batch; `retry` how its
        failures are retried (else the job's policy, else this process's settings). Validates
        everything before any write: ids, trigger, policy, and the topic a failure needs.
        `parent` is the trace context the run was started in (`context_from(message)` of
        the trigger that re-runs it): the run joins that trace, and its trace id is stored.
        """
        key = BatchKey.of(job_id, batch_id)
        if trigger is not None and not isinstance(trigger, Trigger):
            raise InvalidInput("trigger", f"must be a Trigger, got {type(trigger).__name__}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidInput("retry", f"must be a RetryPolicy, got {type(retry).__name__}")
        if self.publish_failures:
            self.notifier.require_topic()
        return Batch(self, key, trigger, retry, parent)

    def job_policy(self, job_id: str) -> JobPolicy | None:
        """The job's stored defaults (retry policy, default trigger), read now."""
        return self.store.job_policy(validate_id("job_id", job_id))

    def set_job_policy(
        self,
        job_id: str,
        *,
        retry: RetryPolicy | object | None = _UNSET,
        trigger: Trigger | object | None = _UNSET,
        actor: str | None = None,
    ) -> JobPolicy:
        """Set (or, with None, clear) a job's default retry policy and/or trigger: how every
        batch of the job that brings none of its own is retried and re-run. Audited."""
        job = validate_id("job_id", job_id)
        current = self.store.job_policy(job) or JobPolicy(job)
        kwargs: dict[str, object] = {}
        if retry is not _UNSET:
            kwargs["retry"] = retry
        if trigger is not _UNSET:
            kwargs["trigger"] = trigger
        write = change_policy(current, actor=actor or self.actor, now=self.now(), **kwargs)
        try:
            stored = self.store.set_job_policy(write)
        except ConditionFailed:
            raise ConcurrentChange(
                f"the policy of job {job!r} changed while this change was made: read it again"
            ) from None
        self.jobs.forget(job)
        return stored

    def _warn_without_trigger(self, state: BatchState) -> None:
        """Once per job per process, from any number of threads: a batch that nothing can
        re-run (no trigger given, stored, or set for its job) is never retried."""
        job_id = state.job_id
        if state.trigger is not None or job_id in self._warned:
            return
        try:
            policy = self.jobs.get(job_id)
        except ObservabilityError:
            return  # the first write says whether the table is there; a warning can wait
        with self._warn_lock:
            if job_id in self._warned:
                return
            self._warned.add(job_id)
        if policy is None or policy.trigger is None:
            log.warning(
                "batches of job %s have no trigger: their failures are alerted, never "
                "retried (pass trigger=..., or set one for the job: remediator policy set "
                "%s --trigger ...)",
                job_id,
                job_id,
            )

    def pending(self, job_id: str, batch_ids: Iterable[R]) -> list[R]:
        """The given batches that have not succeeded (nor been resolved by a person), in the
        given order (consistent read)."""
        job = validate_id("job_id", job_id)
        wanted = list(batch_ids)
        ids = [validate_id("batch_id", b) for b in wanted]
        if len(set(ids)) != len(ids):
            raise InvalidInput("batch_ids", "must not repeat a batch id")
        states = self.store.get_many(job, ids, self.now())
        for state in states.values():
            self._remember(state)
        return [
            original
            for original, bid in zip(wanted, ids, strict=True)
            if bid not in states or states[bid].status not in (Status.SUCCESS, Status.RESOLVED)
        ]

    def get(self, job_id: str, batch_id: str | int) -> BatchState | None:
        """The current state of one batch, or None (never seen, or expired)."""
        state = self.store.get(BatchKey.of(job_id, batch_id), self.now())
        if state is not None:
            self._remember(state)
        return state

    def history(self, job_id: str, batch_id: str | int) -> list[AuditEvent]:
        """Every recorded transition of one batch, oldest first."""
        return self.store.history(BatchKey.of(job_id, batch_id), self.now())

    def states(self, job_id: str) -> list[BatchState]:
        """Every batch of a job that has a live record."""
        return list(self.store.states(validate_id("job_id", job_id), self.now()))

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
        if trigger is None:
            self._warn_without_trigger(state)
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
        whose reply was lost is read back (observability.confirm): `run.read_back` says so."""
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
        now = self.now()
        job = self._job_retry(run.job_id)
        state = run.state
        verdict, governed = judge(
            stored=state.retry,
            names=error_names(exc),
            job=job.retry if job else None,
            fallback=self._fallback,
            attempt=state.attempt,
            attempt_floor=state.attempt_floor,
            first_failed_at=from_iso(state.first_failed_at) if state.first_failed_at else None,
            cap_override=state.cap_override,
            has_trigger=bool(state.trigger or (job and job.trigger)),
            now=now,
            rng=self._rng,
        )
        retryable = governed.rule != "never"
        error_type, message = describe_exception(exc)
        message = shapes.exit_message(exc) or message

        def plan(prev: BatchState) -> Write:
            return failure(
                prev, self.table, now=now, actor=self.actor, error_type=error_type,
                error_message=message, retryable=retryable, verdict=verdict, governed=governed,
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
