"""`pause` / `resume` through the real CLI and the real service loop (issue 25, item 4)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from observability.models import Status
from tests.conftest import Clock, new_id
from tests.integration.harness import Stack, queue_arn, run_cli


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def cli(stack: Stack, *args: str) -> Any:
    done = run_cli(stack.endpoint, stack.settings, *args, "--output", "json")
    assert done.returncode == 0, (done.stdout, done.stderr)
    # `run` writes its EMF lines to stdout first; its summary is the last document.
    return json.loads(done.stdout[done.stdout.rfind("\n{\n") + 1 :])


def shapes(stack: Stack, job: str, batches: list[str]) -> list[tuple[str, int, str | None]]:
    states = [stack.trail.get(job, b) for b in batches]
    return [(s.status.value, s.attempt, s.due_at) for s in states if s is not None]


def test_a_paused_jobs_due_retries_wait_and_go_exactly_once_after_resume(stack: Stack):
    job, other = new_id(), new_id()
    stack.fail(job, "a")
    stack.fail(job, "b")
    stack.fail(other, "c")
    before = shapes(stack, job, ["a", "b"])
    paused = cli(stack, "pause", job, "--reason", "warehouse maintenance", "--yes")
    assert paused["pause"]["actor"].startswith("arn:aws:")  # the STS identity, not a name
    assert paused["pause"]["reason"] == "warehouse maintenance"

    ran = cli(stack, "run", "--once")
    assert ran["outcomes"].get("paused", 0) >= 2
    assert [m["batch_id"] for m in stack.work()] == ["c"]  # the other job is not held
    assert shapes(stack, job, ["a", "b"]) == before  # no attempt burnt, due times kept
    shown = cli(stack, "status", job)["paused"]
    assert {k.split("#")[1] for k in shown} == {"a", "b"}
    assert all(p["actor"] == paused["pause"]["actor"] for p in shown.values())
    failed = {f["batch_id"]: f["paused"] for f in cli(stack, "failed", "--job", job)}
    assert failed["a"]["reason"] == "warehouse maintenance"
    listed = {j["job_id"]: j for j in cli(stack, "jobs")}
    assert listed[job]["paused"]["actor"] == paused["pause"]["actor"]
    assert listed[job]["counts"]["failing"] == 2
    assert listed[other]["paused"] is None

    resumed = cli(stack, "resume", job, "--yes")
    assert resumed["resumed"]["name"] == job
    cli(stack, "run", "--once")
    assert sorted(m["batch_id"] for m in stack.work()) == ["a", "b"]
    cli(stack, "run", "--once")
    assert stack.work() == []  # exactly once
    assert {s.status for s in (stack.trail.get(job, b) for b in "ab") if s} == {Status.RETRYING}


def test_until_in_the_past_is_refused_in_one_line_and_a_future_one_ends_by_the_clock(
    stack: Stack,
):
    job = new_id()
    refused = run_cli(
        stack.endpoint, stack.settings, "pause", job, "--until", "2020-01-01T00:00:00Z",
        "--reason", "x", "--yes",
    )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0
    assert "--until" in refused.stderr
    missing = run_cli(stack.endpoint, stack.settings, "pause", job, "--yes")
    assert missing.returncode == 2
    assert "--reason" in missing.stderr

    stack.fail(job, "a")
    until = cli(stack, "pause", job, "--until", "1h", "--reason", "window", "--yes")
    assert until["pause"]["until"] > until["pause"]["at"]
    summary = stack.service.run_once()  # the harness's service, on the test's clock
    assert summary.outcomes.get("paused", 0) >= 1
    assert stack.work() == []
    stack.clock.advance(2 * 3600)  # past the hour the CLI gave (by its own clock)
    summary = stack.service.run_once()
    assert summary.outcomes.get("triggered") == 1
    assert [m["batch_id"] for m in stack.work()] == ["a"]


def test_a_paused_target_holds_only_the_batches_that_use_it(stack: Stack, clients: Any):
    job = new_id()
    sqs = clients.sqs()
    down = sqs.create_queue(QueueName=new_id("down"))["QueueUrl"]
    from observability import SqsTrigger

    for batch, queue in (("to-down", down), ("to-work", stack.work_queue)):
        try:
            with stack.trail.batch(job, batch, trigger=SqsTrigger(queue_url=queue, body={})):
                raise RuntimeError("x")
        except RuntimeError:
            pass
    # Named by its ARN; the batch stores the queue's URL: the same queue.
    cli(stack, "pause", "--target", queue_arn(clients, down), "--reason", "maintenance", "--yes")
    summary = stack.service.run_once()
    assert summary.outcomes.get("paused", 0) >= 1
    assert summary.outcomes.get("triggered") == 1
    assert [m["batch_id"] for m in stack.work()] == ["to-work"]
    held = {f["batch_id"]: f["paused"] for f in cli(stack, "failed", "--job", job)}
    assert held["to-down"]["scope"] == "target"
    cli(stack, "resume", "--target", queue_arn(clients, down), "--yes")
    stack.clock.advance(stack.settings.pause_refresh_seconds)
    assert stack.service.run_once().outcomes.get("triggered") == 1
    assert len(sqs.receive_message(QueueUrl=down, MaxNumberOfMessages=10).get("Messages", [])) == 1


def test_a_replica_sees_another_process_pause_within_the_refresh_interval(stack: Stack):
    job = new_id()
    for batch in ("a", "b", "c"):
        stack.fail(job, batch)
    watch = stack.remediator.hold.watch
    assert watch.current(stack.clock()).active(stack.clock()) == []
    cli(stack, "pause", job, "--reason", "from another process", "--yes")
    # Within the interval the replica may act on its copy; at its end it must see the pause.
    stack.clock.advance(stack.settings.pause_refresh_seconds)
    reads = watch.reads
    summary = stack.service.run_once()
    assert summary.outcomes.get("paused") == 6
    assert stack.work() == []
    assert watch.reads == reads + 1  # one read of the pauses for three batches, not three


def test_resume_closes_the_jobs_open_circuit_and_only_an_open_one(stack: Stack, clients: Any):
    from datetime import UTC, datetime, timedelta

    from observability.models.keys import breaker_key
    from observability.models.records import iso

    job, calm = new_id(), new_id()
    pk, sk = breaker_key(job)
    until = iso(datetime.now(UTC) + timedelta(hours=1))  # the CLI runs on the real clock
    clients.dynamodb().put_item(
        TableName=stack.settings.table_name,
        Item={"pk": {"S": pk}, "sk": {"S": sk}, "open_until": {"S": until}},
    )
    for name in (job, calm):
        cli(stack, "pause", name, "--reason", "downstream down", "--yes")

    assert cli(stack, "resume", job, "--yes")["circuit_closed"] is True
    item = clients.dynamodb().get_item(
        TableName=stack.settings.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}
    )["Item"]
    assert "open_until" not in item  # its failures are counted afresh from here
    assert cli(stack, "resume", calm, "--yes")["circuit_closed"] is False
