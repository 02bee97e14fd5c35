"""Taking a batch, and handing it back: the claim is one conditional write, a lost race is
counted and never retried; the fleet's budget is paid only by claims that won."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from observability.audit import ConditionFailed
from observability.errors import ObservabilityError
from observability.models import BatchState
from remediator.guards.budget import RetryBudget
from remediator.remediation import claims
from remediator.remediation.context import Context

__all__ = ["Claimer", "next_minute"]

log = logging.getLogger("remediator")


def next_minute(now: datetime) -> datetime:
    """The start of the next calendar minute: when a used-up budget has tokens again."""
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


class Claimer:
    def __init__(self, context: Context, budget: RetryBudget) -> None:
        self.context = context
        self.budget = budget

    def claim(
        self,
        state: BatchState,
        now: datetime,
        *,
        require_due: bool,
        attempt_floor: int | None = None,
        cap_override: int | None = None,
        operation: str | None = None,
    ) -> BatchState | None:
        """The batch as claimed by this replica, or None if another has it or it moved on;
        `operation` stamps the bulk operation the claim is made for on the item."""
        c = self.context
        write = claims.claim(
            state,
            c.table,
            owner=c.name,
            now=now,
            lease_seconds=c.settings.lease_seconds,
            require_due=require_due,
            attempt_floor=attempt_floor,
            cap_override=cap_override,
            operation=operation,
        )
        try:
            return c.store.update(write)
        except ConditionFailed:
            # Someone else has it, or it moved on: counted, never retried.
            c.metrics.emit(state.job_id, {"ClaimConflicts": 1})
            return None

    def afford(self, claimed: BatchState, now: datetime) -> bool:
        """Whether the fleet's budget pays for this re-trigger; if not, the claim waits for
        the next minute's."""
        if self.budget.take(now):
            return True
        log.warning("retry budget of %d/min used up", self.budget.per_minute)
        self.release(claimed, next_minute(now))
        return False

    def release(self, claimed: BatchState, retry_at: datetime, *, refused: bool = False) -> None:
        write = claims.release(claimed, owner=self.context.name, retry_at=retry_at, refused=refused)
        try:
            self.context.store.update(write)
        except (ConditionFailed, ObservabilityError) as exc:
            log.warning("could not release claim (its lease will expire): %s", exc)
