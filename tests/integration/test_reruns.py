"""Re-runs without plumbing, end to end on the moto server: the remediator fires a real
trigger, and the helper that receives it (SQS worker, Lambda handler, task) runs the batch."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import boto3
import pytest

from observability import (
    EcsTaskTrigger,
    LambdaTrigger,
    Rerun,
    SqsWorker,
    Status,
    StepFunctionsTrigger,
    batch_handler,
    run_task,
)
from observability.clients import AwsClients
from observability.errors import StoreUnavailable
from observability.rerun.runner import RerunOutcome
from observability.telemetry.metrics import Metrics
from observability.trail import AuditTrail
from tests.conftest import REGION, Clock, new_id
from tests.integration.harness import (
    LambdaContext,
    Stack,
    ecs_cluster,
    lambda_function,
    receive_all,
    sqs_event,
    state_machine,
)

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:rerun"


class Boom(Exception):
    pass


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def history(trail: AuditTrail, job: str, batch: str) -> list[tuple[str, int, str]]:
    return [(e.event.value, e.attempt, e.actor) for e in trail.history(job, batch)]


def fail_with(stack: Stack, job: str, batch: str, trigger: Any) -> None:
    with pytest.raises(Boom), stack.trail.batch(job, batch, trigger=trigger):
        raise Boom(f"{batch} failed")


def invoked_payloads(stack: Stack) -> list[bytes]:
    """The Payload of every Invoke the remediator sends (moto accepts it, cannot run it)."""
    payloads: list[bytes] = []
    stack.remediator.trigger_clients.client("lambda").meta.events.register(
        "provide-client-params.lambda.Invoke",
        lambda params, **_: payloads.append(params["Payload"]),
    )
    return payloads


def worker(stack: Stack, work: Any, **kw: Any) -> SqsWorker:
    return SqsWorker(stack.producer(actor="worker"), stack.work_queue, work, wait_seconds=0, **kw)


# -- the SQS work-queue worker ------------------------------------------------------------


def test_worker_heals_a_failed_batch_and_deletes_the_message(stack: Stack):
    job = new_id()
    stack.fail(job, "2024-05")
    assert stack.service.run_once().outcomes == {"triggered": 1}
    seen: list[tuple[str, str, int, Any]] = []

    def rerun(batch: Rerun) -> str:
        seen.append((batch.job_id, batch.batch_id, batch.attempt, batch.body))
        return "loaded"

    [result] = worker(stack, rerun).poll_once()
    assert result is not None
    assert (result.outcome, result.attempt, result.value) == (RerunOutcome.SUCCEEDED, 2, "loaded")
    assert seen == [(job, "2024-05", 2, {"batch": "2024-05"})]
    assert history(stack.trail, job, "2024-05")[-2:] == [
        ("STARTED", 2, "worker"),
        ("SUCCESS", 2, "worker"),
    ]
    assert receive_all(stack.clients, stack.work_queue) == []  # deleted
    state = stack.trail.get(job, "2024-05")
    assert state is not None
    assert state.trigger == stack.trigger("2024-05").to_dict()  # still re-runnable the same way


def test_a_duplicate_delivery_of_an_attempt_is_not_run_twice(stack: Stack):
    job = new_id()
    stack.fail(job, "b1")
    stack.service.run_once()
    [message] = receive_all(stack.clients, stack.work_queue)
    # SQS is at least once: the same attempt again, as a second copy on the queue.
    stack.clients.sqs().send_message(
        QueueUrl=stack.work_queue,
        MessageBody=message["Body"],
        MessageAttributes=message["MessageAttributes"],
    )
    stack.clients.sqs().change_message_visibility(
        QueueUrl=stack.work_queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    runs: list[int] = []
    the_worker = worker(stack, lambda batch: runs.append(batch.attempt), max_messages=10)
    results = the_worker.poll_once()
    assert sorted(r.outcome for r in results if r) == [
        RerunOutcome.DUPLICATE,
        RerunOutcome.SUCCEEDED,
    ]
    assert runs == [2]
    assert [e for e, _, _ in history(stack.trail, job, "b1")].count("STARTED") == 2
    assert receive_all(stack.clients, stack.work_queue) == []  # both deleted


def test_a_failed_rerun_is_recorded_logged_once_and_retried_by_the_remediator(
    stack: Stack, caplog: pytest.LogCaptureFixture
):
    job = new_id()
    stack.fail(job, "b1")
    stack.service.run_once()

    def rerun(batch: Rerun) -> None:
        raise Boom("warehouse still down")

    caplog.set_level(logging.INFO, logger="observability")
    [result] = worker(stack, rerun).poll_once()
    assert result is not None
    assert (result.outcome, result.attempt) == (RerunOutcome.FAILED, 2)
    assert isinstance(result.error, Boom)
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(with_traceback) == 1  # the worker's own record; the trail's has none
    assert "warehouse still down" in with_traceback[0].getMessage()
    assert receive_all(stack.clients, stack.work_queue) == []  # the trail holds the outcome
    assert stack.service.run_once().outcomes == {"triggered": 1}
    [again] = stack.work()
    assert again["attempt"] == "3"


def test_a_message_that_is_not_a_request_is_left_for_the_dead_letter_queue(stack: Stack):
    stack.clients.sqs().send_message(QueueUrl=stack.work_queue, MessageBody='{"month": 5}')
    assert worker(stack, lambda batch: pytest.fail("ran")).poll_once() == [None]
    attributes = stack.clients.sqs().get_queue_attributes(
        QueueUrl=stack.work_queue, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"  # not deleted


def test_first_runs_from_the_queue_are_named_by_the_body_and_re_run_the_same_way(stack: Stack):
    job = new_id()
    stack.clients.sqs().send_message(QueueUrl=stack.work_queue, MessageBody='{"month": "2024-07"}')

    def load(batch: Rerun) -> None:
        if batch.attempt == 1:
            raise Boom("first try fails")

    first = worker(stack, load, job_id=job, batch_id=lambda body: body["month"])
    [result] = first.poll_once()
    assert result is not None
    assert (result.outcome, result.attempt) == (RerunOutcome.FAILED, 1)
    stack.service.run_once()
    [retry] = first.poll_once()
    assert retry is not None
    assert (retry.outcome, retry.attempt) == (RerunOutcome.SUCCEEDED, 2)
    assert [e for e, _, _ in history(stack.trail, job, "2024-07")] == [
        "STARTED",
        "FAILED",
        "RETRY_TRIGGERED",
        "STARTED",
        "SUCCESS",
    ]


def test_visibility_is_kept_while_a_long_batch_runs(stack: Stack):
    job = new_id()
    stack.fail(job, "b1")
    stack.service.run_once()
    seen_by_others: list[int] = []

    def slow(batch: Rerun) -> None:
        # Longer than the visibility timeout: without extensions another worker would see it.
        time.sleep(3.5)
        seen_by_others.append(len(receive_all(stack.clients, stack.work_queue)))

    [result] = worker(stack, slow, visibility_timeout=2).poll_once()
    assert result is not None
    assert result.outcome is RerunOutcome.SUCCEEDED
    assert seen_by_others == [0]


def test_stopping_hands_back_the_messages_not_started(stack: Stack):
    job = new_id()
    for batch in ("b1", "b2"):
        stack.fail(job, batch)
    stack.service.run_once()
    ran: list[str] = []
    the_worker: SqsWorker

    def rerun(batch: Rerun) -> None:
        ran.append(batch.batch_id)
        the_worker.stop()  # SIGTERM arrives while the first batch runs

    the_worker = worker(stack, rerun, max_messages=10)
    results = the_worker.poll_once()
    assert len(ran) == 1
    assert [r.outcome for r in results if r] == [RerunOutcome.SUCCEEDED]
    # The other message is visible again at once, not after its 120 s visibility timeout.
    [left] = receive_all(stack.clients, stack.work_queue)
    assert left["MessageAttributes"]["batch_id"]["StringValue"] != ran[0]


def test_stop_abandons_the_long_poll_and_its_late_messages_go_back(stack: Stack):
    the_worker = SqsWorker(stack.producer(), stack.work_queue, lambda b: None, wait_seconds=20)
    thread = threading.Thread(target=the_worker.run, kwargs={"install_signals": False})
    thread.start()
    time.sleep(0.5)  # let the long poll reach the queue
    started = time.monotonic()
    the_worker.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2  # not the 20 s of the poll
    # A message the abandoned poll still receives is handed back, not held for 120 s.
    stack.clients.sqs().send_message(QueueUrl=stack.work_queue, MessageBody="{}")
    time.sleep(0.5)
    assert len(receive_all(stack.clients, stack.work_queue, wait=5)) == 1


# -- the Lambda handler ---------------------------------------------------------------------


def test_lambda_sqs_event_source_gets_a_partial_batch_response(stack: Stack):
    job = new_id()
    for batch in ("ok", "taken"):
        stack.fail(job, batch)
    stack.service.run_once()
    stack.clients.sqs().send_message(QueueUrl=stack.work_queue, MessageBody="not a request")
    messages = receive_all(stack.clients, stack.work_queue)
    assert len(messages) == 3
    event = json.loads(json.dumps(sqs_event(stack.clients, stack.work_queue, messages)))
    junk = next(m["MessageId"] for m in messages if "MessageAttributes" not in m)
    # Before the trigger arrives, the pipeline ran "taken" again itself (attempt 2).
    with stack.producer(actor="pipeline").batch(job, "taken"):
        pass
    ran: list[tuple[str, int]] = []

    @batch_handler(stack.producer(actor="lambda"))
    def handler(batch: Rerun) -> None:
        ran.append((batch.batch_id, batch.attempt))

    reply = handler(event, LambdaContext(FUNCTION_ARN))
    assert ran == [("ok", 2)]  # "taken" is a duplicate of an attempt already run
    assert reply == {"batchItemFailures": [{"itemIdentifier": junk}]}
    assert history(stack.trail, job, "ok")[-1] == ("SUCCESS", 2, "lambda")
    assert [e for e, _, _ in history(stack.trail, job, "taken")].count("STARTED") == 2


def test_lambda_direct_invocation_from_a_lambda_trigger(stack: Stack):
    job = new_id()
    function = lambda_function(stack.clients)
    payloads = invoked_payloads(stack)
    fail_with(stack, job, "2024-05", LambdaTrigger(function_name=function, payload={"m": 5}))
    stack.service.run_once()
    [payload] = payloads
    event = json.loads(payload)  # what the Lambda runtime hands the handler

    @batch_handler(stack.producer(actor="lambda"))
    def handler(batch: Rerun) -> int:
        assert batch.context is not None
        return int(batch.body["m"])

    reply = handler(event, LambdaContext(function))
    assert reply == {"outcome": "succeeded", "job_id": job, "batch_id": "2024-05", "attempt": 2}
    assert history(stack.trail, job, "2024-05")[-1] == ("SUCCESS", 2, "lambda")
    # Lambda retries a failed asynchronous invocation: the same event again is a no-op.
    assert handler(event, LambdaContext(function))["outcome"] == "duplicate"
    assert len(stack.trail.history(job, "2024-05")) == 5


def test_lambda_handler_hands_back_what_cannot_run_now(stack: Stack):
    job = new_id()
    stack.fail(job, "b1")
    stack.service.run_once()
    messages = receive_all(stack.clients, stack.work_queue)
    event = json.loads(json.dumps(sqs_event(stack.clients, stack.work_queue, messages)))
    # The audit table out of reach (connection refused), after botocore's own retries.
    away = AwsClients(
        region=REGION, endpoint_url="http://127.0.0.1:9", max_attempts=1, connect_timeout=1
    )
    trail = AuditTrail(stack.trail.settings, clients=away, metrics=Metrics(enabled=False))
    handler = batch_handler(trail)(lambda batch: pytest.fail("ran"))
    reply = handler(event, LambdaContext(FUNCTION_ARN))
    assert reply == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    direct = {"payload": {}, "job_id": job, "batch_id": "b1", "attempt": 2, "trace_id": None}
    with pytest.raises(StoreUnavailable):  # Lambda's retry of the invocation tries again
        handler(direct, LambdaContext(FUNCTION_ARN))


def test_a_lambda_style_handler_called_20_times_gets_its_one_failure_retried(stack: Stack):
    job = new_id()
    function = lambda_function(stack.clients)
    payloads = invoked_payloads(stack)
    calls = 0

    @batch_handler(stack.producer(actor="lambda"), job_id=job, batch_id=lambda e: e["day"])
    def handler(batch: Rerun) -> None:
        nonlocal calls
        calls += 1
        if calls == 11:
            raise Boom("the warehouse blinked")

    context = LambdaContext(function)
    outcomes = [handler({"day": "today"}, context)["outcome"] for _ in range(11)]
    assert outcomes == ["succeeded"] * 10 + ["failed"]
    # Ten good runs did not use up the cap: the failure is retried, not exhausted.
    stack.service.run_once()
    assert len(payloads) == 1
    assert handler(json.loads(payloads[0]), context)["outcome"] == "succeeded"
    outcomes = [handler({"day": "today"}, context)["outcome"] for _ in range(8)]
    assert outcomes == ["succeeded"] * 8
    events = [e.event.value for e in stack.trail.history(job, "today")]
    assert "EXHAUSTED" not in events
    assert events.count("RETRY_TRIGGERED") == 1
    assert events.count("SUCCESS") == 19


# -- Step Functions task input and ECS container environment ---------------------------------


def test_step_functions_task_input(stack: Stack):
    job = new_id()
    sfn = stack.clients.client("stepfunctions")
    machine = state_machine(stack.clients)
    trigger = StepFunctionsTrigger(state_machine_arn=machine, input={"month": "2024-05"})
    fail_with(stack, job, "2024-05", trigger)
    stack.service.run_once()
    [execution] = sfn.list_executions(stateMachineArn=machine)["executions"]
    task_input = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])

    got = run_task(
        stack.producer(actor="task"),
        lambda batch: f"loaded {batch.body['month']}",
        event=task_input,
    )
    assert got == "loaded 2024-05"
    assert history(stack.trail, job, "2024-05")[-1] == ("SUCCESS", 2, "task")
    state = stack.trail.get(job, "2024-05")
    assert state is not None
    assert state.trigger == trigger.to_dict()
    # A repeat of the same input is a duplicate: nothing runs, None comes back.
    assert (
        run_task(stack.producer(), lambda batch: pytest.fail("ran twice"), event=task_input) is None
    )


def test_ecs_container_environment_and_a_failure_is_raised(stack: Stack):
    job = new_id()
    ecs = stack.clients.client("ecs")
    cluster = ecs_cluster(stack.clients)
    trigger = EcsTaskTrigger(
        cluster=cluster, task_definition="worker", container_name="worker", subnets=["subnet-1"]
    )
    # moto 5.2 fails on awsvpc network interfaces: it runs the task without the network block.
    stack.remediator.trigger_clients.client("ecs").meta.events.register(
        "before-parameter-build.ecs.RunTask",
        lambda params, **_: params.pop("networkConfiguration", None),
    )
    fail_with(stack, job, "b1", trigger)
    stack.service.run_once()
    [task] = ecs.describe_tasks(cluster=cluster, tasks=ecs.list_tasks(cluster=cluster)["taskArns"])[
        "tasks"
    ]
    [override] = task["overrides"]["containerOverrides"]
    environ = {e["name"]: e["value"] for e in override["environment"]}

    def load(batch: Rerun) -> None:
        raise Boom(f"attempt {batch.attempt} failed")

    with pytest.raises(Boom, match="attempt 2 failed"):
        run_task(stack.producer(actor="task"), load, environ=environ)
    state = stack.trail.get(job, "b1")
    assert state is not None
    assert (state.status, state.attempt) == (Status.FAILED, 2)
    assert history(stack.trail, job, "b1")[-2][:2] == ("STARTED", 2)


def test_a_worker_that_cannot_even_poll_says_why_instead_of_hanging(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
):
    from observability import ConfigError

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    no_region = AwsClients(session=boto3.Session())
    trail = AuditTrail(stack.trail.settings, clients=no_region, metrics=Metrics(enabled=False))
    the_worker = SqsWorker(trail, stack.work_queue, lambda batch: None, wait_seconds=0)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            the_worker.run(install_signals=False)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=10)
    the_worker.stop()
    assert not thread.is_alive()
    [error] = raised
    assert isinstance(error, ConfigError)
    assert "AWS_REGION" in str(error)
