"""Nothing lost in silence, on the moto server: targets that refuse for good, broken
targets beside healthy ones, duplicate storms and the fleet's budget, redelivered failures
and the job's circuit, a batch id used again after its item expired."""

from __future__ import annotations

import json
from typing import Any

import pytest

from observability import SqsTrigger, Status
from observability.models.keys import budget_key, job_pk
from remediator.messages import parse_signal
from tests.conftest import Clock, drain, new_id
from tests.integration.harness import Stack


def alerts(stack: Stack, resources: Any) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in drain(stack.clients.sqs(), resources.alerts_queue_url)]


def fail_with(stack: Stack, job: str, batch: str, trigger: Any) -> None:
    try:
        with stack.trail.batch(job, batch, trigger=trigger):
            raise RuntimeError(f"{batch} failed")
    except RuntimeError:
        pass


def missing_queue(stack: Stack) -> SqsTrigger:
    # A queue that does not exist (deleted, or a typo): SQS refuses every send, for good.
    return SqsTrigger(queue_url=stack.work_queue + "-gone", body={})


def rounds(stack: Stack, count: int, seconds: float = 3600) -> list[dict[str, int]]:
    out = []
    for _ in range(count):
        out.append(stack.service.run_once().outcomes)
        stack.clock.advance(seconds)
    return out


def test_a_target_that_refuses_for_good_ends_exhausted_with_trigger_refused(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock, resources: Any
):
    stack = Stack(settings_kwargs, clients, moto_endpoint, clock, max_attempts=10)
    job = new_id()
    fail_with(stack, job, "b1", missing_queue(stack))
    sends: list[str] = []
    stack.remediator.trigger_clients.client("sqs").meta.events.register(
        "before-call.sqs.SendMessage", lambda **_: sends.append("send")
    )
    outcomes = rounds(stack, 6)
    state = stack.trail.get(job, "b1")
    assert state is not None
    assert state.status is Status.EXHAUSTED
    # Refused three times (REMEDIATOR_TRIGGER_REFUSALS), one send each: then exhausted.
    assert len(sends) == stack.settings.trigger_refusals == 3
    assert sum(o.get("exhausted", 0) for o in outcomes) == 1
    last = stack.trail.history(job, "b1")[-1]
    assert (last.event.value, last.detail["reason"]) == ("EXHAUSTED", "trigger_refused")
    assert "the target refused the re-trigger 3 times" in last.detail["why"]
    assert "QueueDoesNotExist" in last.detail["why"] or "NonExistentQueue" in last.detail["why"]
    [alert] = [a for a in alerts(stack, resources) if a["event"] == "EXHAUSTED"]
    assert (alert["reason"], alert["error_type"]) == ("trigger_refused", "TriggerRefused")
    # The attempt was never made: the cap still counts the one real run.
    assert state.attempt == 1


def test_a_broken_target_does_not_delay_a_healthy_batch_of_the_same_job(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock, resources: Any
):
    stack = Stack(
        settings_kwargs, clients, moto_endpoint, clock,
        breaker_failures=2, max_attempts=10, trigger_refusals=10,
    )  # fmt: skip
    job = new_id()
    for n in range(3):
        fail_with(stack, job, f"broken{n}", missing_queue(stack))
    first = stack.service.run_once().outcomes
    # The broken target's circuit opened; the job's did not.
    circuit = [a for a in alerts(stack, resources) if a["event"] == "CIRCUIT_OPEN"]
    assert [a["reason"] for a in circuit] == ["target_circuit_open"]
    assert "-gone" in circuit[0]["error_message"]
    assert first.get("trigger_failed", 0) == 2
    # A healthy batch of the same job, failing now, is re-triggered at once.
    stack.fail(job, "healthy")
    stack.service.run_once()
    assert [(m["batch_id"], m["attempt"]) for m in stack.work()] == [("healthy", "2")]


def test_a_custom_trigger_that_raises_is_a_refusal_never_an_escape(stack_factory: Any):
    from observability import CustomTrigger
    from remediator.triggers import register_trigger

    stack = stack_factory()

    def broken(params: dict[str, Any], ctx: Any) -> str:
        raise ValueError("the custom target's own bug")

    register_trigger("raises-value-error", broken)
    job = new_id()
    fail_with(stack, job, "b1", CustomTrigger(name="raises-value-error"))
    state = stack.trail.get(job, "b1")
    assert state is not None
    outcome = stack.remediator.remediate(state)  # must not raise
    assert outcome.kind == "trigger_failed"
    assert "own bug" in outcome.detail["error"]


@pytest.fixture
def stack_factory(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock):  # type: ignore[no-untyped-def]
    return lambda **kw: Stack(settings_kwargs, clients, moto_endpoint, clock, **kw)


def test_a_failed_re_run_delivered_many_times_counts_once_for_the_job_circuit(
    stack_factory: Any, resources: Any
):
    stack = stack_factory(breaker_failures=2, max_attempts=10)
    job = new_id()
    stack.fail(job, "b1")
    stack.service.run_once()
    stack.rerun(stack.work(), job, lambda b: (_ for _ in ()).throw(RuntimeError(b)))
    # The failed re-run's signal (attempt 2), delivered five times (SQS: at least once).
    [message] = drain(stack.clients.sqs(), resources.queue_url)
    signal = parse_signal(message["Body"])
    assert (signal.batch_id, signal.attempt) == ("b1", 2)
    for _ in range(5):
        stack.remediator.handle_signal(signal)
    assert [a for a in alerts(stack, resources) if a["event"] == "CIRCUIT_OPEN"] == []
    item = stack.clients.dynamodb().get_item(
        TableName=stack.settings.table_name,
        Key={"pk": {"S": job_pk(job)}, "sk": {"S": "BREAKER"}},
    )["Item"]
    assert item["seen"]["SS"] == ["b1#2"]


def test_duplicates_do_not_drain_the_fleet_budget(stack_factory: Any, resources: Any):
    stack = stack_factory(budget_per_minute=600)
    job = new_id()
    stack.fail(job, "b1")
    [message] = drain(stack.clients.sqs(), resources.queue_url)
    signal = parse_signal(message["Body"])
    outcomes = [stack.remediator.handle_signal(signal).kind for _ in range(2000)]
    assert outcomes.count("triggered") == 1
    assert len(stack.work()) == 1
    window = stack.clock.now.strftime("%Y-%m-%dT%H:%M")
    pk, sk = budget_key(window)
    budget = stack.clients.dynamodb().get_item(
        TableName=stack.settings.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}
    )["Item"]
    # One block reserved by the one claim that won: a handful, not a minute's 600.
    assert int(budget["used"]["N"]) <= 10


def test_a_batch_id_used_again_after_its_item_expired_is_triggered_once(
    stack_factory: Any, resources: Any
):
    """DynamoDB deletes expired items days late: the old life's item and archive are still
    there when the batch id runs again. Its retry is triggered once and recorded."""
    stack = stack_factory()
    job = new_id()
    stack.fail(job, "b1")
    old = stack.trail.get(job, "b1")
    assert old is not None
    stack.clock.advance(stack.settings.ttl_days * 86_400 + 60)  # the old life has expired
    assert stack.trail.get(job, "b1") is None
    drain(stack.clients.sqs(), resources.queue_url)
    stack.fail(job, "b1")
    new = stack.trail.get(job, "b1")
    assert new is not None
    assert (new.attempt, new.version) == (1, 2)
    assert new.incarnation != old.incarnation
    stack.service.run_once()
    stack.service.run_once()
    assert [(m["batch_id"], m["attempt"]) for m in stack.work()] == [("b1", "2")]
    events = [(e.event.value, e.version) for e in stack.trail.history(job, "b1")]
    assert events == [("STARTED", 1), ("FAILED", 2), ("RETRY_TRIGGERED", 3)]


def test_a_replica_killed_between_send_and_record_leaves_no_hole_in_the_history(
    stack_factory: Any,
):
    from observability.models import EventType

    stack = stack_factory()
    job = new_id()
    stack.fail(job, "b1")
    state = stack.trail.get(job, "b1")
    assert state is not None
    # The replica claims and sends the trigger, then dies before recording it.
    claimed = stack.remediator.claimer.claim(state, stack.clock.now, require_due=True)
    assert claimed is not None
    # The triggered run starts and succeeds: its SUCCESS fills the hole.
    with stack.trail.batch(job, "b1", trigger=stack.trigger("b1")) as run:
        assert run.attempt == 2
    history = stack.trail.history(job, "b1")
    assert [(e.event.value, e.version, e.attempt) for e in history] == [
        ("STARTED", 1, 1),
        ("FAILED", 2, 1),
        ("RETRY_TRIGGERED", 3, 2),
        ("STARTED", 4, 2),
        ("SUCCESS", 5, 2),
    ]
    assert history[2].detail["unrecorded"] is True
    after = stack.trail.get(job, "b1")
    assert after is not None
    assert after.pending_trigger is None

    def recorded_by(actor: str, response_id: str) -> bool:
        return stack.remediator.recorder.record(
            claimed, stack.clock.now, event=EventType.RETRY_TRIGGERED, actor=actor,
            detail={"response_id": response_id},
        )  # fmt: skip

    # Had the replica been only slow, its record takes the placeholder's place: one event
    # for the slot, with what only the replica knew.
    assert recorded_by("late", "m-1")
    history = stack.trail.history(job, "b1")
    assert [e.version for e in history] == [1, 2, 3, 4, 5]
    assert (history[2].actor, history[2].detail) == ("late", {"response_id": "m-1"})
    # The replacement stamps a new write id: a writer still holding the item as it was
    # before cannot put over it.
    replaced = stack.trail.get(job, "b1")
    assert replaced is not None
    assert replaced.write_id != after.write_id
    # The same record once more (its reply lost, the item moved on since): it has landed.
    assert recorded_by("late", "m-1")
    # Another replica's record for that slot (its lease ran out, the batch was taken over
    # and recorded): its trigger was a repeat, reported as unrecorded; nothing is replaced.
    assert not recorded_by("other", "m-2")
    history = stack.trail.history(job, "b1")
    assert [e.version for e in history] == [1, 2, 3, 4, 5]
    assert (history[2].actor, history[2].detail) == ("late", {"response_id": "m-1"})


def test_a_remediator_configured_with_other_shards_than_its_table_refuses_to_start(
    stack_factory: Any,
):
    """Producers at the table's 8 shards, a remediator at 4: it would never sweep shards 4-7
    (half the failures and dead runs); it stops at start instead, naming both values."""
    from tests.integration.harness import cli

    stack = stack_factory()
    done = cli(
        "run",
        "--once",
        AWS_ENDPOINT_URL=stack.endpoint,
        REMEDIATOR_TABLE_NAME=stack.settings.table_name,
        REMEDIATOR_QUEUE_URL=stack.settings.queue_url or "",
        REMEDIATOR_RETRY_SHARDS="4",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    message = done.stderr.strip()
    assert "\n" not in message
    assert "REMEDIATOR_RETRY_SHARDS is 4" in message
    assert "bootstrapped with 8" in message
    doctor = cli(
        "doctor", "--output", "json",
        AWS_ENDPOINT_URL=stack.endpoint, REMEDIATOR_TABLE_NAME=stack.settings.table_name,
    )  # fmt: skip
    layout = {f["check"]: f for f in json.loads(doctor.stdout)}["layout"]
    assert layout["detail"] == "layout 2, 8 retry shards"
