"""State-change events read (remediator.events.parse) and judged (remediator.events.plan)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from observability.errors import InvalidInput
from observability.models import BatchState, Status
from observability.retry.backoff import RetryAt
from observability.transitions import TableConfig
from remediator.events.parse import (
    FAILED,
    SUCCESS,
    MalformedEvent,
    RunIdentity,
    identity_of,
    is_event,
    parse_event,
    rerun_of,
)
from remediator.events.plan import IGNORE, LATER, RECORD, source_steps, stop_decision, stopped
from remediator.events.sources import parse_source
from remediator.messages import MAX_BODY_BYTES

AT = "2026-03-01T02:00:00Z"
ENV = [
    {"name": "STAGE", "value": "prod"},
    {"name": "PIPELINE_JOB_ID", "value": "ingest"},
    {"name": "PIPELINE_BATCH_ID", "value": "2024-05"},
    {"name": "PIPELINE_ATTEMPT", "value": "2"},
]


def event(source: str, kind: str, detail: Any, **extra: Any) -> str:
    return json.dumps(
        {"source": source, "detail-type": kind, "time": AT, "detail": detail, **extra}
    )


def ecs(containers: list[dict[str, Any]], status: str = "STOPPED") -> str:
    return event(
        "aws.ecs", "ECS Task State Change",
        {"taskArn": "arn:task/1", "lastStatus": status, "stoppedReason": "Essential container "
         "in task exited", "stopCode": "EssentialContainerExited", "containers": containers,
         "overrides": {"containerOverrides": [{"name": "app", "environment": ENV}]}},
    )  # fmt: skip


def test_an_ecs_task_killed_for_memory_is_a_failure_with_its_exit_code_and_reason():
    change = parse_event(ecs([
        {"name": "sidecar", "exitCode": 0},
        {"name": "app", "exitCode": 137, "reason": "OutOfMemoryError: Container killed"},
    ]))  # fmt: skip
    assert change is not None
    assert (change.phase, change.error_type, change.exit_code) == (FAILED, "TaskStopped", 137)
    assert change.reason == "OutOfMemoryError: Container killed"
    assert change.identity == RunIdentity("ingest", "2024-05", 2)
    assert change.at == datetime(2026, 3, 1, 2, tzinfo=UTC)
    assert "container app exited with code 137" in (change.message or "")


def test_a_clean_exit_or_a_running_task_records_nothing():
    assert parse_event(ecs([{"name": "app", "exitCode": 0}])).phase == ""  # type: ignore[union-attr]
    assert parse_event(ecs([], status="RUNNING")).phase == ""  # type: ignore[union-attr]


def test_a_task_that_never_ran_its_container_fails_without_an_exit_code():
    change = parse_event(ecs([{"name": "app"}]))
    assert change is not None
    assert (change.phase, change.exit_code) == (FAILED, None)
    assert change.reason == "Essential container in task exited"


def test_a_batch_job_failure_takes_the_last_attempts_exit_code():
    detail = {
        "jobId": "j-1", "jobName": "nightly", "status": "FAILED",
        "statusReason": "Essential container in task exited",
        "container": {"environment": ENV},
        "attempts": [{"container": {"exitCode": 1}}, {"container": {"exitCode": 137,
                      "reason": "OutOfMemoryError"}}],
    }  # fmt: skip
    change = parse_event(event("aws.batch", "Batch Job State Change", detail))
    assert change is not None
    assert (change.error_type, change.exit_code, change.reason) == (
        "JobFailed",
        137,
        "OutOfMemoryError",
    )
    assert change.identity == RunIdentity("ingest", "2024-05", 2)
    succeeded = parse_event(
        event("aws.batch", "Batch Job State Change", {**detail, "status": "SUCCEEDED"})
    )
    assert succeeded is not None
    assert succeeded.phase == ""


@pytest.mark.parametrize(
    ("state", "phase", "error"),
    [("SUCCEEDED", SUCCESS, None), ("FAILED", FAILED, "JobRunFailed"),
     ("TIMEOUT", FAILED, "JobRunTimeout"), ("STOPPED", FAILED, "JobRunStopped")],
)  # fmt: skip
def test_glue_states(state: str, phase: str, error: str | None):
    detail = {"jobName": "nightly", "jobRunId": "jr_1", "state": state, "message": "m"}
    change = parse_event(event("aws.glue", "Glue Job State Change", detail))
    assert change is not None
    assert (change.run_id, change.name, change.phase, change.error_type) == (
        "jr_1", "nightly", phase, error,
    )  # fmt: skip


def test_a_step_functions_failure_keeps_its_error_and_cause_and_its_redrives():
    detail = {
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:e1",
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
        "name": "e1", "status": "FAILED", "startDate": 1772330400000, "stopDate": 1772330460000,
        "error": "States.TaskFailed", "cause": "boom", "redriveCount": 2,
    }  # fmt: skip
    change = parse_event(event("aws.states", "Step Functions Execution Status Change", detail))
    assert change is not None
    assert (change.error_type, change.reason, change.redrives) == ("States.TaskFailed", "boom", 2)
    assert change.at == datetime(2026, 3, 1, 2, 1, tzinfo=UTC)  # when it stopped
    assert change.started_at == datetime(2026, 3, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("{", "not JSON"),
        (event("aws.ecs", "ECS Task State Change", 3), "'detail' must be an object"),
        (event("aws.ecs", "ECS Task State Change", {"lastStatus": "STOPPED"}), "'taskArn'"),
        (event("aws.glue", "Glue Job State Change", {"jobRunId": "r"}), "'jobName'"),
        (json.dumps({"source": "aws.ecs", "detail-type": "ECS Task State Change",
                     "detail": {"taskArn": "t"}}), "'time' is missing"),
        (ecs([{"name": "app", "exitCode": "137"}]), "exitCode must be an integer"),
        (" " * (MAX_BODY_BYTES + 1), "larger than"),
    ],
)  # fmt: skip
def test_a_malformed_event_says_what_is_wrong(body: str, says: str):
    with pytest.raises(MalformedEvent, match=says):
        parse_event(body)


def test_an_event_no_rule_sends_is_not_read_and_a_signal_is_not_an_event():
    assert parse_event(event("aws.ec2", "EC2 Instance State-change Notification", {})) is None
    assert not is_event(json.dumps({"event": "FAILED", "error_message": '"detail-type"'}))
    assert is_event(ecs([]))


def test_identity_is_read_from_variables_arguments_or_tags_in_any_spelling():
    assert identity_of({"--pipeline-job-id": "j", "--pipeline-batch-id": "b",
                        "--pipeline-attempt": "3"}) == RunIdentity("j", "b", 3)  # fmt: skip
    assert identity_of({"PIPELINE_JOB_ID": "j", "PIPELINE_BATCH_ID": "b"}) is None
    assert identity_of({"PIPELINE_JOB_ID": "j#x", "PIPELINE_BATCH_ID": "b",
                        "PIPELINE_ATTEMPT": "1"}) is None  # fmt: skip
    assert identity_of([{"name": "PIPELINE_ATTEMPT", "value": "0"}]) is None
    assert rerun_of("exec-1--a3") == ("exec-1", 3)
    assert rerun_of("exec-1") is None


def test_sources_are_checked_before_anything_is_written():
    assert parse_source("glue:nightly") == "glue:nightly"
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:orders"
    assert parse_source(f"states:{arn}") == f"states:{arn}"
    for bad in ("glue:", "s3:bucket", "states:orders", "glue:a#b", "glue:" + "x" * 256):
        with pytest.raises(InvalidInput, match="--source"):
            parse_source(bad)


# -- plan ---------------------------------------------------------------------------------


def state(status: Status, attempt: int, **kw: Any) -> BatchState:
    return BatchState(job_id="j", batch_id="b", status=status, attempt=attempt, version=5, **kw)


@pytest.mark.parametrize(
    ("current", "attempt", "decision"),
    [
        (state(Status.STARTED, 2), 2, RECORD),
        (state(Status.RETRYING, 1), 2, RECORD),  # died before its STARTED
        (state(Status.RETRYING, 1, lease_owner="r1"), 2, LATER),  # record not landed yet
        (state(Status.FAILED, 2), 2, IGNORE),  # the run recorded it itself, or a duplicate
        (state(Status.STARTED, 3), 2, IGNORE),  # an older attempt's event, late
        (state(Status.SUCCESS, 2), 2, IGNORE),
        (state(Status.FAILED, 1), 3, IGNORE),
        (None, 1, IGNORE),
    ],
)
def test_a_stop_is_recorded_only_on_the_attempt_it_names(
    current: BatchState | None, attempt: int, decision: str
):
    assert stop_decision(current, attempt)[0] == decision


@pytest.mark.parametrize(
    ("current", "attempt", "phase", "steps"),
    [
        (None, 1, "STARTED", ("new",)),
        (None, 1, "FAILED", ("new", "finish")),  # the failure came first
        (None, 2, "SUCCESS", ()),  # a batch gone (expired): nothing to attach it to
        (state(Status.STARTED, 1), 1, "STARTED", ()),  # a duplicate
        (state(Status.STARTED, 1), 1, "SUCCESS", ("finish",)),
        (state(Status.FAILED, 1), 1, "STARTED", ()),  # late
        (state(Status.RETRYING, 1), 2, "STARTED", ("again",)),
        (state(Status.RETRYING, 1), 2, "SUCCESS", ("again", "finish")),
        (state(Status.SUCCESS, 2), 1, "FAILED", ()),  # an older attempt
        (state(Status.STARTED, 1), 2, "STARTED", ()),  # the previous run is still live
    ],
)
def test_a_sources_event_writes_only_what_the_item_lacks(
    current: BatchState | None, attempt: int, phase: str, steps: tuple[str, ...]
):
    assert source_steps(current, attempt, phase) == steps


def test_the_stopped_write_keeps_exit_code_and_reason_on_condition_of_the_state_read():
    change = parse_event(ecs([{"name": "app", "exitCode": 137, "reason": "OOM"}]))
    assert change is not None
    now = datetime(2026, 3, 1, 2, 5, tzinfo=UTC)
    write = stopped(
        state(Status.RETRYING, 1, due_at="x"), TableConfig(shards=2, stale_after_seconds=60,
        ttl_days=1), change=change, actor="me", now=now, verdict=RetryAt(now, 3), governed=None,
    )  # fmt: skip
    assert write.values == {":status": "RETRYING", ":version": 5, ":attempt": 1}
    assert (write.set["attempt"], write.set["status"], write.set["version"]) == (2, "FAILED", 6)
    assert (write.set["exit_code"], write.set["stop_reason"]) == (137, "OOM")
    [failed] = write.events
    assert (failed["event"], failed["exit_code"], failed["stop_reason"]) == ("FAILED", 137, "OOM")


# -- the queue's side -------------------------------------------------------------------------


class FakeRecorder:
    """Stands in for EventRecorder: answers each change with a chosen outcome or error."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.seen: list[Any] = []

    def handle(self, change: Any) -> Any:
        self.seen.append(change)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_an_event_is_deleted_once_handled_or_unreadable_and_kept_when_the_table_is_away():
    from observability.errors import StoreUnavailable
    from remediator.events.consume import take_event
    from remediator.remediation.context import Outcome

    body = ecs([{"name": "app", "exitCode": 137}])
    done = FakeRecorder(Outcome("event_failed", "j#b", 2))
    assert take_event(done, body, "m1") is True  # type: ignore[arg-type]
    assert done.seen[0].exit_code == 137
    assert take_event(done, "{not json", "m2") is True  # type: ignore[arg-type]
    assert take_event(done, event("aws.ec2", "Other", {}), "m3") is True  # type: ignore[arg-type]
    assert len(done.seen) == 1  # neither reached the recorder
    away = FakeRecorder(StoreUnavailable("throttled"))
    assert take_event(away, body, "m4") is False  # type: ignore[arg-type]
    later = FakeRecorder(Outcome("event_later", "j#b", 2))
    assert take_event(later, body, "m5") is False  # type: ignore[arg-type]


def test_a_sources_rerun_is_paused_by_its_glue_job_or_state_machine_and_has_its_own_circuit():
    from remediator.triggers import target_of
    from remediator.triggers.names import target_key, target_keys
    from remediator.triggers.sources import rerun_trigger

    glue = rerun_trigger("glue:nightly")
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:orders"
    states = rerun_trigger(f"states:{arn}")
    assert target_key("nightly") in target_keys(glue)
    assert target_key(arn) in target_keys(states)
    assert target_key("nightly") not in target_keys(states)
    assert target_of(glue) == "custom|aws.glue.rerun|nightly"
    assert target_of(states) != target_of(rerun_trigger("states:" + arn + "2"))
