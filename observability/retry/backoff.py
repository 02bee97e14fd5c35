"""The retry schedule and cap, computed by tenacity's strategies. Pure: no clock, no I/O.

The schedule is persisted as `next_retry_at` by whoever records the failure, never slept
inside a process; each replica only compares it with its clock.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from observability.errors import InvalidInput

if TYPE_CHECKING:
    from tenacity import RetryCallState
    from tenacity.stop import stop_base

    from observability.retry.actions import Overrides, WaitUntil
    from observability.settings import Settings

__all__ = [
    "JITTERS",
    "MAX_ATTEMPTS_LIMIT",
    "Exhaust",
    "Governed",
    "RetryAt",
    "RetryRule",
    "Verdict",
]


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Retry the batch at `at`; the re-run will be attempt `attempt`."""

    at: datetime
    attempt: int


@dataclass(frozen=True, slots=True)
class Exhaust:
    """No automatic retry: `reason` is `max_attempts`, `max_age`, `non_retryable` or
    `no_trigger`."""

    reason: str


Verdict = RetryAt | Exhaust


@dataclass(frozen=True, slots=True)
class Governed:
    """What governs a failure, recorded with it: the matched rule's name, the attempts it
    allows in this episode, this attempt's number in it, when its maximum age runs out,
    and one line for people (`rule "timeouts": 5 of 5 attempts`)."""

    rule: str
    cap: int
    episode_attempt: int
    deadline: str | None = None
    why: str = ""


def _call_state(attempt: int, age_seconds: float = 0.0) -> RetryCallState:
    # tenacity is loaded at the first failure: a batch that succeeds never needs it.
    from tenacity import RetryCallState, Retrying

    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = attempt
    # stop_after_delay reads outcome_timestamp - start_time: express the age that way.
    state.start_time = 0.0
    state.outcome_timestamp = age_seconds
    return state


JITTERS = ("full", "none")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_ATTEMPTS_LIMIT = 100
MAX_DELAY_LIMIT = 7 * 86_400.0
MAX_AGE_LIMIT = 365 * 86_400.0
MAX_ERROR_NAMES = 50


def _error_name(field: str, value: object) -> str:
    if isinstance(value, type) and issubclass(value, BaseException):
        return value.__name__
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise InvalidInput(field, "must be exception class names of 1 to 256 characters")
    return value.strip()


def _number(field: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidInput(field, f"must be a number, got {value!r}")
    if not low <= value <= high:
        raise InvalidInput(field, f"is {value:g}; it must be between {low:g} and {high:g}")
    return float(value)


@dataclass(frozen=True, slots=True)
class RetryRule:
    """How one kind of error is retried, like a Step Functions `Retry` rule.

    `errors` are exception class names, matched against the whole class hierarchy of the
    raised exception (a subclass matches); `max_attempts` counts every run of one failure
    episode, the first included (a SUCCESS starts a new episode). The delay after failed
    attempt n is `base_seconds * backoff_rate^(n-1)`, capped at `max_seconds`, drawn
    uniformly below that bound with full jitter; `max_age_seconds` stops retrying that long
    after the episode's first failure.

    Besides `errors`, a rule can match the error's `message` (a regular expression, see
    observability.retry.match), its `code` (any of them), and for a run AWS stopped (a
    state-change event) its `exit_code` and stop `reason` (exact, or a prefix ending with
    `*`, as AWS Batch's `evaluateOnExit`); every field given must match.
    Its actions: `overrides` change the trigger from an attempt on, `wait_until` (a time of
    day in a zone) holds a retry until then if its backoff ends sooner, and `quarantine`
    retries nothing and alerts at once, naming the rule.
    """

    name: str = "default"
    errors: tuple[str, ...] = ()
    max_attempts: int = 3
    base_seconds: float = 60.0
    max_seconds: float = 3600.0
    backoff_rate: float = 2.0
    jitter: str = "full"
    max_age_seconds: float | None = None
    message: str | None = None
    code: tuple[str, ...] = ()
    exit_code: str | None = None
    reason: str | None = None
    overrides: Overrides | None = None
    wait_until: WaitUntil | None = None
    quarantine: bool = False

    def __post_init__(self) -> None:
        where = f"retry rule {self.name!r}" if isinstance(self.name, str) else "retry rule"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidInput(f"{where}.name", "must be 1 to 64 of A-Z a-z 0-9 _ . -")
        raw: object = self.errors  # also a single name, an exception class, or a list
        errors = (raw,) if isinstance(raw, str | type) else raw
        if not isinstance(errors, tuple | list) or len(errors) > MAX_ERROR_NAMES:
            raise InvalidInput(f"{where}.errors", f"must be a list of at most {MAX_ERROR_NAMES}")
        object.__setattr__(self, "errors", tuple(_error_name(f"{where}.errors", e) for e in errors))
        if (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or not 1 <= self.max_attempts <= MAX_ATTEMPTS_LIMIT
        ):
            raise InvalidInput(
                f"{where}.max_attempts",
                f"is {self.max_attempts!r}; it must be an integer from 1 to {MAX_ATTEMPTS_LIMIT}",
            )
        base = _number(f"{where}.base_seconds", self.base_seconds, 0, 86_400)
        most = _number(f"{where}.max_seconds", self.max_seconds, 0, MAX_DELAY_LIMIT)
        rate = _number(f"{where}.backoff_rate", self.backoff_rate, 1.0, 10.0)
        object.__setattr__(self, "base_seconds", base)
        object.__setattr__(self, "max_seconds", most)
        object.__setattr__(self, "backoff_rate", rate)
        if self.jitter not in JITTERS:
            raise InvalidInput(f"{where}.jitter", f"must be one of {', '.join(JITTERS)}")
        if self.max_age_seconds is not None:
            age = _number(f"{where}.max_age_seconds", self.max_age_seconds, 1, MAX_AGE_LIMIT)
            object.__setattr__(self, "max_age_seconds", age)
        self._check_actions(where)

    def _check_actions(self, where: str) -> None:
        """What else the rule matches by (message, code), and what it does besides backoff.
        A rule that uses none of them (the defaults every trail builds) imports neither
        module: their patterns and zones load with the first rule that needs them."""
        if not isinstance(self.quarantine, bool):
            raise InvalidInput(f"{where}.quarantine", "must be true or false")
        uses = (self.message, self.exit_code, self.reason, self.overrides, self.wait_until)
        if self.code == () and all(value is None for value in uses):
            return
        from observability.retry.actions import Overrides, WaitUntil
        from observability.retry.match import (
            check_codes,
            check_exit_code,
            check_pattern,
            check_reason,
        )

        if self.message is not None:
            check_pattern(f"{where}.message", self.message)
        object.__setattr__(self, "code", check_codes(f"{where}.code", self.code))
        if self.exit_code is not None:
            exit_code = check_exit_code(f"{where}.exit_code", self.exit_code)
            object.__setattr__(self, "exit_code", exit_code)
        if self.reason is not None:
            check_reason(f"{where}.reason", self.reason)
        if self.overrides is not None:
            overrides = Overrides.from_dict(f"{where}.overrides", self.overrides)
            object.__setattr__(self, "overrides", overrides)
        if self.wait_until is not None:
            wait = WaitUntil.parse(f"{where}.wait_until", self.wait_until)
            object.__setattr__(self, "wait_until", wait)
        if self.quarantine and (self.overrides is not None or self.wait_until is not None):
            raise InvalidInput(
                f"{where}.quarantine", "retries nothing: it takes no overrides or wait_until"
            )

    @property
    def matches_any(self) -> bool:
        """Whether the rule names something to match by (a default rule matches anything)."""
        return bool(self.errors or self.message or self.code or self.exit_code or self.reason)

    def delay_bound(self, attempt: int) -> float:
        """Upper bound of the delay after failed attempt `attempt` of the episode."""
        if self.base_seconds <= 0:
            return 0.0
        from tenacity import wait_exponential

        wait = wait_exponential(
            multiplier=self.base_seconds, max=self.max_seconds, exp_base=self.backoff_rate
        )
        return float(wait(_call_state(attempt)))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter (uniform over [0, bound]) so a fleet's retries spread out; or the bound."""
        bound = self.delay_bound(attempt)
        return rng.uniform(0.0, bound) if self.jitter == "full" else bound

    def exhausted(self, attempt: int, age_seconds: float = 0.0, attempt_floor: int = 0) -> bool:
        """True when attempt `attempt` was the last one allowed in its episode (the attempts
        after `attempt_floor`: the last SUCCESS or replay)."""
        from tenacity import stop_after_attempt, stop_after_delay

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
        delay = self.delay(attempt - attempt_floor, rng)
        return RetryAt(now + timedelta(seconds=delay), attempt + 1)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "max_attempts": self.max_attempts,
            "base_seconds": self.base_seconds,
            "max_seconds": self.max_seconds,
        }
        if self.errors:
            out["errors"] = list(self.errors)
        if self.backoff_rate != 2.0:
            out["backoff_rate"] = self.backoff_rate
        if self.jitter != "full":
            out["jitter"] = self.jitter
        if self.max_age_seconds is not None:
            out["max_age_seconds"] = self.max_age_seconds
        if self.message is not None:
            out["message"] = self.message
        if self.code:
            out["code"] = list(self.code)
        if self.exit_code is not None:
            out["exit_code"] = self.exit_code
        if self.reason is not None:
            out["reason"] = self.reason
        if self.overrides is not None:
            out["overrides"] = self.overrides.to_dict()
        if self.wait_until is not None:
            out["wait_until"] = str(self.wait_until)
        if self.quarantine:
            out["quarantine"] = True
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "retry rule") -> RetryRule:
        if not isinstance(data, dict):
            raise InvalidInput(where, "must be an object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(where, f"unknown fields {unknown}; known: {sorted(known)}")
        values = dict(data)
        for name in ("errors", "code"):
            if name in values and isinstance(values[name], list):
                values[name] = tuple(values[name])
        return cls(**values)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryRule:
        return cls(
            name="default",
            max_attempts=settings.max_attempts,
            base_seconds=settings.backoff_base_seconds,
            max_seconds=settings.backoff_max_seconds,
            max_age_seconds=settings.max_age_seconds,
        )
