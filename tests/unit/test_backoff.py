"""Retry schedule and cap (observability/retry/backoff.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observability.retry.backoff import Exhaust, RetryAt, RetryRule
from observability.settings import Settings

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "bound"),
    [(1, 60.0), (2, 120.0), (3, 240.0), (4, 480.0), (5, 960.0), (6, 1920.0), (7, 3600.0)],
)
def test_delay_bound_doubles_from_base_and_is_capped(attempt: int, bound: float) -> None:
    assert RetryRule(base_seconds=60, max_seconds=3600).delay_bound(attempt) == bound


@pytest.mark.parametrize("attempt", [7, 20, 100, 10_000])
def test_delay_bound_stays_at_the_cap_for_large_attempts(attempt: int) -> None:
    assert RetryRule(base_seconds=60, max_seconds=3600).delay_bound(attempt) == 3600.0


@pytest.mark.parametrize("attempt", [1, 2, 10])
def test_zero_base_gives_zero_delay(attempt: int) -> None:
    policy = RetryRule(base_seconds=0, max_seconds=3600)
    assert policy.delay_bound(attempt) == 0.0
    assert policy.delay(attempt, random.Random(1)) == 0.0


def test_max_below_base_caps_even_the_first_delay() -> None:
    assert RetryRule(base_seconds=60, max_seconds=30).delay_bound(1) == 30.0


@given(
    attempt=st.integers(min_value=1, max_value=50),
    base=st.floats(min_value=0, max_value=1000),
    cap=st.floats(min_value=0, max_value=100_000),
    seed=st.integers(),
)
def test_full_jitter_stays_within_zero_and_the_bound(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    policy = RetryRule(base_seconds=base, max_seconds=max(base, cap))
    bound = policy.delay_bound(attempt)
    assert 0.0 <= bound <= policy.max_seconds
    assert 0.0 <= policy.delay(attempt, random.Random(seed)) <= bound


def test_jitter_spreads_over_the_whole_interval() -> None:
    policy = RetryRule(base_seconds=60, max_seconds=3600)
    delays = [policy.delay(1, random.Random(seed)) for seed in range(500)]
    assert all(0.0 <= d <= 60.0 for d in delays)
    assert min(delays) < 6.0
    assert max(delays) > 54.0
    assert len(set(delays)) > 450  # not a constant: real jitter


def test_jitter_is_reproducible_for_a_seed() -> None:
    policy = RetryRule()
    assert policy.delay(3, random.Random(42)) == policy.delay(3, random.Random(42))


@pytest.mark.parametrize(
    ("max_attempts", "attempt", "exhausted"),
    [(3, 1, False), (3, 2, False), (3, 3, True), (3, 4, True), (1, 1, True), (5, 4, False)],
)
def test_exhausted_at_the_attempt_cap(max_attempts: int, attempt: int, exhausted: bool) -> None:
    assert RetryRule(max_attempts=max_attempts).exhausted(attempt) is exhausted


@pytest.mark.parametrize(
    ("attempt", "floor", "exhausted"),
    [(3, 0, True), (3, 2, False), (4, 2, False), (5, 2, True), (6, 3, True), (5, 3, False)],
)
def test_attempt_floor_counts_attempts_since_the_last_replay(
    attempt: int, floor: int, exhausted: bool
) -> None:
    assert RetryRule(max_attempts=3).exhausted(attempt, attempt_floor=floor) is exhausted


@pytest.mark.parametrize(
    ("max_age", "age", "exhausted"),
    [
        (None, 10**9, False),
        (600, 0, False),
        (600, 599.9, False),
        (600, 600, True),
        (600, 1e6, True),
    ],
)
def test_max_age_stops_retries(max_age: float | None, age: float, exhausted: bool) -> None:
    policy = RetryRule(max_attempts=10, max_age_seconds=max_age)
    assert policy.exhausted(1, age_seconds=age) is exhausted


def _after(policy: RetryRule, **kwargs: object) -> object:
    args: dict[str, object] = {
        "attempt": 1,
        "retryable": True,
        "now": NOW,
        "rng": random.Random(7),
    }
    args.update(kwargs)
    return policy.after_failure(**args)  # type: ignore[arg-type]


def test_non_retryable_wins_over_everything() -> None:
    assert _after(RetryRule(max_attempts=10), retryable=False) == Exhaust("non_retryable")
    assert _after(RetryRule(max_attempts=1), attempt=5, retryable=False) == Exhaust("non_retryable")


def test_max_attempts_verdict() -> None:
    assert _after(RetryRule(max_attempts=3), attempt=3) == Exhaust("max_attempts")
    assert _after(RetryRule(max_attempts=3), attempt=9) == Exhaust("max_attempts")


def test_max_attempts_takes_precedence_over_max_age() -> None:
    policy = RetryRule(max_attempts=3, max_age_seconds=60)
    assert _after(policy, attempt=3, age_seconds=1e6) == Exhaust("max_attempts")


def test_max_age_verdict() -> None:
    policy = RetryRule(max_attempts=10, max_age_seconds=60)
    assert _after(policy, attempt=2, age_seconds=61) == Exhaust("max_age")


def test_retry_at_is_within_the_jittered_bound_and_names_the_next_attempt() -> None:
    policy = RetryRule(max_attempts=5, base_seconds=60, max_seconds=3600)
    for attempt, bound in [(1, 60), (2, 120), (3, 240), (4, 480)]:
        verdict = _after(policy, attempt=attempt)
        assert isinstance(verdict, RetryAt)
        assert verdict.attempt == attempt + 1
        assert NOW <= verdict.at <= NOW + timedelta(seconds=bound)
        assert verdict.at.tzinfo is not None


def test_retry_at_uses_the_given_rng() -> None:
    policy = RetryRule(max_attempts=5)
    expected = NOW + timedelta(seconds=policy.delay(2, random.Random(99)))
    assert _after(policy, attempt=2, rng=random.Random(99)) == RetryAt(expected, 3)


def test_retry_after_a_replay_uses_attempt_floor() -> None:
    policy = RetryRule(max_attempts=3)
    verdict = _after(policy, attempt=4, attempt_floor=3)
    assert isinstance(verdict, RetryAt)
    assert verdict.attempt == 5
    assert _after(policy, attempt=6, attempt_floor=3) == Exhaust("max_attempts")


def test_from_settings() -> None:
    settings = Settings(
        max_attempts=7,
        backoff_base_seconds=5,
        backoff_max_seconds=50,
        max_age_seconds=900,
        _env_file=None,
    )
    policy = RetryRule.from_settings(settings)
    assert policy == RetryRule(max_attempts=7, base_seconds=5, max_seconds=50, max_age_seconds=900)
