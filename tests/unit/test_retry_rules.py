"""Retry rules (observability/retry/rules.py, backoff.RetryRule): matching, layers, schedules.

Pure: an injected clock reading and random source, no AWS.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observability.errors import InvalidInput, NonRetryableError
from observability.models import iso
from observability.retry import (
    MAX_POLICY_BYTES,
    RetryPolicy,
    StoredRetry,
    decide_rule,
    error_names,
    judge,
)
from observability.retry.backoff import Exhaust, RetryAt, RetryRule

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FALLBACK = RetryRule(max_attempts=3)


class WarehouseTimeout(TimeoutError):
    pass


class SchemaError(ValueError):
    pass


def test_error_names_walk_the_class_hierarchy_nearest_first() -> None:
    names = error_names(WarehouseTimeout("x"))
    assert names[:2] == ("WarehouseTimeout", f"{__name__}.WarehouseTimeout")
    assert "TimeoutError" in names
    assert "OSError" in names
    assert "Exception" in names
    assert names.index("TimeoutError") < names.index("OSError") < names.index("Exception")


def test_first_matching_rule_wins_and_subclasses_match() -> None:
    policy = RetryPolicy(
        rules=(
            RetryRule("warehouse", errors=("WarehouseTimeout",), max_attempts=5),
            RetryRule("timeouts", errors=("TimeoutError",), max_attempts=8),
        )
    )
    pick = lambda exc: decide_rule(error_names(exc), ("batch", policy), fallback=FALLBACK)  # noqa: E731
    assert pick(WarehouseTimeout()).name == "warehouse"
    assert pick(TimeoutError()).name == "timeouts"
    assert pick(KeyError()).rule is FALLBACK
    # A module-qualified name matches too.
    qualified = RetryPolicy(rules=(RetryRule("q", errors=(f"{__name__}.SchemaError",)),))
    assert decide_rule(error_names(SchemaError()), ("b", qualified), fallback=FALLBACK).name == "q"


def test_never_comes_after_the_layer_rules_and_non_retryable_error_always_wins() -> None:
    policy = RetryPolicy(
        rules=(RetryRule("schema", errors=("SchemaError",), max_attempts=2),),
        never=("ValueError",),
    )
    names = error_names
    assert decide_rule(names(SchemaError()), ("b", policy), fallback=FALLBACK).name == "schema"
    never = decide_rule(names(ValueError()), ("b", policy), fallback=FALLBACK)
    assert (never.rule, never.source, never.matched) == (None, "b", "ValueError")

    class Fatal(NonRetryableError):
        pass

    forced = decide_rule(names(Fatal()), ("b", policy), fallback=FALLBACK)
    assert forced.rule is None


def test_layers_batch_then_job_then_settings_and_the_first_default() -> None:
    batch = RetryPolicy(rules=(RetryRule("mine", errors=("KeyError",), max_attempts=4),))
    job = RetryPolicy(
        rules=(RetryRule("jobs", errors=("KeyError", "OSError"), max_attempts=9),),
        never=("ValueError",),
        default=RetryRule("job-default", max_attempts=6),
    )
    settings = RetryPolicy(
        default=RetryRule("default", max_attempts=3), never=("ZeroDivisionError",)
    )
    layers = (("batch", batch), ("job", job), ("settings", settings))

    def pick(exc: BaseException) -> str:
        return decide_rule(error_names(exc), *layers, fallback=FALLBACK).name

    assert pick(KeyError()) == "mine"  # the batch's own rule beats the job's
    assert pick(OSError()) == "jobs"
    assert pick(ValueError()) == "never"
    assert pick(ZeroDivisionError()) == "never"
    assert pick(RuntimeError()) == "job-default"  # the first layer with a default
    no_job = decide_rule(error_names(RuntimeError()), ("batch", batch), ("settings", settings),
                         fallback=FALLBACK)  # fmt: skip
    assert no_job.name == "default"


@pytest.mark.parametrize(
    ("rule", "bounds"),
    [
        (RetryRule(base_seconds=10, max_seconds=1000), [10, 20, 40, 80]),
        (RetryRule(base_seconds=10, max_seconds=1000, backoff_rate=3), [10, 30, 90, 270]),
        (RetryRule(base_seconds=10, max_seconds=25), [10, 20, 25, 25]),
        (RetryRule(base_seconds=0, max_seconds=25), [0, 0, 0, 0]),
    ],
)
def test_each_rule_makes_its_own_schedule(rule: RetryRule, bounds: list[float]) -> None:
    assert [rule.delay_bound(n) for n in (1, 2, 3, 4)] == bounds


def test_jitter_none_waits_exactly_the_bound_and_full_stays_below_it() -> None:
    exact = RetryRule(base_seconds=10, max_seconds=1000, jitter="none")
    assert [exact.delay(n, random.Random(1)) for n in (1, 2, 3)] == [10, 20, 40]
    full = RetryRule(base_seconds=10, max_seconds=1000)
    draws = [full.delay(3, random.Random(seed)) for seed in range(200)]
    assert all(0 <= d <= 40 for d in draws)
    assert len(set(draws)) > 190


@given(st.integers(min_value=1, max_value=10), st.integers(min_value=0, max_value=30))
def test_judge_caps_by_the_rule_counting_attempts_of_the_episode(cap: int, floor: int) -> None:
    policy = RetryPolicy(rules=(RetryRule("r", errors=("KeyError",), max_attempts=cap),))
    stored = StoredRetry(policy, RetryPolicy(default=FALLBACK)).to_json()
    for episode in range(1, cap + 1):
        verdict, governed = judge(
            stored=stored, names=error_names(KeyError()), job=None, fallback=FALLBACK,
            attempt=floor + episode, attempt_floor=floor, first_failed_at=NOW,
            cap_override=None, has_trigger=True, now=NOW, rng=random.Random(0),
        )  # fmt: skip
        assert (governed.rule, governed.cap, governed.episode_attempt) == ("r", cap, episode)
        if episode < cap:
            assert isinstance(verdict, RetryAt)
            assert verdict.attempt == floor + episode + 1
        else:
            assert verdict == Exhaust("max_attempts")
            assert governed.why == f'rule "r": {cap} of {cap} attempts'


def test_judge_max_age_deadline_no_trigger_and_replay_override() -> None:
    aged = RetryRule("aged", errors=("KeyError",), max_attempts=10, max_age_seconds=600)
    stored = StoredRetry(RetryPolicy(rules=(aged,)), RetryPolicy(default=FALLBACK)).to_json()
    first = NOW - timedelta(seconds=601)
    common = {
        "stored": stored, "names": error_names(KeyError()), "job": None, "fallback": FALLBACK,
        "attempt": 2, "attempt_floor": 0, "cap_override": None, "now": NOW,
        "rng": random.Random(0),
    }  # fmt: skip
    verdict, governed = judge(**common, first_failed_at=first, has_trigger=True)  # type: ignore[arg-type]
    assert verdict == Exhaust("max_age")
    assert governed.deadline == iso(first + timedelta(seconds=600))
    verdict, _ = judge(**common, first_failed_at=NOW, has_trigger=False)  # type: ignore[arg-type]
    assert verdict == Exhaust("no_trigger")
    override = {**common, "cap_override": 5, "attempt": 4, "attempt_floor": 1}
    verdict, governed = judge(**override, first_failed_at=NOW, has_trigger=True)  # type: ignore[arg-type]
    assert isinstance(verdict, RetryAt)
    assert (governed.cap, governed.episode_attempt) == (5, 3)


def test_a_batch_recorded_without_a_policy_is_decided_by_the_fallback() -> None:
    verdict, governed = judge(
        stored=None, names=error_names(KeyError()), job=None, fallback=RetryRule(max_attempts=2),
        attempt=2, attempt_floor=0, first_failed_at=None, cap_override=None, has_trigger=True,
        now=NOW, rng=random.Random(0),
    )  # fmt: skip
    assert verdict == Exhaust("max_attempts")
    assert governed.cap == 2


@pytest.mark.parametrize(
    ("build", "field", "says"),
    [
        (lambda: RetryRule("x", errors=("E",), base_seconds=-1), "'x'.base_seconds", "between 0"),
        (lambda: RetryRule("x", errors=("E",), max_attempts=101), "'x'.max_attempts", "1 to 100"),
        (lambda: RetryRule("x", errors=("E",), max_attempts=0), "'x'.max_attempts", "1 to 100"),
        (lambda: RetryRule("x", errors=("",)), "'x'.errors", "1 to 256 characters"),
        (lambda: RetryRule("x", errors=("E",), jitter="half"), "'x'.jitter", "full, none"),
        (lambda: RetryRule("x", errors=("E",), backoff_rate=0.5), "'x'.backoff_rate", "between 1"),
        (lambda: RetryRule("bad name", errors=("E",)), "retry rule 'bad name'.name", "A-Z"),
        (lambda: RetryPolicy(rules=(RetryRule("x"),)), "'x'.errors", "at least one error"),
        (
            lambda: RetryPolicy(
                rules=(RetryRule("x", errors=("E",)), RetryRule("x", errors=("F",)))
            ),
            "retry.rules",
            "unique",
        ),
        (
            lambda: RetryPolicy(
                rules=tuple(
                    RetryRule(f"r{i}", errors=tuple(f"E{i}x{j}" * 10 for j in range(20)))
                    for i in range(5)
                )
            ),
            "retry",
            f"the limit is {MAX_POLICY_BYTES} bytes",
        ),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field_and_the_limit(build, field: str, says: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as raised:
        build()
    assert field in str(raised.value)
    assert says in str(raised.value)


def test_policies_round_trip_through_json() -> None:
    policy = RetryPolicy(
        rules=(
            RetryRule(
                "timeouts",
                errors=("TimeoutError",),
                max_attempts=5,
                base_seconds=2,
                backoff_rate=1.5,
                jitter="none",
                max_age_seconds=3600,
            ),
        ),
        never=("ValueError",),
        default=RetryRule(max_attempts=4),
    )
    assert RetryPolicy.from_json(policy.to_json()) == policy
    stored = StoredRetry(policy, RetryPolicy(default=FALLBACK))
    assert StoredRetry.from_json(stored.to_json()) == stored
    with pytest.raises(InvalidInput, match="unknown fields"):
        RetryPolicy.from_dict({"rules": [{"name": "x", "errors": ["E"], "tries": 3}]})


def test_a_stored_policy_leaves_out_the_contracts_defaults_and_reads_them_back() -> None:
    """Every batch's item holds its stored policy: the contract's defaults are not spelt out
    (no `env` at all when no setting changes them), and the old, spelt-out form still reads."""
    contract = RetryPolicy(default=RetryRule())
    assert StoredRetry(None, contract).to_json() == "{}"
    assert StoredRetry.from_json("{}") == StoredRetry(None, contract)
    quick = RetryPolicy(default=RetryRule(base_seconds=0), never=("KeyError",))
    stored = StoredRetry(RetryPolicy(rules=(RetryRule(name="r", errors=("E",)),)), quick)
    assert json.loads(stored.to_json())["env"]["default"] == {"base_seconds": 0}  # no name
    assert StoredRetry.from_json(stored.to_json()) == stored
    # A default rule that is all the contract's keeps its name: `{}` reads as no rule.
    plain = StoredRetry(None, RetryPolicy(default=RetryRule(), never=("KeyError",)))
    assert json.loads(plain.to_json())["env"]["default"] == {"name": "default"}
    assert StoredRetry.from_json(plain.to_json()) == plain
    old = (
        '{"env":{"default":{"base_seconds":60.0,"max_attempts":3,'
        '"max_seconds":3600.0,"name":"default"}}}'
    )
    assert StoredRetry.from_json(old) == StoredRetry(None, contract)
