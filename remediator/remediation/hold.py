"""Whether a person's pause holds a batch now: its job's, or its trigger target's.

A held batch is left exactly as it is (status, attempt, due time): nothing is triggered,
nothing is exhausted or marked stale, so a pause burns no attempt. The sweep finds it again
and it goes when the pause ends, at the retry budget's pace.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from observability.models import BatchState
from remediator.guards.pause_item import PauseWatch
from remediator.remediation.context import Context, Outcome
from remediator.remediation.policy import Action, Exhaust, MarkStale, Trigger

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["Hold"]


class Hold:
    def __init__(self, context: Context, clients: AwsClients) -> None:
        self.context = context
        settings = context.settings
        self.watch = PauseWatch(
            clients, settings.table_name, refresh_seconds=settings.pause_refresh_seconds
        )

    def check(
        self,
        state: BatchState,
        action: Action,
        now: datetime,
        trigger: dict[str, object] | None = None,
    ) -> Outcome | None:
        """An outcome `paused` when a pause holds the batch; None to go on. `trigger`: the one
        its run would fire, when the caller has it already (else read while a target is
        paused)."""
        if not isinstance(action, Trigger | Exhaust | MarkStale):
            return None
        pauses = self.watch.current(now)  # from memory, re-read every few seconds
        pause = pauses.job(state.job_id, now)
        if pause is None and pauses.targets_paused(now):
            pause = pauses.target(trigger or self._trigger(state, now), now)
        if pause is None:
            return None
        detail = {"pause": pause.scope, "by": pause.actor, "reason": pause.reason}
        if pause.until:
            detail["until"] = pause.until
        return Outcome("paused", state.key.token, state.attempt, detail)

    def _trigger(self, state: BatchState, now: datetime) -> dict[str, object] | None:
        if state.trigger:
            return state.trigger
        # The index and the signal do not carry the trigger: only while a target is paused
        # does a due batch cost this one read.
        full = self.context.store.get(state.key, now)
        return self.context.trigger_of(full or state)
