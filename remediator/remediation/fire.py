"""Firing the trigger of a claimed batch and recording it; a trigger that did not go out
releases the claim for a backoff, or exhausts the batch once the target refused enough."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from typing import Any

from observability.clients import AwsClients
from observability.errors import InvalidInput
from observability.models import BatchState, EventType
from observability.retry.actions import Adjusted, adjust
from observability.transitions import truncate
from remediator.errors import TriggerError, TriggerRejected
from remediator.guards.alarms import Alarms
from remediator.remediation.claim import Claimer
from remediator.remediation.close import Closer
from remediator.remediation.context import Context, Outcome
from remediator.remediation.record import Recorder
from remediator.triggers import TriggerContext, fire, target_of
from remediator.triggers.roles import AssumedRoles

__all__ = ["Firer"]

log = logging.getLogger("remediator")


class Firer:
    def __init__(
        self,
        context: Context,
        clients: AwsClients,
        *,
        claimer: Claimer,
        recorder: Recorder,
        closer: Closer,
        alarms: Alarms,
    ) -> None:
        self.context = context
        self.clients = clients  # botocore's retries off: tenacity alone retries a trigger
        self.claimer = claimer
        self.recorder = recorder
        self.closer = closer
        self.alarms = alarms
        # Credentials of the roles triggers name (targets in other accounts), kept between fires.
        self.roles = AssumedRoles(clients, clock=context.now)

    def fire_and_record(
        self,
        claimed: BatchState,
        now: datetime,
        *,
        event: EventType,
        actor: str,
        detail: dict[str, str] | None = None,
        reason: str = "retry",
    ) -> Outcome:
        c = self.context
        key = claimed.key.token
        attempt = claimed.attempt + 1
        ctx = TriggerContext(
            claimed.key, attempt, claimed.trace_id, reason, incarnation=claimed.incarnation or ""
        )
        trigger = c.trigger_of(claimed)  # the batch's own, else its job's
        now = c.now()
        try:
            run = self._as_run(claimed, trigger, event)
        except InvalidInput as refused:
            return self._failed(claimed, target_of(trigger), now, TriggerRejected(str(refused)))
        if run.task_size is not None:
            ctx = dataclasses.replace(ctx, task_size=run.task_size)
        try:
            response_id = fire(
                self.clients,
                run.trigger or trigger,
                ctx,
                attempts=c.settings.trigger_attempts,
                timeout_seconds=c.settings.trigger_timeout_seconds,
                sleep=c.sleep,
                roles=self.roles,
            )
        except (TriggerError, TriggerRejected) as exc:
            return self._failed(claimed, target_of(trigger), now, exc)
        # Stamped with the moment before the send: the triggered run can only start later.
        fired_at = now
        kind = str((trigger or {}).get("kind", ""))
        detail = {"response_id": response_id, "trigger": kind, **(detail or {})}
        if run.ran_with:
            detail["ran_with"] = run.ran_with  # shown by history and explain
        if (trigger or {}).get("role_arn"):  # the role it was fired as, for the audit trail
            detail["role_arn"] = str((trigger or {})["role_arn"])
        if not self.recorder.record(claimed, fired_at, event=event, actor=actor, detail=detail):
            return Outcome("triggered_unrecorded", key, attempt, {"response_id": response_id})
        c.metrics.emit(claimed.job_id, {"RemediationTriggered": 1})
        log.info(
            "re-triggered",
            extra={"attempt": attempt, "response_id": response_id, "trigger": kind},
        )
        return Outcome("triggered", key, attempt, {"response_id": response_id})

    def _as_run(
        self, claimed: BatchState, trigger: dict[str, Any] | None, event: EventType
    ) -> Adjusted:
        """The trigger as this attempt runs it: a retry's with the overrides of the rule
        that governs the failure (a replay starts a new episode: the stored trigger)."""
        if not trigger or event is not EventType.RETRY_TRIGGERED:
            return Adjusted(trigger or {})
        rule = self.context.rule_of(claimed)
        return adjust(trigger, rule.name, rule.overrides, claimed.episode_attempt + 1)

    def _failed(
        self, claimed: BatchState, target: str, now: datetime, exc: TriggerError | TriggerRejected
    ) -> Outcome:
        """A re-trigger that did not go out. Transient: the claim waits a backoff. Refused
        for good (not found, access denied, invalid): after `trigger_refusals` refusals of
        the same attempt the batch is EXHAUSTED (`trigger_refused`), and the alert says the
        target is broken. Either way the target's circuit counts it, not the job's."""
        c = self.context
        key, attempt = claimed.key.token, claimed.attempt + 1
        c.metrics.emit(claimed.job_id, {"TriggerFailures": 1})
        self.alarms.failed_trigger(claimed, target, f"{key}#{attempt}#{claimed.refusals}", now)
        refused = isinstance(exc, TriggerRejected)
        refusals = claimed.refusals + 1 if refused else claimed.refusals
        log.warning(
            "re-trigger %s: %s", "refused" if refused else "failed", exc, extra={"target": target}
        )
        if refused and refusals >= c.settings.trigger_refusals:
            why = f"the target refused the re-trigger {refusals} times: {exc}"
            return self.closer.exhaust_claimed(claimed, now, "trigger_refused", truncate(why, 512))
        delay = c.rule_of(claimed).delay(max(1, claimed.episode_attempt), c.rng)
        self.claimer.release(claimed, now + timedelta(seconds=delay), refused=refused)
        return Outcome("trigger_failed", key, attempt, {"error": str(exc), "target": target})
