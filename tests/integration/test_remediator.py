"""The remediator against a moto server: heal, cap, backoff, stale, lost signals, guards."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from observability import SqsTrigger, Status
from observability.models import from_iso
from remediator.ops.identity import Actor
from remediator.ops.replay import replay
from tests.conftest import MOTO_ARN, Clock, drain, new_id
from tests.integration.harness import Stack, count_calls


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def events(stack: Stack, job: str, batch: str) -> list[str]:
    return [e.event.value for e in stack.trail.history(job, batch)]


def ok(_: str) -> None:
    return None


def boom(batch: str) -> None:
    raise RuntimeError(f"{batch} failed again")


def test_heal_one_failure_one_retry(stack: Stack):
    job = new_id()
    stack.fail(job, "b1")
    summary = stack.service.run_once()
    assert summary.outcomes.get("triggered") == 1
    triggers = stack.work()
    assert len(triggers) == 1
    msg = triggers[0]
    assert (msg["job_id"], msg["batch_id"], msg["attempt"]) == (job, "b1", "2")
    assert msg["body"] == {"batch": "b1"}
    state = stack.trail.get(job, "b1")
    assert (state.status, state.attempt) == (Status.RETRYING, 1)
    assert msg["trace_id"] == state.trace_id

    stack.rerun(triggers, job, ok)
    assert events(stack, job, "b1") == [
        "STARTED",
        "FAILED",
        "RETRY_TRIGGERED",
        "STARTED",
        "SUCCESS",
    ]
    history = stack.trail.history(job, "b1")
    assert history[2].actor == "replica-1"
    assert history[2].attempt == 2
    assert history[2].detail["response_id"]
    assert stack.trail.get(job, "b1").status is Status.SUCCESS

    again = stack.service.run_once()
    assert again.outcomes.get("triggered") is None
    assert stack.work() == []
    assert stack.metric_total("RemediationTriggered") == 1


def test_cap_retries_twice_then_exhausts_and_alerts_once(stack: Stack, resources: Any):
    job = new_id()
    stack.fail(job, "b1")
    triggered = 0
    for _ in range(5):
        stack.service.run_once()
        messages = stack.work()
        triggered += len(messages)
        stack.rerun(messages, job, boom)
    assert triggered == 2
    state = stack.trail.get(job, "b1")
    assert (state.status, state.attempt) == (Status.EXHAUSTED, 3)
    alerts = [json.loads(m["Body"]) for m in drain(stack.clients.sqs(), resources.alerts_queue_url)]
    assert [(a["event"], a["batch_id"], a["reason"]) for a in alerts] == [
        ("EXHAUSTED", "b1", "max_attempts")
    ]
    assert events(stack, job, "b1") == [
        "STARTED", "FAILED", "RETRY_TRIGGERED", "STARTED", "FAILED", "RETRY_TRIGGERED",
        "STARTED", "FAILED", "EXHAUSTED",
    ]  # fmt: skip
    stack.service.run_once()
    assert stack.work() == []


def test_backoff_nothing_before_next_retry_at_then_triggered(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock
):
    stack = Stack(settings_kwargs, clients, moto_endpoint, clock, backoff_base_seconds=60)
    job = new_id()
    stack.fail(job, "b1")
    due = from_iso(stack.trail.get(job, "b1").next_retry_at)
    assert 0 <= (due - clock.now).total_seconds() <= 60
    # Just before: the signal is heard, nothing is triggered, nothing is slept.
    clock.now = due.replace(microsecond=0) if due.microsecond else due
    clock.advance(-0.5)
    first = stack.service.run_once()
    assert first.outcomes.get("not_due") == 1
    assert stack.work() == []
    # Just after: the sweep finds it due.
    clock.now = due
    clock.advance(0.001)
    second = stack.service.run_once()
    assert second.outcomes.get("triggered") == 1
    assert [m["attempt"] for m in stack.work()] == ["2"]


def test_lost_signal_is_found_by_the_sweep(stack: Stack, resources: Any):
    job = new_id()
    stack.fail(job, "b1")
    drain(stack.clients.sqs(), resources.queue_url)  # the signal is lost
    summary = stack.service.run_once()
    assert summary.signals == 0
    assert summary.outcomes.get("triggered") == 1
    assert len(stack.work()) == 1


def test_stale_run_is_marked_and_retried(stack: Stack):
    job = new_id()
    stack.trail.batch(job, "hung", trigger=stack.trigger("hung")).__enter__()  # never finishes
    stack.service.run_once()
    assert stack.work() == []  # still alive
    stack.clock.advance(stack.settings.stale_after_seconds + 1)
    summary = stack.service.run_once()
    assert summary.outcomes.get("stale") == 1
    assert summary.outcomes.get("triggered") == 1
    assert events(stack, job, "hung") == ["STARTED", "STALE", "RETRY_TRIGGERED"]
    stale = stack.trail.history(job, "hung")[1]
    assert stale.error_type == "Stale"
    assert [m["attempt"] for m in stack.work()] == ["2"]


def test_trigger_that_never_starts_counts_as_an_attempt(stack: Stack):
    job = new_id()
    stack.fail(job, "b1")
    stack.service.run_once()
    assert len(stack.work()) == 1  # the worker loses it: the re-run never starts
    # A few missed beats are not enough: a re-run may wait for a queue or a container.
    stack.clock.advance(stack.settings.stale_after_seconds + 1)
    assert stack.service.run_once().outcomes.get("stale") is None
    stack.clock.advance(3600)
    stack.service.run_once()
    state_events = events(stack, job, "b1")
    assert state_events == ["STARTED", "FAILED", "RETRY_TRIGGERED", "STALE", "RETRY_TRIGGERED"]
    assert [m["attempt"] for m in stack.work()] == ["3"]
    stack.clock.advance(3601)
    stack.service.run_once()
    assert stack.trail.get(job, "b1").status is Status.EXHAUSTED
    assert stack.metric_total("RemediationExhausted") == 1  # exhausted by the remediator


def test_heartbeat_defeats_the_stale_sweep(stack: Stack):
    job = new_id()
    with stack.trail.batch(job, "long", trigger=stack.trigger("long")) as run:
        for _ in range(3):
            stack.clock.advance(stack.settings.stale_after_seconds * 0.9)
            run.heartbeat()
            summary = stack.service.run_once()
            assert summary.outcomes.get("stale") is None
    assert events(stack, job, "long") == ["STARTED", "SUCCESS"]


def test_malformed_messages_reach_the_dlq_and_the_service_survives(stack: Stack, resources: Any):
    sqs = stack.clients.sqs()
    bad = [
        "not json",
        "[1, 2]",
        json.dumps({"event": "FAILED"}),
        json.dumps(
            {"event": "FAILED", "job_id": "a#b", "batch_id": "x", "attempt": 1, "version": 1}
        ),
        json.dumps({"Type": "Notification", "Message": "{broken"}),
        "x" * 200_000,
        "\ud83d".encode("utf-8", "surrogatepass").decode("utf-8", "replace") * 10,
    ]
    for body in bad:
        sqs.send_message(QueueUrl=resources.queue_url, MessageBody=body)
    job = new_id()
    stack.fail(job, "good")  # a real signal among them
    triggered = 0
    for _ in range(8):
        triggered += stack.service.run_once().outcomes.get("triggered", 0)
    assert triggered == 1
    dead = drain(sqs, resources.dlq_url)
    assert sorted(m["Body"] for m in dead) == sorted(bad)
    assert drain(sqs, resources.queue_url) == []


def test_sns_enveloped_signal_is_accepted(stack: Stack, resources: Any):
    job = new_id()
    stack.fail(job, "b1")
    raw = drain(stack.clients.sqs(), resources.queue_url)
    envelope = {"Type": "Notification", "MessageId": "m", "Message": raw[0]["Body"]}
    stack.clients.sqs().send_message(QueueUrl=resources.queue_url, MessageBody=json.dumps(envelope))
    summary = stack.service.run_once()
    assert summary.signals == 1
    assert len(stack.work()) == 1


def test_duplicate_signals_trigger_once(stack: Stack, resources: Any):
    job = new_id()
    stack.fail(job, "b1")
    body = drain(stack.clients.sqs(), resources.queue_url)[0]["Body"]
    for _ in range(5):
        stack.clients.sqs().send_message(QueueUrl=resources.queue_url, MessageBody=body)
    summary = stack.service.run_once()
    assert summary.outcomes.get("triggered") == 1
    assert summary.outcomes.get("conflict", 0) + summary.outcomes.get("skipped", 0) >= 4
    assert len(stack.work()) == 1
    assert stack.metric_total("ClaimConflicts") == summary.outcomes.get("conflict", 0) >= 1


def test_retry_budget_limits_triggers_per_minute(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock
):
    stack = Stack(settings_kwargs, clients, moto_endpoint, clock, budget_per_minute=2)
    job = new_id()
    for n in range(5):
        stack.fail(job, f"b{n}")
    first = stack.service.run_once()
    assert first.outcomes.get("triggered") == 2
    assert len(stack.work()) == 2
    clock.advance(60)
    stack.service.run_once()
    assert len(stack.work()) == 2
    clock.advance(60)
    stack.service.run_once()
    assert len(stack.work()) == 1


def test_circuit_breaker_pauses_a_failing_job_and_alerts_once(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock, resources: Any
):
    stack = Stack(
        settings_kwargs, clients, moto_endpoint, clock,
        breaker_failures=3, breaker_window_seconds=600, breaker_pause_seconds=900, max_attempts=10,
    )  # fmt: skip
    job, other = new_id(), new_id()
    for n in range(4):
        stack.fail(job, f"b{n}")
    stack.fail(other, "x")
    stack.service.run_once()
    messages = stack.work()
    assert len(messages) == 5
    # Every re-run of `job` fails again: the third failed re-run opens its circuit, so the
    # two signals heard before it are re-triggered and the rest wait.
    stack.rerun([m for m in messages if m["job_id"] == job], job, boom)
    summary = stack.service.run_once()
    assert summary.outcomes.get("paused") == 4  # two signals, then the same two in the sweep
    assert len(stack.work()) == 2
    alerts = [json.loads(m["Body"]) for m in drain(clients.sqs(), resources.alerts_queue_url)]
    assert [(a["event"], a["job_id"]) for a in alerts] == [("CIRCUIT_OPEN", job)]
    assert stack.service.run_once().outcomes.get("paused") == 2
    assert stack.work() == []
    # The other job is not affected.
    stack.fail(other, "y")
    stack.service.run_once()
    assert [m["job_id"] for m in stack.work()] == [other]
    # After the pause, retries of the job resume.
    clock.advance(901)
    stack.service.run_once()
    assert sorted(m["batch_id"] for m in stack.work()) == ["b2", "b3"]


def test_unreachable_trigger_target_releases_the_claim_with_backoff(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock
):
    stack = Stack(settings_kwargs, clients, moto_endpoint, clock, backoff_base_seconds=30)
    job = new_id()
    good_queue = stack.work_queue
    stack.work_queue = stack.work_queue + "-deleted"
    stack.fail(job, "b1")
    clock.advance(31)
    summary = stack.service.run_once()
    assert summary.outcomes.get("trigger_failed") == 1
    state = stack.trail.get(job, "b1")
    # Still the same attempt in flight: no attempt is spent on a trigger that never went out.
    assert (state.status, state.attempt) == (Status.RETRYING, 1)
    retry_at = from_iso(state.lease_expires_at)
    assert clock.now < retry_at <= clock.now + timedelta(seconds=30)
    assert stack.service.run_once().outcomes.get("trigger_failed") is None  # not before then
    # The target comes back (the stored trigger is fixed); after the lease it is re-triggered.
    stack.clients.dynamodb().update_item(
        TableName=stack.settings.table_name,
        Key={"pk": {"S": f"JOB#{job}"}, "sk": {"S": "STATE#b1"}},
        UpdateExpression="SET #t = :t",
        ExpressionAttributeNames={"#t": "trigger"},
        ExpressionAttributeValues={
            ":t": {"S": SqsTrigger(queue_url=good_queue, body={}).to_json()}
        },
    )
    stack.work_queue = good_queue
    clock.now = retry_at
    clock.advance(0.001)
    assert stack.service.run_once().outcomes.get("triggered") == 1
    assert [m["attempt"] for m in stack.work()] == ["2"]
    assert events(stack, job, "b1") == ["STARTED", "FAILED", "RETRY_TRIGGERED"]


def test_replay_gives_a_fresh_budget_and_records_the_operator(stack: Stack):
    job = new_id()
    stack.settings = stack.settings.model_copy(update={"max_attempts": 1})
    stack.trail = stack.producer()
    stack.fail(job, "b1")
    assert stack.trail.get(job, "b1").status is Status.EXHAUSTED
    replayer = stack.make_remediator(max_attempts=1)
    actor = Actor(MOTO_ARN, "alice")
    outcome = replay(replayer, stack.trail.get(job, "b1"), actor=actor, reason="schema fixed")
    assert outcome.kind == "triggered"
    replayed = stack.trail.history(job, "b1")[-1]
    assert (replayed.event.value, replayed.actor, replayed.attempt) == (
        "REPLAY_TRIGGERED",
        MOTO_ARN,
        2,
    )
    assert replayed.detail == {
        "operator": "alice",
        "reason": "schema fixed",
        "response_id": replayed.detail["response_id"],
        "trigger": "sqs",
        "was": "EXHAUSTED",
        "episode_from": "1",  # the new episode's attempts count after attempt 1
    }
    messages = stack.work()
    assert [m["attempt"] for m in messages] == ["2"]
    stack.rerun(messages, job, ok)
    assert stack.trail.get(job, "b1").status is Status.SUCCESS


def test_lease_of_a_crashed_replica_is_taken_over_after_it_expires(stack: Stack):
    job = new_id()
    stack.fail(job, "b1")
    crashed = stack.make_remediator("replica-crashed")
    state = stack.trail.get(job, "b1")
    assert crashed.claimer.claim(state, stack.clock.now, require_due=True) is not None  # then dies
    survivor = stack.make_service(stack.make_remediator("replica-2"))
    first = survivor.run_once()
    assert first.outcomes.get("triggered") is None
    assert stack.work() == []
    stack.clock.advance(stack.settings.lease_seconds + 1)
    second = survivor.run_once()
    assert second.outcomes.get("triggered") == 1
    assert [m["attempt"] for m in stack.work()] == ["2"]
    retries = [e for e in stack.trail.history(job, "b1") if e.event.value == "RETRY_TRIGGERED"]
    assert [e.actor for e in retries] == ["replica-2"]


def test_metrics_of_a_heal(stack: Stack):
    job = new_id()
    stack.fail(job, "b1")
    stack.clock.advance(5)
    stack.service.run_once()
    stack.clock.advance(7)
    stack.rerun(stack.work(), job, ok)
    assert stack.metric_total("RemediationTriggered") == 1
    assert stack.metric_total("ClaimConflicts") == 0
    assert stack.metric_total("TimeToRecoverySeconds", producer=True) == 12
    assert stack.metric_total("JobFailureCount", producer=True) == 1
    assert stack.metric_total("JobSuccess", producer=True) == 1


def test_a_rerun_that_starts_before_its_trigger_is_recorded(stack: Stack):
    """The worker can be faster than the remediator's record write: both must succeed."""
    from observability.triggers import CustomTrigger
    from remediator.triggers import register_trigger

    job = new_id()
    started: list[int] = []

    def instant_worker(params: dict[str, Any], ctx: Any) -> str:
        # The re-run starts (and finishes) inside the trigger call itself.
        with stack.trail.batch(job, "b1", trigger=CustomTrigger(name="instant")) as run:
            started.append(run.attempt)
        return "done-inline"

    register_trigger("instant", instant_worker)
    try:
        with stack.trail.batch(job, "b1", trigger=CustomTrigger(name="instant")):
            raise RuntimeError("first attempt")
    except RuntimeError:
        pass
    summary = stack.service.run_once()
    assert summary.outcomes.get("triggered") == 1
    assert started == [2]
    assert events(stack, job, "b1") == [
        "STARTED",
        "FAILED",
        "RETRY_TRIGGERED",
        "STARTED",
        "SUCCESS",
    ]
    assert stack.trail.history(job, "b1")[2].detail["response_id"] == "done-inline"
    state = stack.trail.get(job, "b1")
    assert (state.status, state.attempt, state.lease_owner) == (Status.SUCCESS, 2, None)


def test_budget_is_reserved_in_blocks_and_never_overspent(stack: Stack):
    from remediator.guards import RetryBudget

    table = stack.settings.table_name
    a = RetryBudget(stack.clients, table, per_minute=12, block=5)
    b = RetryBudget(stack.clients, table, per_minute=12, block=5)
    calls = count_calls(stack.clients)
    now = stack.clock.now
    taken_a = [a.take(now) for _ in range(7)]
    assert calls["UpdateItem"] == 2  # two blocks of five for seven re-triggers
    taken_b = [b.take(now) for _ in range(7)]
    assert taken_a == [True] * 7
    assert taken_b == [True, True] + [False] * 5  # what the fleet has left, one at a time
    assert sum(taken_a) + sum(taken_b) <= 12
    # A new minute, a new budget.
    stack.clock.advance(60)
    assert b.take(stack.clock.now) is True
