"""AWS's state-change events on the signal queue, end to end on moto (strict layer on).

The events are put on the queue as EventBridge delivers them (the raw envelope, no SNS
wrapping), in the shapes ECS, Glue and Step Functions document: moto emits none of them
itself. Where moto lacks an operation (Step Functions' RedriveExecution) the strict layer's
model answers it (tests/strict/redrive.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from observability.models import Status
from observability.models.keys import BatchKey
from remediator.ops.identity import Actor
from remediator.ops.policy import apply_change
from remediator.triggers.sources import states_execution_arn
from tests.conftest import Clock, drain, new_id
from tests.integration.harness import Stack, stack_cli, state_machine
from tests.strict.redrive import RedriveModel


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def envelope(source: str, detail_type: str, detail: dict[str, Any], at: datetime) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": "123456789012",
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }
    )


def deliver(stack: Stack, *bodies: str) -> None:
    for body in bodies:
        stack.clients.sqs().send_message(QueueUrl=stack.settings.queue_url, MessageBody=body)


def left_on_queue(stack: Stack) -> int:
    """Messages still on the signal queue, visible or held (none: every one was deleted)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = stack.clients.sqs().get_queue_attributes(
        QueueUrl=stack.settings.queue_url, AttributeNames=names
    )["Attributes"]
    return sum(int(found[n]) for n in names)


def history(stack: Stack, job: str, batch: str) -> list[dict[str, Any]]:
    events = stack.remediator.store.history(BatchKey(job, batch), stack.clock())
    return [e.as_dict() for e in events]


def opt_in(stack: Stack, job: str, source: str) -> None:
    apply_change(
        stack.remediator.store, job, actor=Actor("arn:aws:iam::123456789012:user/ops"),
        now=stack.clock(), source=source,
    )  # fmt: skip


# -- a triggered ECS task killed for memory ---------------------------------------------------


def ecs_stopped(job: str, batch: str, attempt: int, exit_code: int, at: datetime) -> str:
    environment = [
        {"name": "PIPELINE_JOB_ID", "value": job},
        {"name": "PIPELINE_BATCH_ID", "value": batch},
        {"name": "PIPELINE_ATTEMPT", "value": str(attempt)},
    ]
    detail = {
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/work",
        "taskArn": f"arn:aws:ecs:us-east-1:123456789012:task/work/{uuid.uuid4().hex}",
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "startedBy": f"remediator-{attempt}",
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "stoppedAt": at.isoformat().replace("+00:00", "Z"),
        "containers": [
            {
                "name": "worker",
                "lastStatus": "STOPPED",
                "exitCode": exit_code,
                "reason": "OutOfMemoryError: Container killed due to memory usage",
            }
        ],
        "overrides": {"containerOverrides": [{"name": "worker", "environment": environment}]},
    }
    return envelope("aws.ecs", "ECS Task State Change", detail, at)


def test_a_task_killed_with_exit_137_is_failed_in_one_pass_with_its_exit_code(stack: Stack):
    job, batch = new_id(), "2024-05"
    stack.fail(job, batch)
    stack.service.run_once()  # re-triggered: attempt 2 goes out
    [message] = stack.work()
    assert message["attempt"] == "2"
    # The re-run starts (STARTED, attempt 2), then the kernel kills it: no except block runs.
    stack.trail.batch(job, batch, trigger=stack.trigger(batch)).__enter__()
    stack.clock.advance(5)
    killed = ecs_stopped(job, batch, 2, 137, stack.clock())
    deliver(stack, killed, killed, ecs_stopped(job, batch, 1, 137, stack.clock()))

    summary = stack.service.run_once()

    assert summary.signals == 3  # each handled and deleted: the duplicate and the stale one too
    events = history(stack, job, batch)
    assert [(e["event"], e["attempt"]) for e in events] == [
        ("STARTED", 1), ("FAILED", 1), ("RETRY_TRIGGERED", 2), ("STARTED", 2), ("FAILED", 2),
        ("RETRY_TRIGGERED", 3),
    ]  # fmt: skip
    failed = events[4]
    assert failed["error_type"] == "TaskStopped"
    assert failed["exit_code"] == 137
    assert failed["stop_reason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert "exited with code 137" in failed["error_message"]
    item = stack.clients.dynamodb().get_item(
        TableName=stack.settings.table_name,
        Key={"pk": {"S": f"JOB#{job}"}, "sk": {"S": f"STATE#{batch}"}},
    )["Item"]
    assert (item["exit_code"]["N"], item["error_type"]["S"]) == ("137", "TaskStopped")
    assert item["stop_reason"]["S"].startswith("OutOfMemoryError")
    # Retried at once by the rule that governs it, like a producer's failure.
    assert [m["attempt"] for m in stack.work()] == ["3"]
    assert left_on_queue(stack) == 0


def test_an_unreadable_event_is_deleted_and_the_signals_beside_it_are_handled(stack: Stack):
    job = new_id()
    stack.fail(job, "b1")
    deliver(stack, '{"detail-type": "ECS Task State Change", "source": "aws.ecs", "detail": 3}')
    summary = stack.service.run_once()
    assert summary.signals == 2
    assert summary.outcomes.get("triggered") == 1
    assert left_on_queue(stack) == 0


# -- a Glue job that never imported the library -----------------------------------------------


def glue_event(job_name: str, run_id: str, state: str, at: datetime) -> str:
    detail = {
        "jobName": job_name, "severity": "ERROR" if state != "SUCCEEDED" else "INFO",
        "state": state, "jobRunId": run_id, "message": f"Job run {state.lower()}",
    }  # fmt: skip
    return envelope("aws.glue", "Glue Job State Change", detail, at)


def test_a_glue_job_that_fails_is_rerun_with_its_arguments_and_its_history_is_whole(
    stack: Stack,
):
    glue = stack.clients.client("glue")
    name, job = new_id("nightly"), new_id()
    glue.create_job(
        Name=name, Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/nightly.py"},
    )  # fmt: skip
    opt_in(stack, job, f"glue:{name}")
    first = glue.start_job_run(JobName=name, Arguments={"--month": "2024-05"})["JobRunId"]
    failed = glue_event(name, first, "FAILED", stack.clock())
    deliver(stack, failed, failed)  # at least once: twice

    stack.service.run_once()

    runs = [r for r in glue.get_job_runs(JobName=name)["JobRuns"] if r["Id"] != first]
    [rerun] = runs
    assert rerun["Arguments"] == {
        "--month": "2024-05",
        "--pipeline-job-id": job,
        "--pipeline-batch-id": first,
        "--pipeline-attempt": "2",
    }
    stack.clock.advance(60)
    succeeded = glue_event(name, rerun["Id"], "SUCCEEDED", stack.clock())
    # Out of order and again: the re-run's success, then the first run's failure once more.
    deliver(stack, succeeded, failed, succeeded)

    stack.service.run_once()

    events = history(stack, job, first)
    assert [(e["event"], e["attempt"], e["actor"]) for e in events] == [
        ("STARTED", 1, "aws.glue"), ("FAILED", 1, "aws.glue"),
        ("RETRY_TRIGGERED", 2, stack.remediator.context.actor),
        ("STARTED", 2, "aws.glue"), ("SUCCESS", 2, "aws.glue"),
    ]  # fmt: skip
    assert events[1]["error_type"] == "JobRunFailed"
    assert events[2]["response_id"] == rerun["Id"]
    state = stack.remediator.store.get(BatchKey(job, first), stack.clock())
    assert state is not None
    assert state.status is Status.SUCCESS
    assert len(glue.get_job_runs(JobName=name)["JobRuns"]) == 2  # re-run once, not twice


def test_a_second_job_cannot_take_a_source_another_has(stack: Stack):
    from observability.errors import InvalidInput

    opt_in(stack, new_id(), "glue:shared-job")
    with pytest.raises(InvalidInput, match="is the source of job"):
        opt_in(stack, new_id(), "glue:shared-job")


# -- a Step Functions execution, redriven -----------------------------------------------------


def states_event(machine: str, name: str, status: str, redrives: int, at: datetime) -> str:
    millis = int(at.timestamp() * 1000)
    detail: dict[str, Any] = {
        "executionArn": states_execution_arn(machine, name), "stateMachineArn": machine,
        "name": name, "status": status, "startDate": millis - 1000,
        "stopDate": None if status == "RUNNING" else millis, "input": '{"month": "2024-05"}',
        "redriveCount": redrives,
    }  # fmt: skip
    if status == "FAILED":
        detail.update(error="States.TaskFailed", cause="the load step failed")
    return envelope("aws.states", "Step Functions Execution Status Change", detail, at)


@pytest.fixture
def redrive(stack: Stack) -> Iterator[RedriveModel]:
    model = RedriveModel(stack.remediator.trigger_clients.client("stepfunctions"))
    yield model
    model.close()


def test_a_failed_execution_is_redriven_and_its_history_is_whole(
    stack: Stack, redrive: RedriveModel
):
    machine, job = state_machine(stack.clients), new_id()
    opt_in(stack, job, f"states:{machine}")
    stack.clients.client("stepfunctions").start_execution(
        stateMachineArn=machine, name="exec-1", input='{"month": "2024-05"}'
    )
    execution = states_execution_arn(machine, "exec-1")
    redrive.failed.add(execution)  # moto's Pass state always succeeds: the model says it failed
    now = stack.clock()
    # The failure before the start: out of order.
    deliver(
        stack,
        states_event(machine, "exec-1", "FAILED", 0, now),
        states_event(machine, "exec-1", "RUNNING", 0, now),
    )
    stack.service.run_once()
    assert redrive.redriven == [(execution, f"{job}#exec-1#2")]
    stack.clock.advance(30)
    done = states_event(machine, "exec-1", "SUCCEEDED", 1, stack.clock())
    deliver(stack, done, states_event(machine, "exec-1", "RUNNING", 1, stack.clock()), done)

    stack.service.run_once()

    events = history(stack, job, "exec-1")
    assert [(e["event"], e["attempt"]) for e in events] == [
        ("STARTED", 1), ("FAILED", 1), ("RETRY_TRIGGERED", 2), ("STARTED", 2), ("SUCCESS", 2),
    ]  # fmt: skip
    assert events[1]["error_type"] == "States.TaskFailed"
    assert events[1]["stop_reason"] == "the load step failed"
    assert redrive.redriven == [(execution, f"{job}#exec-1#2")]  # once


def test_an_execution_that_cannot_be_redriven_starts_again_with_its_input(
    stack: Stack, redrive: RedriveModel
):
    sfn = stack.clients.client("stepfunctions")
    machine, job = state_machine(stack.clients), new_id()
    opt_in(stack, job, f"states:{machine}")
    sfn.start_execution(stateMachineArn=machine, name="exec-9", input='{"month": "2024-06"}')
    deliver(stack, states_event(machine, "exec-9", "FAILED", 0, datetime.now(UTC)))

    stack.service.run_once()

    again = sfn.describe_execution(executionArn=states_execution_arn(machine, "exec-9--a2"))
    assert json.loads(again["input"]) == {"month": "2024-06"}
    assert redrive.redriven == []  # refused (ExecutionNotRedrivable), so started anew
    deliver(stack, states_event(machine, "exec-9--a2", "SUCCEEDED", 0, stack.clock()))
    stack.service.run_once()
    assert [(e["event"], e["attempt"]) for e in history(stack, job, "exec-9")][-2:] == [
        ("STARTED", 2), ("SUCCESS", 2),
    ]  # fmt: skip


def test_policy_set_source_through_the_cli_and_cleared_again(stack: Stack):
    job, name = new_id(), new_id("nightly")
    done = stack_cli(stack, "policy", "set", job, "--source", f"glue:{name}")
    assert done.returncode == 0, done.stderr
    assert f"source:  glue:{name}" in done.stdout
    recorder = stack.service.events
    assert recorder.job_of(f"glue:{name}") == job
    bad = stack_cli(stack, "policy", "set", job, "--source", "s3:bucket")
    assert bad.returncode != 0
    assert "--source" in bad.stderr
    assert "glue:JOB_NAME" in bad.stderr
    cleared = stack_cli(stack, "policy", "clear", job, "--source-only", "--output", "json")
    assert cleared.returncode == 0, cleared.stderr
    assert "source" not in json.loads(cleared.stdout)["after"]
    recorder._jobs.clear()  # the replica's cache (60 s) would still answer
    assert recorder.job_of(f"glue:{name}") is None


def test_a_kill_on_the_last_attempt_exhausts_the_batch_and_alerts(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock,
    resources: Any,
):  # fmt: skip
    stack = Stack(settings_kwargs, clients, moto_endpoint, clock, max_attempts=2)
    job, batch = new_id(), "2024-06"
    stack.fail(job, batch)
    stack.service.run_once()
    assert [m["attempt"] for m in stack.work()] == ["2"]
    stack.trail.batch(job, batch, trigger=stack.trigger(batch)).__enter__()
    deliver(stack, ecs_stopped(job, batch, 2, 137, stack.clock()))

    stack.service.run_once()

    events = history(stack, job, batch)
    assert [e["event"] for e in events][-2:] == ["FAILED", "EXHAUSTED"]
    assert events[-2]["exit_code"] == 137
    alerts = [json.loads(m["Body"]) for m in drain(clients.sqs(), resources.alerts_queue_url)]
    assert [(a["event"], a["batch_id"], a["error_type"]) for a in alerts] == [
        ("EXHAUSTED", batch, "TaskStopped")
    ]
    assert stack.work() == []  # nothing re-run


def test_a_sources_failure_is_decided_by_its_jobs_rules_and_alerted_when_exhausted(
    stack: Stack, resources: Any
):
    glue = stack.clients.client("glue")
    name, job = new_id("nightly"), new_id()
    glue.create_job(
        Name=name, Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/nightly.py"},
    )  # fmt: skip
    opt_in(stack, job, f"glue:{name}")
    rules = {"rules": [{"name": "timeouts", "errors": ["JobRunTimeout"], "max_attempts": 1}]}
    apply_change(
        stack.remediator.store, job, actor=Actor("arn:aws:iam::123456789012:user/ops"),
        now=stack.clock(), retry=rules,
    )  # fmt: skip
    run = glue.start_job_run(JobName=name)["JobRunId"]
    deliver(stack, glue_event(name, run, "TIMEOUT", stack.clock()))

    stack.service.run_once()

    events = history(stack, job, run)
    assert [e["event"] for e in events] == ["STARTED", "FAILED", "EXHAUSTED"]
    assert (events[1]["error_type"], events[1]["rule"]) == ("JobRunTimeout", "timeouts")
    alerts = [json.loads(m["Body"]) for m in drain(stack.clients.sqs(), resources.alerts_queue_url)]
    assert [(a["event"], a["batch_id"], a["reason"]) for a in alerts] == [
        ("EXHAUSTED", run, "max_attempts")
    ]
    assert len(glue.get_job_runs(JobName=name)["JobRuns"]) == 1  # not re-run


def test_a_rerun_killed_before_its_started_fails_its_own_attempt(stack: Stack):
    job, batch = new_id(), "2024-07"
    stack.fail(job, batch)
    stack.service.run_once()
    assert [m["attempt"] for m in stack.work()] == ["2"]
    # The task dies before the pipeline's first line: the batch is still RETRYING.
    deliver(stack, ecs_stopped(job, batch, 2, 137, stack.clock()))

    stack.service.run_once()

    events = history(stack, job, batch)
    assert [(e["event"], e["attempt"]) for e in events] == [
        ("STARTED", 1), ("FAILED", 1), ("RETRY_TRIGGERED", 2), ("FAILED", 2),
        ("RETRY_TRIGGERED", 3),
    ]  # fmt: skip
    assert events[3]["exit_code"] == 137
