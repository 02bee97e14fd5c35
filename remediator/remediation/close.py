"""Closing a batch's episode: EXHAUSTED (with its alert), or a stale run marked FAILED or
EXHAUSTED as its stored policy says."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from observability.audit import ConditionFailed
from observability.models import BatchState, Status, from_iso, iso
from observability.models.signals import EXHAUSTED, Signal
from observability.retry import judge
from observability.transitions import Write
from remediator.guards.alarms import Alarms
from remediator.remediation import claims
from remediator.remediation.context import Context, Outcome

__all__ = ["Closer"]

log = logging.getLogger("remediator")


class Closer:
    def __init__(self, context: Context, alarms: Alarms) -> None:
        self.context = context
        self.alarms = alarms

    def exhaust(self, state: BatchState, reason: str, now: datetime) -> Outcome:
        c = self.context
        write = claims.exhaust(
            state, c.table, actor=c.actor, now=now, reason=reason, beside=c.beside()
        )
        return self._commit(state, write, reason, now)

    def exhaust_claimed(
        self, claimed: BatchState, now: datetime, reason: str, why: str = ""
    ) -> Outcome:
        """EXHAUSTED from a claim this replica holds."""
        c = self.context
        write = claims.exhaust(
            claimed, c.table, actor=c.actor, now=now, reason=reason, owner=c.name, why=why,
            beside=c.beside(),
        )  # fmt: skip
        return self._commit(claimed, write, reason, now, why=why)

    def _commit(
        self, state: BatchState, write: Write, reason: str, now: datetime, why: str = ""
    ) -> Outcome:
        key = state.key.token
        try:
            # The whole item back: a state from the index lacks the error an alert quotes.
            after = self.context.store.update(write)
        except ConditionFailed:
            return Outcome("conflict", key, state.attempt)
        if after.status is Status.EXHAUSTED:
            self.context.metrics.emit(state.job_id, {"RemediationExhausted": 1})
            alert = Signal.of(EXHAUSTED, after, at=iso(now), reason=reason, actor=self.context.name)
            if reason == "trigger_refused":
                # The batch is not what is broken: the alert names the target's refusal.
                alert = dataclasses.replace(
                    alert, error_type="TriggerRefused", error_message=why or None
                )
            self.alarms.alert(alert)
            log.warning("batch exhausted", extra={"reason": reason, "attempt": after.attempt})
            return Outcome("exhausted", key, after.attempt, {"reason": reason})
        return Outcome("stale", key, after.attempt, {"next_retry_at": after.due_at or ""})

    def stale(self, state: BatchState, now: datetime, *, too_slow: str | None = None) -> Outcome:
        c = self.context
        never_started = state.status is Status.RETRYING
        attempt = state.attempt + 1 if never_started else state.attempt
        # Rare, and decided by the batch's stored policy: read the whole item first.
        full = c.store.get(state.key, now)
        if full is None or (full.version, full.status) != (state.version, state.status):
            return Outcome("conflict", state.key.token, state.attempt)
        job = c.job(state.job_id)
        verdict, governed = judge(
            stored=full.retry,
            names=("TooSlow",) if too_slow else ("NeverStarted",) if never_started else ("Stale",),
            job=job.retry if job else None,
            fallback=c.fallback,
            attempt=attempt,
            attempt_floor=full.attempt_floor,
            first_failed_at=from_iso(full.first_failed_at) if full.first_failed_at else None,
            cap_override=full.cap_override,
            has_trigger=bool(c.trigger_of(full)),
            now=now,
            rng=c.rng,
        )
        write = claims.mark_stale(
            full, c.table, actor=c.actor, now=now, verdict=verdict, governed=governed,
            beside=c.beside(), too_slow=too_slow,
        )  # fmt: skip
        reason = getattr(verdict, "reason", "stale")
        outcome = self._commit(full, write, reason, now)
        if outcome.kind == "stale":
            log.warning("stale run marked FAILED", extra={"attempt": attempt})
        return outcome
