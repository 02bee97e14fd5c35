"""The retry schedule and cap, computed by tenacity's strategies. Pure: no clock, no I/O.

The schedule is persisted as `next_retry_at` by whoever records the failure, never slept
inside a process; each replica only compares it with its clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tenacity import (
    RetryCallState,
    Retrying,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)
from tenacity.stop import stop_base

if TYPE_CHECKING:
    from observability.settings import Settings

__all__ = ["Exhaust", "RetryAt", "RetryPolicy", "Verdict"]


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Retry the batch at `at`; the re-run will be attempt `attempt`."""

    at: datetime
    attempt: int


@dataclass(frozen=True, slots=True)
class Exhaust:
    """No automatic retry: `reason` is `max_attempts`, `max_age` or `non_retryable`."""

    reason: str


Verdict = RetryAt | Exhaust


def _call_state(attempt: int, age_seconds: float = 0.0) -> RetryCallState:
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = attempt
    # stop_after_delay reads outcome_timestamp - start_time: express the age that way.
    state.start_time = 0.0
    state.outcome_timestamp = age_seconds
    return state


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Full-jitter exponential backoff bounded by base and max; stop on the attempt cap or age."""

    max_attempts: int = 3
    base_seconds: float = 60.0
    max_seconds: float = 3600.0
    max_age_seconds: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings, max_age_seconds: float | None = None) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            base_seconds=settings.backoff_base_seconds,
            max_seconds=settings.backoff_max_seconds,
            max_age_seconds=max_age_seconds,
        )

    def delay_bound(self, attempt: int) -> float:
        """Upper bound of the delay after failed attempt `attempt`: base * 2^(n-1), capped."""
        if self.base_seconds <= 0:
            return 0.0
        wait = wait_exponential(multiplier=self.base_seconds, max=self.max_seconds, exp_base=2)
        return float(wait(_call_state(attempt)))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform over [0, bound], so a fleet's retries spread out."""
        return rng.uniform(0.0, self.delay_bound(attempt))

    def exhausted(self, attempt: int, age_seconds: float = 0.0, attempt_floor: int = 0) -> bool:
        """True when attempt `attempt` was the last one allowed (attempts since the last replay)."""
        stop: stop_base = stop_after_attempt(self.max_attempts)
        if self.max_age_seconds is not None:
            stop = stop | stop_after_delay(self.max_age_seconds)
        return bool(stop(_call_state(attempt - attempt_floor, age_seconds)))

    def after_failure(
        self,
        *,
        attempt: int,
        retryable: bool,
        now: datetime,
        rng: random.Random,
        age_seconds: float = 0.0,
        attempt_floor: int = 0,
    ) -> Verdict:
        """What follows failed attempt `attempt`: a retry time, or exhaustion and why."""
        if not retryable:
            return Exhaust("non_retryable")
        if self.exhausted(attempt, age_seconds, attempt_floor):
            if attempt - attempt_floor >= self.max_attempts:
                return Exhaust("max_attempts")
            return Exhaust("max_age")
        return RetryAt(now + timedelta(seconds=self.delay(attempt, rng)), attempt + 1)
