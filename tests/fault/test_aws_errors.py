"""The errors AWS returns and moto never does, injected by the proxy in AWS's wire shape, and
what the code does about each: nothing lost, nothing sent twice, nothing retried for ever."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from observability.clients import AwsClients
from observability.models.keys import BatchKey
from observability.triggers import (
    EcsTaskTrigger,
    EventBridgeTrigger,
    LambdaTrigger,
    StepFunctionsTrigger,
    Trigger,
)
from remediator.errors import TriggerError, TriggerRejected
from remediator.service import Service
from remediator.service.consumer import SignalConsumer
from remediator.triggers import TriggerContext, execution_name, fire
from tests.awserrors import (
    dynamodb_error,
    ecs_run_task_failures,
    eventbridge_partial_failure,
    lambda_error,
    sfn_error,
    sns_error,
    sqs_batch_failures,
    sqs_error,
)
from tests.conftest import REGION, Clock, new_id
from tests.integration.harness import Stack, ecs_cluster, lambda_function, state_machine
from tests.proxy import FaultProxy, call

CTX = TriggerContext(BatchKey("ingest-sales", "2024-05"), attempt=2, trace_id="t-1")
EXPIRED = "Value {} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."


def through(proxy: FaultProxy) -> AwsClients:
    return AwsClients(region=REGION, endpoint_url=proxy.url)


def trigger_clients(proxy: FaultProxy) -> AwsClients:
    return through(proxy).derive(max_attempts=1, read_timeout=5)


def fire_via(proxy: FaultProxy, spec: Trigger, **kw: Any) -> str:
    slept: list[float] = kw.pop("slept", [])
    return fire(trigger_clients(proxy), spec.to_dict(), CTX, sleep=slept.append, **kw)


@pytest.fixture
def proxied(settings_kwargs: dict[str, Any], proxy: FaultProxy, clock: Clock) -> Stack:
    """Producer, remediator and service whose every AWS call goes through the proxy."""
    return Stack(settings_kwargs, through(proxy), proxy.url, clock)


# -- the proxy's shapes are what botocore parses from AWS ---------------------------------------

SHAPES = [
    (
        "dynamodb",
        "DescribeTable",
        {"TableName": "t"},
        dynamodb_error("TransactionConflictException", "Transaction is ongoing for the item"),
        "TransactionConflictException",
        400,
    ),
    (
        "dynamodb",
        "DescribeTable",
        {"TableName": "t"},
        dynamodb_error("ThrottlingException", "Rate of requests exceeds the allowed throughput"),
        "ThrottlingException",
        400,
    ),
    (
        "sqs",
        "GetQueueUrl",
        {"QueueName": "q"},
        sqs_error("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."),
        "AWS.SimpleQueueService.NonExistentQueue",
        400,
    ),
    (
        "stepfunctions",
        "DescribeExecution",
        {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:x"},
        sfn_error("ExecutionDoesNotExist", "Execution Does Not Exist: 'arn'"),
        "ExecutionDoesNotExist",
        400,
    ),
    (
        "lambda",
        "Invoke",
        {"FunctionName": "fn", "InvocationType": "Event", "Payload": b"{}"},
        lambda_error(
            "TooManyRequestsException",
            429,
            Reason="CallerRateLimitExceeded",
            Type="User",
            message="Rate exceeded",
        ),
        "TooManyRequestsException",
        429,
    ),
    (
        "sns",
        "Publish",
        {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "m"},
        sns_error("KMSThrottling", "The request was denied due to request throttling."),
        "KMSThrottling",
        400,
    ),
]


@pytest.mark.parametrize(("service", "operation", "params", "shape", "code", "status"), SHAPES)
def test_injected_errors_parse_as_the_services_own(
    proxy: FaultProxy, service, operation, params, shape, code, status
):
    signing = {"stepfunctions": "states"}.get(service, service)
    injected = proxy.inject(call(signing, operation), **shape)
    client = AwsClients(region=REGION, endpoint_url=proxy.url, max_attempts=1).client(service)
    with pytest.raises(ClientError) as info:
        getattr(client, xform_name(operation))(**params)
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert len(injected.hits) == 1


# -- SQS: an expired receipt handle ---------------------------------------------------------------


def test_an_expired_receipt_handle_on_delete_sends_no_second_trigger(
    proxied: Stack, proxy: FaultProxy, clients: AwsClients
):
    job = new_id()
    proxied.fail(job, "b1")
    refused = proxy.inject(
        call("sqs", "DeleteMessageBatch"),
        **sqs_batch_failures([("0", "ReceiptHandleIsInvalid", EXPIRED.format("AQEB"))]),
        times=1,
    )
    first = proxied.service.run_once()
    assert first.outcomes.get("triggered") == 1
    [delete] = refused.hits
    # The signal was handled but not deleted: it comes back after its visibility timeout.
    receipt = delete.json()["Entries"][0]["ReceiptHandle"]
    queue = proxied.settings.queue_url
    clients.sqs().change_message_visibility(
        QueueUrl=queue, ReceiptHandle=receipt, VisibilityTimeout=0
    )
    again = proxied.service.run_once()
    assert again.signals == 1
    assert "triggered" not in again.outcomes  # the redelivery is not a second trigger
    assert [m["batch_id"] for m in proxied.work()] == ["b1"]
    counts = clients.sqs().get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert set(counts.values()) == {"0"}  # handled and deleted this time


def test_an_expired_receipt_handle_on_a_visibility_change_stops_nothing(
    proxied: Stack, proxy: FaultProxy
):
    job = new_id()
    for n in range(3):
        proxied.fail(job, f"b{n}")
    consumer = SignalConsumer(
        proxied.clients, proxied.settings.queue_url or "", visibility_timeout=60
    )
    ticks = iter(range(0, 10_000, 40))  # 40 s of handling per signal: extensions are due
    service = Service(proxied.remediator, consumer, monotonic=lambda: float(next(ticks)))
    refused = proxy.inject(
        call("sqs", "ChangeMessageVisibilityBatch"),
        **sqs_batch_failures([("0", "InvalidParameterValue", EXPIRED.format("AQEB"))]),
    )
    messages: list[Any] = []
    while len(messages) < 3:
        messages += consumer.receive(wait_seconds=0)
    assert service.process(messages) == 3
    assert len(refused.hits) >= 1
    assert sorted(m["batch_id"] for m in proxied.work()) == ["b0", "b1", "b2"]


# -- triggers -------------------------------------------------------------------------------


def test_an_eventbridge_entry_refused_for_now_is_sent_again(proxy: FaultProxy, clients: AwsClients):
    bus = new_id("bus")
    clients.client("events").create_event_bus(Name=bus)
    failed = proxy.inject(
        call("events", "PutEvents"),
        **eventbridge_partial_failure("InternalFailure", "Internal Service Error"),
        times=1,
    )
    slept: list[float] = []
    event_id = fire_via(
        proxy, EventBridgeTrigger(source="pipelines", event_bus_name=bus), slept=slept
    )
    assert len(failed.hits) == 1
    assert len(slept) == 1
    assert event_id


def test_an_eventbridge_entry_refused_for_good_is_a_rejection(proxy: FaultProxy):
    failed = proxy.inject(
        call("events", "PutEvents"),
        **eventbridge_partial_failure("MalformedDetail", "Detail is malformed."),
    )
    with pytest.raises(TriggerRejected, match="MalformedDetail"):
        fire_via(proxy, EventBridgeTrigger(source="pipelines"))
    assert len(failed.hits) == 1


def _already_exists(arn: str) -> dict[str, Any]:
    execution = arn.replace(":stateMachine:", ":execution:") + ":" + execution_name(CTX)
    return sfn_error("ExecutionAlreadyExists", f"Execution Already Exists: '{execution}'")


def test_execution_already_exists_with_another_input_is_a_rejection(
    proxy: FaultProxy, clients: AwsClients
):
    arn = state_machine(clients)
    clients.client("stepfunctions").start_execution(
        stateMachineArn=arn, name=execution_name(CTX), input=json.dumps({"other": "run"})
    )
    proxy.inject(call("states", "StartExecution"), **_already_exists(arn))
    with pytest.raises(TriggerRejected, match="another input"):
        fire_via(proxy, StepFunctionsTrigger(state_machine_arn=arn, input={"m": 5}))


def test_execution_already_exists_of_this_attempt_counts_as_started(
    proxy: FaultProxy, clients: AwsClients
):
    """A repeat of an attempt whose execution already ended: AWS says it exists; it is ours."""
    arn = state_machine(clients)
    spec = StepFunctionsTrigger(state_machine_arn=arn, input={"m": 5})
    first = fire_via(proxy, spec)
    repeat = proxy.inject(call("states", "StartExecution"), **_already_exists(arn))
    assert fire_via(proxy, spec) == first
    assert len(repeat.hits) == 1


TOO_MANY = lambda_error(
    "TooManyRequestsException", 429, Reason="ReservedFunctionConcurrentInvocationLimitExceeded",
    Type="User", message="Rate Exceeded.",
)  # fmt: skip


def test_lambda_throttling_is_ridden_out_one_request_per_try(
    proxy: FaultProxy, clients: AwsClients
):
    function = lambda_function(clients)
    throttled = proxy.inject(call("lambda", "Invoke"), **TOO_MANY, times=2)
    slept: list[float] = []
    assert fire_via(proxy, LambdaTrigger(function_name=function), slept=slept)
    assert len(throttled.hits) == 2
    assert len(slept) == 2


def test_lambda_throttling_that_lasts_gives_up_after_the_attempts(proxy: FaultProxy):
    throttled = proxy.inject(call("lambda", "Invoke"), **TOO_MANY)
    with pytest.raises(TriggerError, match="TooManyRequestsException"):
        fire_via(proxy, LambdaTrigger(function_name="fn"), attempts=3)
    assert len(throttled.hits) == 3


def _ecs_target(clients: AwsClients) -> EcsTaskTrigger:
    return EcsTaskTrigger(
        cluster=ecs_cluster(clients),
        task_definition="worker",
        container_name="worker",
        subnets=["subnet-1"],
    )


def test_run_task_out_of_capacity_is_tried_again(proxy: FaultProxy, clients: AwsClients):
    spec = _ecs_target(clients)
    full = proxy.inject(call("ecs", "RunTask"), **ecs_run_task_failures("RESOURCE:MEMORY"), times=1)
    triggers = trigger_clients(proxy)
    # moto cannot attach awsvpc network interfaces: the retry runs without the block.
    triggers.client("ecs").meta.events.register(
        "before-parameter-build.ecs.RunTask",
        lambda params, **_: params.pop("networkConfiguration", None) if full.hits else None,
    )
    slept: list[float] = []
    task = fire(triggers, spec.to_dict(), CTX, sleep=slept.append)
    assert task.startswith("arn:aws:ecs:")
    assert (len(full.hits), len(slept)) == (1, 1)


def test_run_task_failures_that_no_retry_fixes_are_a_rejection(proxy: FaultProxy):
    missing = proxy.inject(call("ecs", "RunTask"), **ecs_run_task_failures("MISSING"))
    spec = EcsTaskTrigger(
        cluster="c", task_definition="worker", container_name="w", subnets=["subnet-1"]
    )
    with pytest.raises(TriggerRejected, match="MISSING"):
        fire_via(proxy, spec)
    assert len(missing.hits) == 1


# -- SNS: a KMS-encrypted topic throttled ---------------------------------------------------------


def test_a_write_dynamodb_refuses_as_malformed_is_refused_once_naming_the_request(
    proxied: Stack, proxy: FaultProxy
):
    """The table's client leaves request checks to DynamoDB: its ValidationException is the
    caller's error (InvalidInput), not an outage, and is not sent again."""
    from observability.errors import InvalidInput

    refused = proxy.inject(
        call("dynamodb", "PutItem"),
        **dynamodb_error("ValidationException", "One or more parameter values were invalid"),
    )
    job = new_id()
    with (
        pytest.raises(InvalidInput, match=r"request: PutItem on table .* rejected"),
        proxied.trail.batch(job, "b1"),
    ):
        pass
    assert len(refused.hits) == 1
    proxy.clear()
    assert proxied.trail.get(job, "b1") is None


def test_kms_throttling_of_the_signal_loses_no_failure(proxied: Stack, proxy: FaultProxy):
    """The failure is recorded before it is published: the sweep retries it all the same."""
    throttled = proxy.inject(
        call("sns", "Publish"),
        **sns_error("KMSThrottling", "The request was denied due to request throttling."),
        times=1,
    )
    job = new_id()
    with (
        pytest.raises(RuntimeError, match="b1 failed") as info,
        proxied.trail.batch(job, "b1", trigger=proxied.trigger("b1")),
    ):
        raise RuntimeError("b1 failed")
    assert any("signal was not published" in note for note in info.value.__notes__)
    assert len(throttled.hits) == 1  # botocore does not retry KMSThrottling: one request
    state = proxied.trail.get(job, "b1")
    assert state is not None
    assert state.status.value == "FAILED"
    swept = proxied.service.run_once()
    assert swept.signals == 0
    assert swept.outcomes.get("triggered") == 1
    assert [m["batch_id"] for m in proxied.work()] == ["b1"]
