"""`remediator failed` and `remediator replay` as a person runs them: subprocesses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from observability import NonRetryableError, Status
from tests.conftest import MOTO_ARN, Clock, new_id
from tests.integration.harness import Stack, run_cli


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def snapshot(stack: Stack, resources: Any) -> tuple[Any, ...]:
    items = stack.clients.dynamodb().scan(TableName=stack.settings.table_name)["Items"]
    queues = [resources.queue_url, resources.alerts_queue_url, stack.work_queue]
    depths = [
        stack.clients.sqs().get_queue_attributes(
            QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        for q in queues
    ]
    return (sorted(json.dumps(i, sort_keys=True) for i in items), depths)


def test_failed_lists_failed_and_exhausted_across_jobs(stack: Stack):
    a, b = new_id(), new_id()
    stack.fail(a, "x")
    stack.fail(b, "y", error=NonRetryableError)
    with stack.trail.batch(a, "fine"):
        pass
    done = run_cli(stack.endpoint, stack.settings, "failed", "--output", "json")
    assert done.returncode == 0, done.stderr
    rows = {(r["job_id"], r["batch_id"]): r for r in json.loads(done.stdout)}
    assert rows[(a, "x")]["status"] == "FAILED"
    assert rows[(b, "y")]["status"] == "EXHAUSTED"
    # The errors come from the items: the index projects only what the sweep reads.
    assert rows[(a, "x")]["error_message"] == "x failed"
    assert rows[(b, "y")]["error_type"] == "NonRetryableError"
    assert (a, "fine") not in rows
    for row in rows.values():
        assert {"job_id", "batch_id", "status", "attempt"} <= set(row)
    only_b = run_cli(stack.endpoint, stack.settings, "failed", "--job", b, "--output", "json")
    assert [(r["job_id"], r["batch_id"]) for r in json.loads(only_b.stdout)] == [(b, "y")]


def test_replay_dry_run_writes_nothing(stack: Stack, resources: Any):
    job = new_id()
    stack.fail(job, "x")
    stack.fail(job, "y")
    before = snapshot(stack, resources)
    done = run_cli(stack.endpoint, stack.settings, "replay", job, "--all-failed", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "plan: re-trigger 2 batch(es)" in done.stdout
    assert "dry run" in done.stdout
    as_json = run_cli(
        stack.endpoint, stack.settings, "replay", job, "x", "--dry-run", "--output", "json"
    )
    assert json.loads(as_json.stdout)["plan"][0]["next_attempt"] == 2
    assert snapshot(stack, resources) == before


def test_replay_needs_confirmation_off_a_terminal(stack: Stack):
    job = new_id()
    stack.fail(job, "x")
    done = run_cli(stack.endpoint, stack.settings, "replay", job, "x")
    assert done.returncode == 2
    assert "--yes" in done.stderr
    assert stack.work() == []


def test_replay_triggers_and_records_the_operator_and_reason(stack: Stack):
    job = new_id()
    stack.fail(job, "x")
    done = run_cli(
        stack.endpoint,
        stack.settings,
        "replay",
        job,
        "x",
        "--yes",
        "--operator",
        "alice",
        "--reason",
        "upstream fixed",
        "--output",
        "json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["actor"], result["operator"]) == (MOTO_ARN, "alice")
    assert [r["outcome"] for r in result["results"]] == ["triggered"]
    [message] = stack.work()
    assert (message["attempt"], message["reason"]) == ("2", "replay")
    last = stack.trail.history(job, "x")[-1]
    # The caller's AWS identity is the actor; the name typed only stands beside it.
    assert (last.event.value, last.actor) == ("REPLAY_TRIGGERED", MOTO_ARN)
    assert (last.detail["operator"], last.detail["reason"]) == ("alice", "upstream fixed")
    assert stack.trail.get(job, "x").status is Status.RETRYING


def test_replay_refuses_batches_that_did_not_fail(stack: Stack):
    job = new_id()
    with stack.trail.batch(job, "ok"):
        pass
    done = run_cli(stack.endpoint, stack.settings, "replay", job, "ok", "--yes")
    assert done.returncode == 1
    assert "ok (SUCCESS)" in done.stderr
    missing = run_cli(stack.endpoint, stack.settings, "replay", job, "nope", "--yes")
    assert missing.returncode == 1
    assert "nope" in missing.stderr
    both = run_cli(stack.endpoint, stack.settings, "replay", job, "ok", "--all-failed")
    assert both.returncode == 2


def test_status_and_history_agree_on_a_retrying_batch_and_overdue_is_due_now(stack: Stack):
    job = new_id()
    stack.fail(job, "b1")
    stack.service.run_once()  # b1 claimed and re-triggered: RETRYING
    stack.fail(job, "b2")  # b2 due at once (no backoff): overdue by the time anyone looks
    status = run_cli(stack.endpoint, stack.settings, "status", job, "--output", "json")
    assert status.returncode == 0, status.stderr
    shown = {b["batch_id"]: b for b in json.loads(status.stdout)["batches"]}
    history = run_cli(stack.endpoint, stack.settings, "history", job, "b1", "-o", "json")
    last = json.loads(history.stdout)[-1]
    assert (last["event"], last["attempt"]) == ("RETRY_TRIGGERED", 2)
    assert (shown["b1"]["status"], shown["b1"]["attempt"]) == ("RETRYING", last["attempt"])
    table = run_cli(stack.endpoint, stack.settings, "status", job).stdout.splitlines()
    rows = {line.split()[0]: line for line in table if line.startswith("b")}
    assert rows["b1"].split()[1:3] == ["RETRYING", "2"]
    assert "due now" in rows["b2"]
