"""One batch at a time: decide, claim, re-trigger, record. Used by signals, sweeps and replays.

The order matters. The claim is written before the trigger goes out, and the trigger is
recorded before the signal is deleted; a crash anywhere leaves either an expiring lease or
a message that comes back, never a batch nobody will look at again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from observability.audit import AuditStore, ConditionFailed, new_write_id
from observability.audit.jobs import JobPolicies, JobPolicy
from observability.audit.shape import agreed_shards
from observability.clients import AwsClients
from observability.clock import SkewClock
from observability.errors import ObservabilityError, StoreUnavailable
from observability.logger import bind
from observability.models import BatchState, EventType, Status, from_iso, iso
from observability.models.keys import breaker_key, target_breaker_key
from observability.models.signals import CIRCUIT_OPEN, EXHAUSTED, FAILED, Signal
from observability.notifier import Notifier
from observability.retry import StoredRetry, judge
from observability.retry.backoff import RetryRule
from observability.telemetry.metrics import Metrics
from observability.transitions import TableConfig, Write, truncate
from remediator import claims
from remediator.errors import TriggerError, TriggerRejected
from remediator.guards import CircuitBreaker, RetryBudget
from remediator.policy import Exhaust, MarkStale, NotDue, Skip, Trigger, decide
from remediator.settings import RemediatorSettings
from remediator.traces import remediation
from remediator.triggers import TriggerContext, fire, target_of

__all__ = ["Outcome", "Remediator", "next_minute"]

log = logging.getLogger("remediator")

_RECORD_ATTEMPTS = 30
_RECORD_ROUNDS = 4


def next_minute(now: datetime) -> datetime:
    """The start of the next calendar minute: when a used-up budget has tokens again."""
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class _Record:
    """A trigger that went out, to be recorded in the slot its claim reserved.

    One `write_id` for every try: a try whose reply was lost is then recognised as landed.
    """

    claimed: BatchState
    fired_at: datetime
    event: EventType
    actor: str
    detail: dict[str, str]
    write_id: str = field(default_factory=new_write_id)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one batch: `kind` is counted, `detail` is for logs and the CLI."""

    kind: str
    key: str = ""
    attempt: int = 0
    detail: dict[str, str] = field(default_factory=dict)


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
        # The record of a trigger that went out is retried by tenacity for as long as its
        # lease lasts (see _record), so botocore's own retries are off for it.
        self.record_clients = clients.derive(max_attempts=1)
        self._record_store = AuditStore(self.record_clients, settings.table_name)
        self.notifier = Notifier(clients, settings.topic_arn)
        # Retries of a trigger belong to tenacity alone: botocore's are switched off here.
        self.trigger_clients = trigger_clients or clients.derive(
            max_attempts=1, read_timeout=settings.trigger_timeout_seconds
        )
        self.metrics = metrics or Metrics(
            settings.metrics_namespace, enabled=settings.metrics_enabled
        )
        self.budget = RetryBudget(clients, settings.table_name, settings.budget_per_minute)
        self.breaker = CircuitBreaker(
            clients,
            settings.table_name,
            failures=settings.breaker_failures,
            window_seconds=settings.breaker_window_seconds,
            pause_seconds=settings.breaker_pause_seconds,
        )
        # Only for batches recorded without a policy: every other decision is the batch's own.
        self.fallback = RetryRule.from_settings(settings)
        self.jobs = JobPolicies(self.store.job_policy, cache_seconds=settings.policy_cache_seconds)
        self.table = TableConfig(
            shards=settings.retry_shards,
            stale_after_seconds=settings.stale_after_seconds,
            ttl_days=settings.ttl_days,
        )
        # Its own clock corrected by the offset measured from AWS's (an injected one as is).
        self._clock = SkewClock.unless_given(
            clock, clients.listen_dates, lambda s: self.metrics.emit(None, {"ClockSkewSeconds": s})
        )
        self._rng = rng or random.Random()
        self._sleep = sleep
        self.stopping = stopping or threading.Event()
        self.counts: Counter[str] = Counter()
        # Records of triggers that went out, still to be written, by batch.
        self._unrecorded: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._clock()

    def agree_on_shape(self) -> None:
        """Before the service starts: the shard count the table declares (ConfigError,
        naming both values, when this process is configured otherwise)."""
        shards = agreed_shards(self.store.shape(), self.settings)
        self.table = dataclasses.replace(self.table, shards=shards)

    def _count(self, outcome: Outcome) -> Outcome:
        with self._lock:
            self.counts[outcome.kind] += 1
        return outcome

    # -- entry points ---------------------------------------------------------------------

    def handle_signal(self, signal: Signal) -> Outcome:
        """A failure heard on the queue: act on it now if it is due, else leave it to the sweep."""
        now = self.now()
        key = f"{signal.job_id}#{signal.batch_id}"
        if signal.event != FAILED:
            return self._count(Outcome("ignored", key, detail={"event": signal.event}))
        if signal.attempt >= 2:
            # Once per failed (batch, attempt), however often SQS delivers its signal.
            self._failed_rerun(signal.job_id, f"{signal.batch_id}#{signal.attempt}", now)
        if not signal.next_retry_at:
            return self._count(Outcome("skipped", key, detail={"reason": "not_retryable"}))
        # The signal carries everything the claim's condition needs: no read before it.
        hint = BatchState(
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
            error_message=signal.error_message,
        )
        return self.remediate(hint)

    @remediation()
    def remediate(self, state: BatchState, now: datetime | None = None) -> Outcome:
        """Act on one batch as the policy says (state from the index or a signal: a hint)."""
        now = now or self.now()
        if state.key.token in self._unrecorded and self.flush_unrecorded():
            # This replica fired it and has not recorded it yet: never fire it again.
            return self._count(Outcome("skipped", state.key.token, detail={"reason": "recording"}))
        action = decide(state, now, self.fallback)
        key = state.key.token
        with bind(job_id=state.job_id, batch_id=state.batch_id, trace_id=state.trace_id):
            if isinstance(action, Trigger):
                return self._count(self._retry(state, action.attempt, now))
            if isinstance(action, Exhaust):
                return self._count(self._exhaust(state, action.reason, now))
            if isinstance(action, MarkStale):
                return self._count(self._stale(state, now))
            if isinstance(action, NotDue):
                return self._count(Outcome("not_due", key, detail={"at": action.at}))
            assert isinstance(action, Skip)
            return self._count(Outcome("skipped", key, detail={"reason": action.reason}))

    # -- actions --------------------------------------------------------------------------

    def _claim(
        self,
        state: BatchState,
        now: datetime,
        *,
        require_due: bool,
        attempt_floor: int | None = None,
        cap_override: int | None = None,
    ) -> BatchState | None:
        write = claims.claim(
            state,
            self.table,
            owner=self.replica,
            now=now,
            lease_seconds=self.settings.lease_seconds,
            require_due=require_due,
            attempt_floor=attempt_floor,
            cap_override=cap_override,
        )
        try:
            return self.store.update(write)
        except ConditionFailed:
            # Someone else has it, or it moved on: counted, never retried.
            self.metrics.emit(state.job_id, {"ClaimConflicts": 1})
            return None

    def _retry(self, state: BatchState, attempt: int, now: datetime) -> Outcome:
        key = state.key.token
        paused = self.breaker.paused_until(breaker_key(state.job_id), now)
        if paused:
            return Outcome("paused", key, attempt, {"until": paused})
        claimed = self._claim(state, now, require_due=True)
        if claimed is None:
            return Outcome("conflict", key, attempt)
        trigger = self._trigger_of(claimed)
        if not trigger:
            return self._exhaust_claimed(claimed, now, "no_trigger")
        target = target_of(trigger)
        paused = self.breaker.paused_until(target_breaker_key(target), now)
        if paused:
            # A broken target pauses what goes to it; the claim waits out its circuit.
            self._release(claimed, from_iso(paused))
            return Outcome("paused", key, attempt, {"until": paused, "target": target})
        # The fleet's budget pays for claims that won, never for duplicates that lost them.
        if not self.budget.take(now):
            log.warning("retry budget of %d/min used up", self.budget.per_minute)
            self._release(claimed, next_minute(now))
            return Outcome("budget", key, attempt)
        return self._fire_and_record(
            claimed, now, event=EventType.RETRY_TRIGGERED, actor=self.replica
        )

    def _fire_and_record(
        self,
        claimed: BatchState,
        now: datetime,
        *,
        event: EventType,
        actor: str,
        detail: dict[str, str] | None = None,
        reason: str = "retry",
    ) -> Outcome:
        key = claimed.key.token
        attempt = claimed.attempt + 1
        ctx = TriggerContext(
            claimed.key, attempt, claimed.trace_id, reason, incarnation=claimed.incarnation or ""
        )
        trigger = self._trigger_of(claimed)  # the batch's own, else its job's
        now = self.now()
        try:
            response_id = fire(
                self.trigger_clients,
                trigger,
                ctx,
                attempts=self.settings.trigger_attempts,
                timeout_seconds=self.settings.trigger_timeout_seconds,
                sleep=self._sleep,
            )
        except (TriggerError, TriggerRejected) as exc:
            return self._trigger_failed(claimed, target_of(trigger), now, exc)
        # Stamped with the moment before the send: the triggered run can only start later.
        fired_at = now
        kind = str((trigger or {}).get("kind", ""))
        detail = {"response_id": response_id, "trigger": kind, **(detail or {})}
        if not self._record(claimed, fired_at, event=event, actor=actor, detail=detail):
            return Outcome("triggered_unrecorded", key, attempt, {"response_id": response_id})
        self.metrics.emit(claimed.job_id, {"RemediationTriggered": 1})
        log.info(
            "re-triggered",
            extra={"attempt": attempt, "response_id": response_id, "trigger": kind},
        )
        return Outcome("triggered", key, attempt, {"response_id": response_id})

    def _exhaust_claimed(
        self, claimed: BatchState, now: datetime, reason: str, why: str = ""
    ) -> Outcome:
        """EXHAUSTED from a claim this replica holds."""
        write = claims.exhaust(
            claimed,
            self.table,
            actor=self.replica,
            now=now,
            reason=reason,
            owner=self.replica,
            why=why,
        )
        return self._commit_exhausting(claimed, write, reason, now, why=why)

    def _trigger_failed(
        self, claimed: BatchState, target: str, now: datetime, exc: TriggerError | TriggerRejected
    ) -> Outcome:
        """A re-trigger that did not go out. Transient: the claim waits a backoff. Refused
        for good (not found, access denied, invalid): after `trigger_refusals` refusals of
        the same attempt the batch is EXHAUSTED (`trigger_refused`), and the alert says the
        target is broken. Either way the target's circuit counts it, not the job's."""
        key, attempt = claimed.key.token, claimed.attempt + 1
        self.metrics.emit(claimed.job_id, {"TriggerFailures": 1})
        opened = self.breaker.record_failure(
            target_breaker_key(target), f"{key}#{attempt}#{claimed.refusals}", now
        )
        if opened:
            self._target_circuit_alert(claimed, target, opened, now)
        refused = isinstance(exc, TriggerRejected)
        refusals = claimed.refusals + 1 if refused else claimed.refusals
        log.warning(
            "re-trigger %s: %s", "refused" if refused else "failed", exc, extra={"target": target}
        )
        if refused and refusals >= self.settings.trigger_refusals:
            why = f"the target refused the re-trigger {refusals} times: {exc}"
            return self._exhaust_claimed(claimed, now, "trigger_refused", truncate(why, 512))
        delay = self._rule_of(claimed).delay(max(1, claimed.episode_attempt), self._rng)
        self._release(claimed, now + timedelta(seconds=delay), refused=refused)
        return Outcome("trigger_failed", key, attempt, {"error": str(exc), "target": target})

    def _record(
        self,
        claimed: BatchState,
        now: datetime,
        *,
        event: EventType,
        actor: str,
        detail: dict[str, str],
    ) -> bool:
        """Write the trigger's event (at the time it was fired) into its reserved slot;
        False if it is not written (yet)."""
        record = _Record(claimed, now, event, actor, detail)
        # The trigger has gone out: giving up on this write would let the lease run out and
        # the same attempt be fired again. Repeats are harmless (the write id tells a lost
        # reply, the lease and the slot conditions a repeat), so keep trying while most of
        # the lease lasts.
        lease_end = from_iso(claimed.lease_expires_at or iso(now))
        lease_left = (lease_end - self.now()).total_seconds()
        retrying = Retrying(
            stop=stop_after_attempt(_RECORD_ATTEMPTS)
            | stop_after_delay(max(0.0, 0.8 * lease_left)),
            wait=wait_random_exponential(multiplier=0.2, max=5.0),
            retry=retry_if_exception_type(StoreUnavailable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return bool(retrying(self._land, record))
        except StoreUnavailable as exc:
            # Kept in memory and tried again at every sweep: the record's condition holds
            # until another replica takes the batch, however late the write lands.
            log.error("trigger sent, record pending: %s", exc)
            self.metrics.emit(claimed.job_id, {"TriggerUnrecorded": 1})
            with self._lock:
                self._unrecorded[claimed.key.token] = record
            return False

    def _land(self, record: _Record) -> bool:
        """Commit a trigger's record; False if another replica has taken the batch."""
        state = record.claimed
        for _ in range(_RECORD_ROUNDS):
            write = claims.recorded(
                state,
                self.table,
                owner=self.replica,
                actor=record.actor,
                now=record.fired_at,
                event=record.event,
                detail=record.detail,
                write_id=record.write_id,
            )
            try:
                self._record_store.apply(write)
                return True
            except ConditionFailed as lost:
                current = BatchState.from_item(lost.old) if lost.old else None
            if current is None:
                break
            slot = write.events[0].get("version")
            if (
                current.lease_owner == self.replica
                and current.version == state.version
                and current.pending_trigger == slot
            ):
                state = current  # still ours: only the history list moved; plan again
                continue
            if current.pending_trigger is None and any(
                e.get("version") == slot for e in current.events or ()
            ):
                if self._fill_slot(current, write.events[0]):
                    return True
                break  # another replica's trigger is recorded there: taken over
            if current.lease_owner is None and current.pending_trigger == slot:
                # The re-run was quicker than this write and has started already: the
                # event still belongs in the slot the claim reserved for it.
                try:
                    late = claims.recorded_late(current, write.events, record.write_id)
                    self._record_store.apply(late)
                    return True
                except ConditionFailed:
                    pass
            break
        # The lease ran out while the trigger was in flight and another replica took the
        # batch: its trigger may repeat this one unless the target is idempotent.
        log.error("a trigger was sent but the batch was taken over before it was recorded")
        return False

    def _fill_slot(self, current: BatchState, event: dict[str, Any]) -> bool:
        """Whether the slot that holds an event holds this record's: it is this very event
        (the record landed; its reply was lost and the item moved on since), or the
        placeholder the triggered run wrote in this replica's place (it took it for dead),
        which the record, with what only this replica knows, replaces. Another replica's
        recorded trigger is not this record's."""
        slot = event.get("version")
        for index, found in enumerate(current.events or ()):
            if found.get("version") != slot:
                continue
            if found == event:
                return True
            if "unrecorded" not in str(found.get("detail", "")):
                return False
            # If the list moved on (archived), the placeholder stays: nothing is lost.
            with contextlib.suppress(ConditionFailed):
                self._record_store.replace_event(current.key, index, found, event)
            return True
        return False

    def flush_unrecorded(self) -> int:
        """Record the triggers that went out while the table would not take their record;
        returns how many are still pending."""
        with self._lock:
            pending = list(self._unrecorded.items())
        for token, record in pending:
            try:
                self._land(record)
            except StoreUnavailable:
                continue
            with self._lock:
                self._unrecorded.pop(token, None)
        with self._lock:
            return len(self._unrecorded)

    def _release(self, claimed: BatchState, retry_at: datetime, *, refused: bool = False) -> None:
        write = claims.release(claimed, owner=self.replica, retry_at=retry_at, refused=refused)
        try:
            self.store.update(write)
        except (ConditionFailed, ObservabilityError) as exc:
            log.warning("could not release claim (its lease will expire): %s", exc)

    def _exhaust(self, state: BatchState, reason: str, now: datetime) -> Outcome:
        write = claims.exhaust(state, self.table, actor=self.replica, now=now, reason=reason)
        return self._commit_exhausting(state, write, reason, now)

    def _commit_exhausting(
        self, state: BatchState, write: Write, reason: str, now: datetime, why: str = ""
    ) -> Outcome:
        key = state.key.token
        try:
            # The whole item back: a state from the index lacks the error an alert quotes.
            after = self.store.update(write)
        except ConditionFailed:
            return Outcome("conflict", key, state.attempt)
        if after.status is Status.EXHAUSTED:
            self.metrics.emit(state.job_id, {"RemediationExhausted": 1})
            alert = Signal.of(EXHAUSTED, after, at=iso(now), reason=reason, actor=self.replica)
            if reason == "trigger_refused":
                # The batch is not what is broken: the alert names the target's refusal.
                alert = dataclasses.replace(
                    alert, error_type="TriggerRefused", error_message=why or None
                )
            self._alert(alert)
            log.warning("batch exhausted", extra={"reason": reason, "attempt": after.attempt})
            return Outcome("exhausted", key, after.attempt, {"reason": reason})
        return Outcome("stale", key, after.attempt, {"next_retry_at": after.due_at or ""})

    def _stale(self, state: BatchState, now: datetime) -> Outcome:
        never_started = state.status is Status.RETRYING
        attempt = state.attempt + 1 if never_started else state.attempt
        # Rare, and decided by the batch's stored policy: read the whole item first.
        full = self.store.get(state.key, now)
        if full is None or (full.version, full.status) != (state.version, state.status):
            return Outcome("conflict", state.key.token, state.attempt)
        job = self._job(state.job_id)
        verdict, governed = judge(
            stored=full.retry,
            names=("NeverStarted",) if never_started else ("Stale",),
            job=job.retry if job else None,
            fallback=self.fallback,
            attempt=attempt,
            attempt_floor=full.attempt_floor,
            first_failed_at=from_iso(full.first_failed_at) if full.first_failed_at else None,
            cap_override=full.cap_override,
            has_trigger=bool(self._trigger_of(full)),
            now=now,
            rng=self._rng,
        )
        write = claims.mark_stale(
            full, self.table, actor=self.replica, now=now, verdict=verdict, governed=governed
        )
        reason = getattr(verdict, "reason", "stale")
        outcome = self._commit_exhausting(full, write, reason, now)
        if outcome.kind == "stale":
            log.warning("stale run marked FAILED", extra={"attempt": attempt})
        return outcome

    def _job(self, job_id: str) -> JobPolicy | None:
        try:
            return self.jobs.get(job_id)
        except ObservabilityError as exc:
            log.warning("job policy of %s not read, deciding without it: %s", job_id, exc)
            return None

    def _trigger_of(self, state: BatchState) -> dict[str, Any] | None:
        """The batch's own trigger, else its job's default trigger."""
        if state.trigger:
            return state.trigger
        job = self._job(state.job_id)
        return job.trigger if job else None

    def _rule_of(self, state: BatchState) -> RetryRule:
        """The rule that governs the batch's current failure (for the delay after a trigger
        that did not go out)."""
        kept = StoredRetry.from_json(state.retry)
        job = self._job(state.job_id)
        for policy in (kept.own if kept else None, job.retry if job else None, kept and kept.env):
            found = policy.find(state.rule) if policy and state.rule else None
            if found is not None:
                return found
        return self.fallback

    def _failed_rerun(self, job_id: str, failure: str, now: datetime) -> None:
        until = self.breaker.record_failure(breaker_key(job_id), failure, now)
        if until:
            log.error("circuit open: retries of job %s paused until %s", job_id, until)
            self._circuit_alert(
                job_id, until, now, error_type=None, reason="circuit_open",
                message=(
                    f"{self.breaker.failures} failed re-runs within "
                    f"{int(self.breaker.window.total_seconds())} s; retries paused"
                ),
            )  # fmt: skip

    def _target_circuit_alert(
        self, claimed: BatchState, target: str, until: str, now: datetime
    ) -> None:
        log.error("circuit open: re-triggers to %s paused until %s", target, until)
        self._circuit_alert(
            claimed.job_id, until, now, error_type="TriggerTarget", reason="target_circuit_open",
            message=(
                f"{self.breaker.failures} re-triggers to {target} failed within "
                f"{int(self.breaker.window.total_seconds())} s; re-triggers to it paused "
                "(other targets go on)"
            ),
        )  # fmt: skip

    def _circuit_alert(
        self, job_id: str, until: str, now: datetime, *, error_type: str | None, reason: str,
        message: str,
    ) -> None:  # fmt: skip
        """CIRCUIT_OPEN for a job (no batch): its re-runs, or one of its targets, paused."""
        self._alert(
            Signal(
                event=CIRCUIT_OPEN,
                job_id=job_id,
                batch_id="",  # a job-wide alert: no batch
                attempt=0,
                version=0,
                status="PAUSED",
                error_type=error_type,
                error_message=message,
                retryable=True,
                trace_id=None,
                at=iso(now),
                next_retry_at=until,
                reason=reason,
                actor=self.replica,
            )
        )

    def _alert(self, signal: Signal) -> None:
        try:
            self.notifier.publish(signal)
        except ObservabilityError as exc:
            log.error("alert not published: %s", exc)

    # -- replay (operators) ---------------------------------------------------------------

    @remediation("replay")
    def replay(
        self,
        state: BatchState,
        *,
        operator: str,
        reason: str | None,
        max_attempts: int | None = None,
    ) -> Outcome:
        """Re-trigger now on a person's word: any FAILED or EXHAUSTED batch, a fresh episode
        (its attempts count from here), with `max_attempts` instead of the rule's cap."""
        now = self.now()
        key = state.key.token
        if state.status not in (Status.FAILED, Status.EXHAUSTED):
            return self._count(Outcome("skipped", key, detail={"reason": state.status.value}))
        if not self._trigger_of(state):
            return self._count(Outcome("no_trigger", key, state.attempt + 1))
        claimed = self._claim(
            state,
            now,
            require_due=False,
            attempt_floor=state.attempt,
            cap_override=max_attempts,
        )
        if claimed is None:
            return self._count(Outcome("conflict", key, state.attempt + 1))
        detail = {"operator": operator}
        if reason:
            detail["reason"] = reason
        if max_attempts:
            detail["max_attempts"] = str(max_attempts)
        return self._count(
            self._fire_and_record(
                claimed,
                now,
                event=EventType.REPLAY_TRIGGERED,
                actor=operator,
                detail=detail,
                reason="replay",
            )
        )
