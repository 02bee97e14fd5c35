"""Retry rules that travel with the batch, on the moto server: per error, per job, stored.

Each test drives the real producer, remediator and a worker loop; the clock is the stack's
(injected), backoffs are persisted times the tests step over.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from observability import AuditTrail, RetryPolicy, RetryRule, Status
from tests.conftest import MOTO_ARN, Clock, drain, new_id
from tests.integration.harness import Stack, run_cli


class WarehouseTimeout(TimeoutError):
    """A subclass: a rule naming TimeoutError governs it."""


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


TIMEOUTS = RetryPolicy(
    rules=(RetryRule("timeouts", errors=("TimeoutError",), max_attempts=5, base_seconds=0),),
    never=("ValueError",),
)


def run(
    trail: AuditTrail,
    stack: Stack,
    job: str,
    batch: str,
    work: Callable[[], None],
    retry: RetryPolicy | None = None,
) -> None:
    try:
        with trail.batch(job, batch, trigger=stack.trigger(batch), retry=retry):
            work()
    except Exception:  # noqa: S110 - the pipeline carries on; the trail has recorded it
        pass


def heal_loop(stack: Stack, job: str, work: Callable[[str], None], rounds: int = 10) -> int:
    """The remediator and a worker, round after round (time stepped past each backoff);
    returns the number of re-runs."""
    reruns = 0
    for _ in range(rounds):
        stack.clock.advance(1)
        stack.service.run_once()
        messages = stack.work()
        if not messages:
            continue
        for message in messages:
            reruns += 1
            batch = message["batch_id"]
            run(stack.trail, stack, job, batch, lambda b=batch: work(b))
    return reruns


def attempts_and_events(stack: Stack, job: str, batch: str) -> tuple[int, list[str]]:
    state = stack.trail.get(job, batch)
    assert state is not None
    return state.attempt, [e.event.value for e in stack.trail.history(job, batch)]


def alerts(stack: Stack, resources: Any) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in drain(stack.clients.sqs(), resources.alerts_queue_url)]


def raise_(exc: BaseException) -> Callable[[], None]:
    def fail() -> None:
        raise exc

    return fail


def test_each_error_follows_its_own_rule(stack: Stack, resources: Any):
    job = new_id()
    run(stack.trail, stack, job, "slow", raise_(WarehouseTimeout("warehouse")), TIMEOUTS)
    run(stack.trail, stack, job, "bad", raise_(ValueError("bad row")), TIMEOUTS)
    reruns = heal_loop(stack, job, lambda b: (_ for _ in ()).throw(WarehouseTimeout(b)))

    # TimeoutError's rule: five attempts in all, the first included, then EXHAUSTED.
    attempt, events = attempts_and_events(stack, job, "slow")
    assert attempt == 5
    assert events.count("FAILED") == 5
    assert events.count("RETRY_TRIGGERED") == 4
    assert events[-1] == "EXHAUSTED"
    assert reruns == 4
    last = stack.trail.history(job, "slow")[-1]
    assert last.detail["rule"] == "timeouts"
    assert last.detail["why"] == 'rule "timeouts": 5 of 5 attempts'
    # ValueError is never retried: exhausted after its only attempt.
    attempt, events = attempts_and_events(stack, job, "bad")
    assert (attempt, events) == (1, ["STARTED", "FAILED", "EXHAUSTED"])
    assert stack.trail.history(job, "bad")[-1].detail["reason"] == "non_retryable"
    # One alert each.
    got = sorted((a["batch_id"], a["reason"]) for a in alerts(stack, resources))
    assert got == [("bad", "non_retryable"), ("slow", "max_attempts")]


def test_a_subclass_of_a_matched_error_matches_and_heals(stack: Stack):
    job = new_id()
    run(stack.trail, stack, job, "b", raise_(WarehouseTimeout("blip")), TIMEOUTS)
    state = stack.trail.get(job, "b")
    assert state is not None
    assert (state.status, state.rule, state.cap) == (Status.FAILED, "timeouts", 5)
    heal_loop(stack, job, lambda b: None, rounds=2)
    attempt, events = attempts_and_events(stack, job, "b")
    assert (attempt, events[-1]) == (2, "SUCCESS")


def test_the_producer_and_the_remediator_agree_on_the_stored_cap(
    stack: Stack, settings_kwargs: dict[str, Any]
):
    """Producer with REMEDIATOR_MAX_ATTEMPTS=3, remediator with 7: the batch's stored cap
    (the producer's, recorded with the batch) decides, in both."""
    from observability.settings import Settings

    producer = stack.producer()
    assert producer.settings.max_attempts == 3
    seven = stack.make_remediator(max_attempts=7)
    assert seven.fallback.max_attempts == 7
    stack.remediator = seven
    stack.service = stack.make_service(seven)
    job = new_id()
    run(producer, stack, job, "b", raise_(RuntimeError("down")))
    state = producer.get(job, "b")
    assert state is not None
    assert (state.rule, state.cap) == ("default", 3)
    reruns = heal_loop(stack, job, lambda b: (_ for _ in ()).throw(RuntimeError(b)))
    attempt, events = attempts_and_events(stack, job, "b")
    assert (attempt, events[-1], reruns) == (3, "EXHAUSTED", 2)
    # And a producer whose own settings say 7 now records 7 with its batches.
    seven_producer = AuditTrail(
        Settings(**{**settings_kwargs, "max_attempts": 7, "backoff_base_seconds": 0}),
        clients=stack.clients,
        clock=stack.clock,
    )
    run(seven_producer, stack, job, "c", raise_(RuntimeError("down")))
    assert seven_producer.get(job, "c").cap == 7  # type: ignore[union-attr]


def test_a_job_policy_set_by_an_operator_applies_and_a_batch_rule_beats_it(
    stack: Stack, moto_endpoint: str
):
    job = new_id()
    done = run_cli(
        moto_endpoint,
        stack.settings,
        "policy",
        "set",
        job,
        "--operator",
        "ops",
        "--retry",
        json.dumps(
            {
                "rules": [{"name": "flaky", "errors": ["RuntimeError"], "max_attempts": 2}],
                "never": ["KeyError"],
            }
        ),
    )
    assert done.returncode == 0, done.stderr
    # A batch without its own policy: the job's rule governs it.
    run(stack.trail, stack, job, "plain", raise_(RuntimeError("x")))
    state = stack.trail.get(job, "plain")
    assert state is not None
    assert (state.rule, state.cap) == ("flaky", 2)
    # A batch bringing its own rule for the same error: its rule wins.
    own = RetryPolicy(
        rules=(RetryRule("mine", errors=("RuntimeError",), max_attempts=6, base_seconds=0),)
    )
    run(stack.trail, stack, job, "own", raise_(RuntimeError("x")), own)
    state = stack.trail.get(job, "own")
    assert state is not None
    assert (state.rule, state.cap) == ("mine", 6)
    # The job's never list applies too.
    run(stack.trail, stack, job, "key", raise_(KeyError("k")))
    assert stack.trail.get(job, "key").status is Status.EXHAUSTED  # type: ignore[union-attr]

    shown = run_cli(moto_endpoint, stack.settings, "policy", "show", job, "--output", "json")
    policy = json.loads(shown.stdout)
    assert policy["retry"]["rules"][0]["name"] == "flaky"
    [change] = policy["changes"]
    assert (change["by"], change["operator"], change["field"], change["old"]) == (
        MOTO_ARN,
        "ops",
        "retry",
        None,
    )
    assert change["new"]["never"] == ["KeyError"]
    cleared = run_cli(moto_endpoint, stack.settings, "policy", "clear", job, "--operator", "ops")
    assert cleared.returncode == 0, cleared.stderr
    shown = json.loads(
        run_cli(moto_endpoint, stack.settings, "policy", "show", job, "--output", "json").stdout
    )
    assert shown["retry"] is None
    assert [c["field"] for c in shown["changes"]] == ["retry", "retry"]
    # The history, status and failed say which rule decided.
    failed = run_cli(
        moto_endpoint, stack.settings, "failed", "--job", job, "--rule", "flaky", "--output", "json"
    )
    assert [r["batch_id"] for r in json.loads(failed.stdout)] == ["plain"]


def test_a_bad_policy_is_refused_before_anything_is_written(stack: Stack, moto_endpoint: str):
    job = new_id()
    bad = json.dumps({"rules": [{"name": "x", "errors": ["E"], "base_seconds": -1}]})
    done = run_cli(moto_endpoint, stack.settings, "policy", "set", job, "--retry", bad)
    assert done.returncode == 1
    assert "retry rule 'x'.base_seconds" in done.stderr
    assert "between 0 and 86400" in done.stderr
    assert "\n" not in done.stderr.strip()
    assert stack.trail.job_policy(job) is None


def test_replay_can_override_the_cap_for_that_replay(stack: Stack, moto_endpoint: str):
    job = new_id()
    never = RetryPolicy(
        rules=(RetryRule("once", errors=("RuntimeError",), max_attempts=1, base_seconds=0),)
    )
    run(stack.trail, stack, job, "b", raise_(RuntimeError("x")), never)
    assert stack.trail.get(job, "b").status is Status.EXHAUSTED  # type: ignore[union-attr]
    done = run_cli(
        moto_endpoint, stack.settings, "replay", job, "b", "--yes", "--max-attempts", "3"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    reruns = heal_loop(stack, job, lambda b: (_ for _ in ()).throw(RuntimeError(b)))
    # The replay's episode: 3 attempts (the replayed run and two retries), not the rule's 1.
    attempt, events = attempts_and_events(stack, job, "b")
    assert (attempt, events[-1]) == (4, "EXHAUSTED")
    assert reruns == 3
    assert events.count("REPLAY_TRIGGERED") == 1


def test_ten_successful_runs_leave_a_failure_its_whole_budget(stack: Stack):
    job = new_id()
    for _ in range(10):
        run(stack.trail, stack, job, "b", lambda: None)
    run(stack.trail, stack, job, "b", raise_(RuntimeError("x")))
    reruns = heal_loop(stack, job, lambda b: (_ for _ in ()).throw(RuntimeError(b)))
    assert reruns == stack.settings.max_attempts - 1
    state = stack.trail.get(job, "b")
    assert state is not None
    assert (state.status, state.attempt, state.episode_attempt) == (
        Status.EXHAUSTED,
        10 + stack.settings.max_attempts,
        stack.settings.max_attempts,
    )
