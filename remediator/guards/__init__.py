"""Fleet safety: the retry budget, the circuit breakers, the alerts they raise."""

from __future__ import annotations

from remediator.guards.breaker import CircuitBreaker
from remediator.guards.budget import RetryBudget

__all__ = ["CircuitBreaker", "RetryBudget"]
