"""Every trigger kind fired at a moto server; retries bounded and never slept for real."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from observability.models.keys import BatchKey
from observability.triggers import (
    CustomTrigger,
    EcsTaskTrigger,
    EventBridgeTrigger,
    LambdaTrigger,
    SqsTrigger,
    StepFunctionsTrigger,
)
from remediator.errors import TriggerError, TriggerRejected
from remediator.triggers import TriggerContext, execution_name, fire, register_trigger
from tests.conftest import drain, new_id
from tests.integration.harness import ecs_cluster, lambda_function, state_machine

CTX = TriggerContext(BatchKey("ingest-sales", "2024-05"), attempt=2, trace_id="t-123")


def fire_spec(clients: Any, spec: Any, ctx: TriggerContext = CTX, **kw: Any) -> str:
    return fire(clients, spec.to_dict(), ctx, sleep=lambda _: None, **kw)


def test_sqs_trigger_sends_body_and_batch_attributes(clients):
    url = clients.sqs().create_queue(QueueName=new_id("work"))["QueueUrl"]
    message_id = fire_spec(clients, SqsTrigger(queue_url=url, body={"month": "2024-05"}))
    [message] = drain(clients.sqs(), url)
    assert message["MessageId"] == message_id
    assert json.loads(message["Body"]) == {"month": "2024-05"}
    attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attrs == {
        "job_id": "ingest-sales",
        "batch_id": "2024-05",
        "attempt": "2",
        "trace_id": "t-123",
        "reason": "retry",
    }


def test_fifo_sqs_trigger_deduplicates_a_repeated_attempt(clients):
    url = clients.sqs().create_queue(
        QueueName=new_id("work") + ".fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    spec = SqsTrigger(queue_url=url, body={}, message_group_id="ingest-sales")
    fire_spec(clients, spec)
    fire_spec(clients, spec)  # the same attempt again (a replica died before recording it)
    fire_spec(clients, spec, TriggerContext(CTX.key, 3, "t-123"))
    messages = drain(clients.sqs(), url)
    assert [m["MessageAttributes"]["attempt"]["StringValue"] for m in messages] == ["2", "3"]


def test_step_functions_execution_is_named_per_attempt_so_a_repeat_is_a_no_op(clients):
    sfn = clients.client("stepfunctions")
    arn = state_machine(clients)
    spec = StepFunctionsTrigger(state_machine_arn=arn, input={"month": "2024-05"})
    first = fire_spec(clients, spec)
    second = fire_spec(clients, spec)
    replay = fire_spec(clients, spec, TriggerContext(CTX.key, 2, "t-123", reason="replay"))
    assert first == second == replay
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in executions] == [execution_name(CTX)]
    document = json.loads(sfn.describe_execution(executionArn=first)["input"])
    assert document["input"] == {"month": "2024-05"}
    assert (document["job_id"], document["batch_id"], document["attempt"]) == (
        "ingest-sales",
        "2024-05",
        2,
    )


def test_execution_names_fit_the_service_limits():
    long = TriggerContext(BatchKey("j" * 150, "b/é" * 30), attempt=12, trace_id=None)
    generated = execution_name(long)
    assert len(generated) <= 80
    assert all(c.isalnum() or c in "-_" for c in generated)
    assert generated == execution_name(long)
    assert generated != execution_name(TriggerContext(long.key, 13, None))


def test_eventbridge_trigger_puts_one_event_with_the_batch_fields(clients):
    events = clients.client("events")
    bus = new_id("bus")
    events.create_event_bus(Name=bus)
    url = clients.sqs().create_queue(QueueName=new_id("sink"))["QueueUrl"]
    queue_arn = clients.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(Name="r", EventBusName=bus, EventPattern=json.dumps({"source": ["pipelines"]}))
    events.put_targets(Rule="r", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    spec = EventBridgeTrigger(source="pipelines", detail={"month": "2024-05"}, event_bus_name=bus)
    event_id = fire_spec(clients, spec)
    [message] = drain(clients.sqs(), url)
    delivered = json.loads(message["Body"])
    assert delivered["id"] == event_id
    assert delivered["detail-type"] == "BatchRetryRequested"
    assert delivered["detail"]["detail"] == {"month": "2024-05"}
    assert delivered["detail"]["attempt"] == 2


def test_ecs_trigger_runs_a_task_with_the_batch_in_its_environment(clients):
    ecs = clients.client("ecs")
    cluster = ecs_cluster(clients)
    ec2 = clients.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=new_id("sg"), Description="w", VpcId=vpc)["GroupId"]
    spec = EcsTaskTrigger(
        cluster=cluster,
        task_definition="worker",
        container_name="worker",
        command=["python", "-m", "pipeline"],
        environment={"STAGE": "prod"},
        subnets=[subnet],
        security_groups=[group],
    )
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        # moto 5.2 fails on awsvpc network interfaces (AttributeError private_dns_name):
        # keep what the code sent, and let moto run the task without the network block.
        sent.append(json.loads(json.dumps(params)))
        params.pop("networkConfiguration", None)

    ecs.meta.events.register("before-parameter-build.ecs.RunTask", record)
    task_arn = fire_spec(clients, spec)
    [request] = sent
    assert request["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": [subnet],
        "securityGroups": [group],
        "assignPublicIp": "DISABLED",
    }
    assert request["clientToken"] == "ingest-sales#2024-05#2"
    assert request["launchType"] == "FARGATE"
    [task] = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]
    [override] = task["overrides"]["containerOverrides"]
    env = {e["name"]: e["value"] for e in override["environment"]}
    assert env == {
        "STAGE": "prod",
        "PIPELINE_JOB_ID": "ingest-sales",
        "PIPELINE_BATCH_ID": "2024-05",
        "PIPELINE_ATTEMPT": "2",
        "PIPELINE_TRACE_ID": "t-123",
    }
    assert override["command"] == ["python", "-m", "pipeline"]


def test_lambda_trigger_invokes_asynchronously(clients):
    calls: list[dict[str, Any]] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        calls.append(params)

    function = lambda_function(clients)
    clients.client("lambda").meta.events.register("provide-client-params.lambda.Invoke", hook)
    request_id = fire_spec(clients, LambdaTrigger(function_name=function, payload={"m": 5}))
    assert request_id
    [params] = calls
    assert params["InvocationType"] == "Event"
    payload = json.loads(params["Payload"])
    assert payload == {
        "payload": {"m": 5},
        "job_id": "ingest-sales",
        "batch_id": "2024-05",
        "attempt": 2,
        "trace_id": "t-123",
        "reason": "retry",
    }


def test_missing_target_is_rejected_not_retried(clients):
    attempts: list[float] = []
    with pytest.raises(TriggerRejected, match="ResourceNotFoundException"):
        fire(
            clients,
            LambdaTrigger(function_name="does-not-exist").to_dict(),
            CTX,
            sleep=attempts.append,
        )
    assert attempts == []


def test_transient_errors_are_retried_with_bounded_backoff():
    calls: list[TriggerContext] = []
    slept: list[float] = []

    def flaky(params: dict[str, Any], ctx: TriggerContext) -> str:
        calls.append(ctx)
        if len(calls) < 3:
            raise TriggerError("throttled")
        return f"ok-{params['x']}"

    register_trigger("flaky-" + new_id("t"), flaky)
    spec = CustomTrigger(
        name=next(k for k in _registered() if k.startswith("flaky-")), params={"x": 1}
    )
    assert fire(None, spec.to_dict(), CTX, sleep=slept.append) == "ok-1"  # type: ignore[arg-type]
    assert len(calls) == 3
    assert len(slept) == 2
    assert all(0 <= s <= 5 for s in slept)


def test_a_trigger_that_keeps_failing_gives_up_after_its_attempts():
    calls: list[int] = []

    def down(params: dict[str, Any], ctx: TriggerContext) -> str:
        calls.append(1)
        raise TriggerError("503")

    register_trigger("down", down)
    with pytest.raises(TriggerError):
        fire(None, CustomTrigger(name="down").to_dict(), CTX, attempts=4, sleep=lambda _: None)  # type: ignore[arg-type]
    assert len(calls) == 4


def test_unknown_custom_trigger_and_missing_trigger_are_rejected():
    with pytest.raises(TriggerRejected, match="entry-point group"):
        fire(None, CustomTrigger(name="nobody").to_dict(), CTX)  # type: ignore[arg-type]
    with pytest.raises(TriggerRejected, match="without a trigger"):
        fire(None, None, CTX)  # type: ignore[arg-type]
    with pytest.raises(TriggerRejected, match="not valid"):
        fire(None, {"kind": "sqs", "queue_url": "q", "bogus": 1}, CTX)  # type: ignore[arg-type]


def _registered() -> list[str]:
    from remediator.triggers import custom as triggers

    return list(triggers._custom)


def test_custom_trigger_found_through_its_entry_point_group(tmp_path, monkeypatch):
    """A package that declares `[remediator.triggers]` is found without any registration."""
    (tmp_path / "nightly_rerun.py").write_text(
        "def fire(params, ctx):\n    return f\"{params['dag']}:{ctx.key.batch_id}:{ctx.attempt}\"\n"
    )
    dist = tmp_path / "nightly_rerun-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nightly-rerun\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[remediator.triggers]\nnightly = nightly_rerun:fire\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = CustomTrigger(name="nightly", params={"dag": "sales"})
    assert fire(None, spec.to_dict(), CTX) == "sales:2024-05:2"  # type: ignore[arg-type]


# -- Step Functions names: unique per (job, batch, attempt, life of the item) ----------------


def test_execution_names_never_collide_however_the_ids_split():
    a = TriggerContext(BatchKey("ingest-sales", "2024-05"), attempt=2, trace_id="t")
    b = TriggerContext(BatchKey("ingest", "sales-2024-05"), attempt=2, trace_id="t")
    c = TriggerContext(BatchKey("ingest-sales-2024", "05"), attempt=2, trace_id="t")
    assert len({execution_name(a), execution_name(b), execution_name(c)}) == 3


def test_execution_names_change_with_the_life_of_the_item():
    """A batch that starts over after its item expired (a new trace id, or incarnation) does
    not meet the names of its past, which Step Functions keeps for 90 days."""
    key = BatchKey("ingest-sales", "2024-05")
    first = TriggerContext(key, attempt=2, trace_id="run-1")
    again = TriggerContext(key, attempt=2, trace_id="run-2")
    assert execution_name(first) != execution_name(again)
    assert execution_name(first) == execution_name(TriggerContext(key, 2, "run-1", "replay"))
    by_incarnation = TriggerContext(key, 2, "run-1", incarnation="item-7")
    assert execution_name(by_incarnation) != execution_name(first)
    assert execution_name(by_incarnation) == execution_name(
        TriggerContext(key, 2, "run-9", incarnation="item-7")
    )


def test_execution_names_are_readable_and_within_the_rules():
    name = execution_name(TriggerContext(BatchKey("ventes-été", "2024-05"), 3, "t"))
    assert name.startswith("ventes-ete-2024-05-3-")
    assert len(name) <= 80
    assert re.fullmatch(r"[A-Za-z0-9_-]+", name)
    weird = execution_name(TriggerContext(BatchKey("日本", "??"), 1, None))
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", weird)


def test_an_execution_name_taken_by_another_input_is_a_refusal(clients):
    """ExecutionAlreadyExists means "already started" only when the execution is ours."""
    arn = state_machine(clients)
    clients.client("stepfunctions").start_execution(
        stateMachineArn=arn, name=execution_name(CTX), input=json.dumps({"someone": "else"})
    )
    with pytest.raises(TriggerRejected, match="another input"):
        fire_spec(clients, StepFunctionsTrigger(state_machine_arn=arn, input={"m": 5}))


# -- every failure is classified, nothing else leaves fire() ----------------------------------


def test_a_custom_trigger_that_raises_is_a_refusal_tried_once():
    calls: list[int] = []

    def broken(params: dict[str, Any], ctx: TriggerContext) -> str:
        calls.append(1)
        raise ValueError("dag 'sales' does not exist")

    register_trigger("broken-value", broken)
    with pytest.raises(TriggerRejected, match="ValueError: dag 'sales' does not exist"):
        fire(None, CustomTrigger(name="broken-value").to_dict(), CTX, sleep=lambda _: None)  # type: ignore[arg-type]
    assert calls == [1]


def test_a_custom_trigger_that_loses_its_connection_is_retried():
    calls: list[int] = []

    def flaky(params: dict[str, Any], ctx: TriggerContext) -> str:
        calls.append(1)
        raise ConnectionResetError("reset by peer")

    register_trigger("reset-conn", flaky)
    with pytest.raises(TriggerError, match="reset by peer"):
        fire(
            None, CustomTrigger(name="reset-conn").to_dict(), CTX, attempts=3, sleep=lambda _: None
        )  # type: ignore[arg-type]
    assert calls == [1, 1, 1]


def test_a_malformed_request_is_a_refusal_not_a_retry(clients):
    """botocore's own parameter check (ParamValidationError) will fail the same way again."""
    calls: list[int] = []

    def sends_garbage(params: dict[str, Any], ctx: TriggerContext) -> str:
        calls.append(1)
        clients.sqs().send_message(QueueUrl="q", MessageBody={"not": "a string"})
        return "never"

    register_trigger("garbage", sends_garbage)
    with pytest.raises(TriggerRejected, match="ParamValidationError"):
        fire(clients, CustomTrigger(name="garbage").to_dict(), CTX, sleep=lambda _: None)
    assert calls == [1]


@pytest.mark.parametrize("kind", ["sqs", "stepfunctions", "eventbridge", "ecs"])
def test_a_missing_target_is_a_refusal(clients, kind):
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:nobody"
    spec = {
        "sqs": SqsTrigger(queue_url=f"{clients.sqs().meta.endpoint_url}/123456789012/nobody"),
        "stepfunctions": StepFunctionsTrigger(state_machine_arn=arn),
        "eventbridge": EventBridgeTrigger(source="pipelines", event_bus_name="nobody"),
        "ecs": EcsTaskTrigger(
            cluster="nobody", task_definition="worker", container_name="w", launch_type="EC2"
        ),
    }[kind]
    slept: list[float] = []
    with pytest.raises(TriggerRejected):
        fire(clients, spec.to_dict(), CTX, sleep=slept.append)
    assert slept == []


def test_a_body_over_the_queue_limit_is_a_refusal(clients):
    url = clients.sqs().create_queue(
        QueueName=new_id("small"), Attributes={"MaximumMessageSize": "1024"}
    )["QueueUrl"]
    with pytest.raises(TriggerRejected):
        fire_spec(clients, SqsTrigger(queue_url=url, body="x" * 2000))
