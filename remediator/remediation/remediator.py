"""One batch at a time: decide, claim, re-trigger, record. Used by signals, sweeps and replays.

The order matters. The claim is written before the trigger goes out, and the trigger is
recorded before the signal is deleted; a crash anywhere leaves either an expiring lease or
a message that comes back, never a batch nobody will look at again. Each step is a part of
its own (claim, fire, record, close, the guards' alarms); this class only orders them.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from observability.audit import AuditStore
from observability.audit.jobs import JobPolicies
from observability.audit.shape import agreed_shards
from observability.clients import AwsClients
from observability.clock import SkewClock
from observability.logger import bind
from observability.models import BatchState, EventType, Status
from observability.models.keys import breaker_key
from observability.models.signals import FAILED, Signal
from observability.notifier import Notifier
from observability.retry.backoff import RetryRule
from observability.telemetry.metrics import Metrics
from observability.transitions import TableConfig
from remediator.guards import CircuitBreaker, RetryBudget
from remediator.guards.alarms import Alarms
from remediator.remediation.claim import Claimer, next_minute
from remediator.remediation.close import Closer
from remediator.remediation.context import Context, Outcome
from remediator.remediation.fire import Firer
from remediator.remediation.gate import held_back
from remediator.remediation.hold import Hold
from remediator.remediation.policy import Exhaust, MarkStale, NotDue, Skip, Trigger, decide
from remediator.remediation.record import Recorder
from remediator.remediation.traces import remediation
from remediator.settings import RemediatorSettings

__all__ = ["Outcome", "Remediator", "hint_of", "next_minute"]


def hint_of(signal: Signal) -> BatchState:
    """The batch as a FAILED signal tells it. It carries everything the claim's condition
    needs: no read before it."""
    return BatchState(
        job_id=signal.job_id,
        batch_id=signal.batch_id,
        status=Status.FAILED,
        attempt=signal.attempt,
        version=signal.version,
        trace_id=signal.trace_id,
        retryable=signal.retryable,
        due_pk="hint",
        due_at=signal.next_retry_at,
        first_failed_at=signal.first_failed_at,
        attempt_floor=signal.attempt_floor,
        cap=signal.cap,
        deadline=signal.deadline,
        rule=signal.rule,
        error_type=signal.error_type,
        error_code=signal.error_code,
        error_message=signal.error_message,
    )


class Remediator:
    """The remediation logic of one replica; thread-safe, every dependency injectable."""

    def __init__(
        self,
        settings: RemediatorSettings,
        *,
        clients: AwsClients,
        trigger_clients: AwsClients | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        stopping: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.replica = settings.replica_id
        self.store = AuditStore(clients, settings.table_name)
        metrics = metrics or Metrics(settings.metrics_namespace, enabled=settings.metrics_enabled)
        self.metrics = metrics
        self.context = Context(
            settings,
            self.store,
            TableConfig(
                shards=settings.retry_shards,
                stale_after_seconds=settings.stale_after_seconds,
                ttl_days=settings.ttl_days,
            ),
            metrics,
            # Its own clock corrected by the offset measured from AWS's (an injected one as is).
            SkewClock.unless_given(
                clock, clients.listen_dates, lambda s: metrics.emit(None, {"ClockSkewSeconds": s})
            ),
            rng or random.Random(),
            sleep,
            RetryRule.from_settings(settings),
            JobPolicies(self.store.job_policy, cache_seconds=settings.policy_cache_seconds),
        )
        self.budget = RetryBudget(clients, settings.table_name, settings.budget_per_minute)
        self.breaker = CircuitBreaker(
            clients,
            settings.table_name,
            failures=settings.breaker_failures,
            window_seconds=settings.breaker_window_seconds,
            pause_seconds=settings.breaker_pause_seconds,
        )
        self.alarms = Alarms(Notifier(clients, settings.topic_arn), self.breaker, self.replica)
        self.claimer = Claimer(self.context, self.budget)
        self.closer = Closer(self.context, self.alarms)
        self.hold = Hold(self.context, clients)
        # The record of a trigger that went out is retried by tenacity for as long as its
        # lease lasts, so botocore's own retries are off for it; and for triggers, whose
        # retries belong to tenacity alone.
        self.record_clients = clients.derive(max_attempts=1)
        self.recorder = Recorder(self.context, AuditStore(self.record_clients, settings.table_name))
        self.trigger_clients = trigger_clients or clients.derive(
            max_attempts=1, read_timeout=settings.trigger_timeout_seconds
        )
        self.firer = Firer(
            self.context, self.trigger_clients, claimer=self.claimer, recorder=self.recorder,
            closer=self.closer, alarms=self.alarms,
        )  # fmt: skip
        self.stopping = stopping or threading.Event()
        self.counts: Counter[str] = self.context.counts  # outcomes so far, by kind
        self.fallback = self.context.fallback

    @property
    def table(self) -> TableConfig:
        return self.context.table

    def now(self) -> datetime:
        return self.context.now()

    def count(self, outcome: Outcome) -> Outcome:
        return self.context.count(outcome)

    def agree_on_shape(self) -> None:
        """Before the service starts: the shard count the table declares (ConfigError,
        naming both values, when this process is configured otherwise)."""
        shards = agreed_shards(self.store.shape(), self.settings)
        self.context.table = dataclasses.replace(self.context.table, shards=shards)

    # -- entry points ---------------------------------------------------------------------

    def handle_signal(self, signal: Signal) -> Outcome:
        """A failure heard on the queue: act on it now if it is due, else leave it to the sweep."""
        now = self.now()
        key = f"{signal.job_id}#{signal.batch_id}"
        if signal.event != FAILED:
            return self.count(Outcome("ignored", key, detail={"event": signal.event}))
        if signal.attempt >= 2:
            # Once per failed (batch, attempt), however often SQS delivers its signal.
            self.alarms.failed_rerun(signal.job_id, f"{signal.batch_id}#{signal.attempt}", now)
        if not signal.next_retry_at:
            return self.count(Outcome("skipped", key, detail={"reason": "not_retryable"}))
        return self.remediate(hint_of(signal))

    @remediation()
    def remediate(self, state: BatchState, now: datetime | None = None) -> Outcome:
        """Act on one batch as the policy says (state from the index or a signal: a hint)."""
        now = now or self.now()
        if self.recorder.pending(state.key.token) and self.flush_unrecorded():
            # This replica fired it and has not recorded it yet: never fire it again.
            return self.count(Outcome("skipped", state.key.token, detail={"reason": "recording"}))
        action = decide(state, now, self.context.fallback)
        key = state.key.token
        with bind(job_id=state.job_id, batch_id=state.batch_id, trace_id=state.trace_id):
            if held := self.hold.check(state, action, now):
                return self.count(held)
            if isinstance(action, Trigger):
                return self.count(self._retry(state, action.attempt, now))
            if isinstance(action, Exhaust):
                return self.count(self.closer.exhaust(state, action.reason, now))
            if isinstance(action, MarkStale):
                return self.count(self.closer.stale(state, now))
            if isinstance(action, NotDue):
                return self.count(Outcome("not_due", key, detail={"at": action.at}))
            assert isinstance(action, Skip)
            return self.count(Outcome("skipped", key, detail={"reason": action.reason}))

    def _retry(self, state: BatchState, attempt: int, now: datetime) -> Outcome:
        key = state.key.token
        paused = self.breaker.paused_until(breaker_key(state.job_id), now)
        if paused:
            return Outcome("paused", key, attempt, {"until": paused})
        claimed = self.claimer.claim(state, now, require_due=True)
        if claimed is None:
            return Outcome("conflict", key, attempt)
        trigger = self.context.trigger_of(claimed)
        if not trigger:
            return self.closer.exhaust_claimed(claimed, now, "no_trigger")
        waits = held_back(
            claimed, trigger, now, attempt=attempt, breaker=self.breaker, claimer=self.claimer
        )
        if waits is not None:
            return waits
        c = self.context
        return self.firer.fire_and_record(
            claimed, now, event=EventType.RETRY_TRIGGERED, actor=c.actor, detail=c.beside()
        )

    def flush_unrecorded(self) -> int:
        """Record the triggers that went out while the table would not take their record;
        returns how many are still pending."""
        return self.recorder.flush()
