"""The facade pipelines use: `AuditTrail`, its `batch(...)` context manager, `pending(...)`."""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar, overload

from observability import forksafe
from observability.audit.jobs import JobPolicies, JobPolicy, change_policy
from observability.audit.registry import JobRegistry
from observability.audit.store import AuditStore, ConditionFailed
from observability.clients import AwsClients, default_clients
from observability.clock import SkewClock
from observability.errors import ConcurrentChange, InvalidInput
from observability.models.keys import BatchKey, validate_id
from observability.models.records import AuditEvent, BatchState, Status
from observability.notifier import Notifier
from observability.retry.backoff import RetryRule
from observability.retry.rules import RetryPolicy, StoredRetry
from observability.settings import Settings, load_settings
from observability.telemetry.metrics import Metrics
from observability.transitions import TableConfig
from observability.triggers import Trigger

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from observability.audit.schedules import JobSchedule
    from observability.models.calendar import Calendar
from observability.trail.batch import Batch
from observability.trail.run import RunWrites

__all__ = ["AuditTrail", "default_actor"]

log = logging.getLogger("observability")

R = TypeVar("R")

_UNSET = object()


def _calendar(
    every: str | None, cron: str | None, format: str | None, start: str | None, tz: str,
    deadline: str | datetime, batches: Sequence[str] | None, max_run_seconds: int | None,
) -> Calendar:  # fmt: skip
    # Calendars are the deadline watch's: a pipeline that sets none never loads them.
    from observability.models.calendar import Calendar

    if batches is not None:
        if not isinstance(deadline, datetime):
            raise InvalidInput("deadline", "of explicit batches must be an aware datetime")
        return Calendar.explicit(
            batches=list(batches), due=deadline, max_run_seconds=max_run_seconds
        )
    if format is None or start is None or isinstance(deadline, datetime):
        raise InvalidInput(
            "calendar", "give every (or cron), format, start and a +duration deadline"
        )
    return Calendar.recurring(every=every, cron=cron, format=format, start=start, tz=tz,
                              deadline=deadline, max_run_seconds=max_run_seconds)  # fmt: skip


def default_actor() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class AuditTrail(RunWrites):
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
        self.registry = JobRegistry(
            self.clients, self.settings.table_name, ttl_days=self.settings.ttl_days
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

    def _skew_measured(self, seconds: float) -> None:
        self.metrics.emit(None, {"ClockSkewSeconds": seconds})

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
        if retry is not None and trigger is not None:
            retry.check_trigger(trigger)
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

    def expect(
        self, job_id: str, *, every: str | None = None, cron: str | None = None,
        format: str | None = None, start: str | None = None, tz: str = "UTC",
        deadline: str | datetime = "+0h", batches: Sequence[str] | None = None,
        max_run_seconds: int | None = None, clear: bool = False, actor: str | None = None,
    ) -> JobSchedule:  # fmt: skip
        """Declare the batches the job must produce and by when: `every` hour, day or month
        (or a `cron` expression), ids `format`ted from `start`, in zone `tz`, each due
        `deadline` (`+6h`) after its period; or an explicit list of `batches` all due at one
        `deadline` (an aware datetime). `clear=True` removes it. The remediator runs the
        batches that never start and alerts on those late. Audited like a policy."""
        from observability.audit.schedules import JobSchedule, change_schedule, read_schedule

        calendar = None if clear else _calendar(every, cron, format, start, tz, deadline,
                                                batches, max_run_seconds)  # fmt: skip
        job = validate_id("job_id", job_id)
        self._agree_on_shape()
        current = read_schedule(self.store, job) or JobSchedule(job)
        write = change_schedule(
            current, calendar, actor=actor or self.actor, now=self.now(), shards=self.table.shards
        )
        try:
            return JobSchedule.from_plain(job, self.store.commit(write))
        except ConditionFailed:
            raise ConcurrentChange(
                f"the schedule of job {job!r} changed while this change was made: read it again"
            ) from None

    @overload
    def pending(self, job_id: str) -> list[str]: ...
    @overload
    def pending(self, job_id: str, batch_ids: Iterable[R]) -> list[R]: ...
    def pending(self, job_id: str, batch_ids: Iterable[R] | None = None) -> list[R] | list[str]:
        """The given batches that have not succeeded (nor been resolved by a person), in the
        given order (consistent read). Without ids: the job's expected batches whose
        deadline has passed (its calendar, see `expect`) and that have not."""
        job = validate_id("job_id", job_id)
        if batch_ids is None:
            return self._calendar_pending(job)
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

    def _calendar_pending(self, job: str) -> list[str]:
        from observability.audit.schedules import read_schedule
        from observability.models.calendar import MAX_EXPLICIT_IDS

        schedule = read_schedule(self.store, job)
        if schedule is None or schedule.calendar is None:
            raise InvalidInput("batch_ids", f"job {job!r} has no calendar: name the batch ids")
        due = [e.batch_id for e in schedule.calendar.due_by(self.now(), limit=MAX_EXPLICIT_IDS)]
        return self.pending(job, list(dict.fromkeys(due)))

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
