"""What holds a batch's retries back, read from the guards' items: the circuits of its job
and of its trigger's target, and the fleet's budget. Reads only; nothing is counted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from observability.clients import AwsClients
from observability.models import BatchState, iso
from observability.models.keys import breaker_key, target_breaker_key
from remediator.guards import CircuitBreaker, RetryBudget
from remediator.guards.pauses import Pause
from remediator.ops.why import Holds
from remediator.remediation.claim import next_minute
from remediator.settings import RemediatorSettings
from remediator.triggers import target_of

__all__ = ["pause_told", "read_holds"]


def pause_told(pause: Pause) -> str:
    """What holds the batch, by whom and why: `job J by ARN (operator) at T until U: why`."""
    who = f"{pause.actor} ({pause.operator})" if pause.operator else pause.actor
    until = f" until {pause.until}" if pause.until else ""
    return f"{pause.scope} {pause.name} by {who} at {pause.at}{until}: {pause.reason}"


def read_holds(
    clients: AwsClients,
    settings: RemediatorSettings,
    state: BatchState,
    trigger: dict[str, Any] | None,
    now: datetime,
    *,
    paused: str | None = None,
) -> Holds:
    """Up to three GetItems: the job's circuit, the target's (with a trigger), the budget."""
    breaker = CircuitBreaker(
        clients,
        settings.table_name,
        failures=settings.breaker_failures,
        window_seconds=settings.breaker_window_seconds,
        pause_seconds=settings.breaker_pause_seconds,
    )
    budget = RetryBudget(clients, settings.table_name, settings.budget_per_minute)
    return Holds(
        paused=paused,
        circuit_until=breaker.paused_until(breaker_key(state.job_id), now),
        target_circuit_until=(
            breaker.paused_until(target_breaker_key(target_of(trigger)), now) if trigger else None
        ),
        budget_left=budget.left(now),
        next_minute=iso(next_minute(now)),
    )
