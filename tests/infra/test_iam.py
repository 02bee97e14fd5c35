"""The IAM policies in infra/terraform allow what the code calls, and nothing more.

A real remediation cycle runs against the moto server (signals, every trigger kind, retries
until exhausted, a stale run, a replay) while botocore event hooks record every call the
remediator, the producer library and the alert router make. Each call becomes the IAM
action and the Terraform resource it needs, and the policies are checked against that.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from observability import AuditTrail, SqsTrigger
from observability.audit import AuditStore
from observability.clients import AwsClients
from observability.models import Status
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from observability.transitions import TableConfig
from observability.triggers import (
    Trigger,
)
from remediator.alerts.destinations import Destinations
from remediator.alerts.settings import AlertSettings
from remediator.bulk.items import OperationItems
from remediator.ops import operations
from remediator.ops.identity import Actor
from remediator.ops.replay import replay
from remediator.stack.provision import bootstrap
from tests.conftest import MOTO_ARN, REGION, Clock, new_id
from tests.infra.terraform import Statement, Terraform
from tests.integration.engine_targets import engine_triggers
from tests.integration.harness import Stack, TriggerTargets

pytestmark = pytest.mark.integration

# before-parameter-build hands the hook the call's own parameters (which table, queue or
# topic), where before-call only has the serialized request.
EVENT = "before-parameter-build"

# Calls authorised by an action of another name. Batch calls use the single-message action;
# transactions are authorised item by item (DynamoDB documents no TransactWriteItems action).
RENAMED = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
}
TRANSACT_ITEM = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}

TABLE = "${aws_dynamodb_table.audit.arn}"
TOPIC = "${aws_sns_topic.signals.arn}"
QUEUE = "${aws_sqs_queue.signals.arn}"
# Re-trigger targets are the operator's: granted on the ARNs given as variables.
TRIGGER_TARGETS = {
    "sqs:SendMessage": "${var.trigger_queue_arns}",
    "lambda:InvokeFunction": "${var.trigger_lambda_arns}",
    "states:StartExecution": "${var.trigger_state_machine_arns}",
    "events:PutEvents": "${var.trigger_event_bus_arns}",
    "ecs:RunTask": "${var.trigger_ecs_task_definition_arns}",
    "glue:StartJobRun": "${var.trigger_glue_job_arns}",
    "emr-serverless:StartJobRun": "${var.trigger_emr_application_arns}",
    "batch:SubmitJob": "${var.trigger_batch_job_queue_arns}",
    "sts:AssumeRole": "${var.trigger_assume_role_arns}",
}
# Granted to the task role although no recorded call names them, and why.
IMPLIED = {
    ("iam:PassRole", "${var.trigger_pass_role_arns}"): "RunTask passes the triggered task's "
    "roles to ECS; moto does not authorise, so no call shows it",
    ("iam:PassRole", "${var.trigger_emr_execution_role_arns}"): "StartJobRun passes the job "
    "run's execution role to EMR Serverless; as for RunTask, no call shows it",
    ("batch:SubmitJob", "${var.trigger_batch_job_definition_arns}"): "SubmitJob is "
    "authorised on the job definition as well as on the queue (the call's resource here)",
    ("kms:Decrypt", "${var.trigger_kms_key_arns}"): "SendMessage to an SSE-KMS work queue "
    "makes SQS use the queue's key on the caller's behalf",
    ("kms:GenerateDataKey", "${var.trigger_kms_key_arns}"): "as kms:Decrypt",
    ("states:DescribeExecution", "${local.trigger_execution_arns}"): "StartExecution's "
    "ExecutionAlreadyExists is checked against the execution holding the name; the story "
    "never reuses one",
    ("lambda:InvokeFunction", "${local.trigger_lambda_qualified_arns}"): "LambdaTrigger "
    "accepts name:alias and name:version, which the unqualified ARN does not cover",
    # Pipelines that do not import the library: their calls are exercised by
    # tests/integration/test_state_changes.py, not by this cycle.
    ("glue:GetJobRun", "${var.source_glue_job_arns}"): "a Glue run's state change is read "
    "(its batch, its arguments) for an opted-in job or a triggered run",
    ("glue:StartJobRun", "${var.source_glue_job_arns}"): "an opted-in Glue job's failed run "
    "is re-run with its own arguments",
    ("states:StartExecution", "${var.source_state_machine_arns}"): "an opted-in execution "
    "that cannot be redriven is started again with its input",
    ("states:RedriveExecution", "${local.source_execution_arns}"): "an opted-in state "
    "machine's failed execution is redriven",
    ("states:DescribeExecution", "${local.source_execution_arns}"): "the input of an "
    "execution that cannot be redriven",
    ("xray:PutTraceSegments", "*"): "the collector sidecar, when configured, sends the "
    "remediator's spans to X-Ray with the task role; the code itself calls no X-Ray API",
    ("xray:PutTelemetryRecords", "*"): "as xray:PutTraceSegments (the collector's own health)",
}
# "*" resources that AWS requires, and why; nowhere else.
STAR_ALLOWED = {
    ("execution", "ecr:GetAuthorizationToken"): "has no resource-level permissions",
    ("task", "xray:PutTraceSegments"): "has no resource-level permissions",
    ("task", "xray:PutTelemetryRecords"): "has no resource-level permissions",
}


@dataclass(frozen=True)
class Call:
    who: str  # "remediator", "trigger", "producer" or "router"
    service: str  # the signing name, which is the IAM prefix for these services
    operation: str
    params: dict[str, Any]


@dataclass(frozen=True, order=True)
class Need:
    action: str
    resource: str


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []

    def attach(self, clients: AwsClients, who: str, services: Iterable[str]) -> None:
        for service in services:
            hook = functools.partial(self._record, who)
            clients.client(service).meta.events.register(EVENT, hook)

    def _record(self, who: str, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.signing_name
        self.calls.append(Call(who, service, model.name, copy.deepcopy(params)))

    def by(self, *who: str) -> list[Call]:
        return [c for c in self.calls if c.who in who]


def actions_of(call: Call) -> list[str]:
    if (call.service, call.operation) == ("dynamodb", "TransactWriteItems"):
        return [TRANSACT_ITEM[kind] for item in call.params["TransactItems"] for kind in item]
    return [RENAMED.get((call.service, call.operation), f"{call.service}:{call.operation}")]


def needs(calls: Iterable[Call], stack: Stack) -> set[Need]:
    """What each call needs, as (IAM action, the Terraform expression of its resource)."""
    settings = stack.settings
    found: set[Need] = set()
    for call in calls:
        for action in actions_of(call):
            if call.who == "trigger":
                found.add(Need(action, TRIGGER_TARGETS.get(action, f"UNKNOWN trigger {action}")))
                continue
            params = call.params
            if call.service == "dynamodb":
                tables = (
                    [i[k]["TableName"] for i in params["TransactItems"] for k in i]
                    if "TransactItems" in params
                    else list(params.get("RequestItems", {})) or [params["TableName"]]
                )
                for table in tables:
                    resource = TABLE if table == settings.table_name else f"UNKNOWN {table}"
                    if params.get("IndexName"):
                        resource = f"{resource}/index/{params['IndexName']}"
                    found.add(Need(action, resource))
            elif call.service == "sns":
                topic = params["TopicArn"]
                resource = TOPIC if topic == settings.topic_arn else f"UNKNOWN {topic}"
                found.add(Need(action, resource))
            elif call.service == "sqs":
                url = params["QueueUrl"]
                resource = QUEUE if url == settings.queue_url else f"UNKNOWN {url}"
                found.add(Need(action, resource))
            else:
                found.add(Need(action, f"UNKNOWN {call.service}"))
    return found


def grants(statements: Iterable[Statement], tf: Terraform) -> set[Need]:
    return {
        Need(action, tf.resolve(resource, variables=False))
        for statement in statements
        for action in statement.actions
        for resource in statement.resources
    }


# -- the cycle -------------------------------------------------------------------------------


def _work(setup: AwsClients, url: str) -> list[dict[str, Any]]:
    """Trigger messages on the work queue, read with unrecorded clients."""
    sqs, out = setup.sqs(), []
    while True:
        reply = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        if not reply.get("Messages"):
            return out
        for message in reply["Messages"]:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            attributes = message.get("MessageAttributes", {})
            out.append({k: v["StringValue"] for k, v in attributes.items()})


def _fail(trail: AuditTrail, job: str, batch: str, trigger: Trigger) -> None:
    try:
        with trail.batch(job, batch, trigger=trigger):
            raise RuntimeError(f"{batch} failed")
    except RuntimeError:
        pass


@dataclass
class Cycle:
    stack: Stack
    recorder: Recorder
    tf: Terraform

    @functools.cached_property
    def remediator_needs(self) -> set[Need]:
        return needs(self.recorder.by("remediator", "trigger"), self.stack)

    @functools.cached_property
    def producer_needs(self) -> set[Need]:
        return needs(self.recorder.by("producer"), self.stack)


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return Terraform.load()


@pytest.fixture(scope="module")
def cycle(moto_endpoint: str, tf: Terraform) -> Cycle:
    """One run of the whole story, shared by the tests of this module (it takes seconds)."""
    clients = AwsClients(region=REGION, endpoint_url=moto_endpoint)
    resources = bootstrap(clients, f"audit-{uuid.uuid4().hex[:12]}")  # before any recording
    settings_kwargs = {
        "table_name": resources.table_name,
        "topic_arn": resources.topic_arn,
        "queue_url": resources.queue_url,
        "region": REGION,
        "_env_file": None,
    }
    clock = Clock()
    stack = Stack(settings_kwargs, clients, moto_endpoint, clock)
    setup = AwsClients(region=REGION, endpoint_url=moto_endpoint)
    # One target of every other kind, made with unrecorded clients (and, as moto needs,
    # RunTask sent without its network block, which needs no grant of the remediator's).
    targets = TriggerTargets(setup, stack.remediator.trigger_clients).triggers
    del targets["sqs"]  # the SQS target here is the pipeline's own work queue
    targets.update(engine_triggers(setup))
    # A target in another account: AssumeRole is the remediator's call (the send, signed as
    # the role, is the other account's to authorise).
    role = "arn:aws:iam::222222222222:role/pipelines-retrigger"
    keys = setup.client("sts").assume_role(RoleArn=role, RoleSessionName="setup")["Credentials"]
    theirs = setup.with_credentials(
        keys["AccessKeyId"], keys["SecretAccessKey"], keys["SessionToken"]
    )
    other_queue = theirs.sqs().create_queue(QueueName=new_id("work"))["QueueUrl"]
    targets["cross-account"] = SqsTrigger(queue_url=other_queue, body={}, role_arn=role)

    # The pipeline has clients of its own, as it would in its own process.
    producer_clients = AwsClients(region=REGION, endpoint_url=moto_endpoint)
    shared = Settings(
        **stack.settings.model_dump(include=set(Settings.model_fields)), _env_file=None
    )
    trail = AuditTrail(
        shared, clients=producer_clients, clock=clock, metrics=Metrics(stream=io.StringIO())
    )
    recorder = Recorder()
    recorder.attach(clients, "remediator", ("dynamodb", "sns", "sqs"))
    recorder.attach(stack.remediator.record_clients, "remediator", ("dynamodb",))
    recorder.attach(
        stack.remediator.trigger_clients,
        "trigger",
        (
            "sqs",
            "lambda",
            "stepfunctions",
            "events",
            "ecs",
            "glue",
            "emr-serverless",
            "batch",
            "sts",
        ),
    )
    recorder.attach(producer_clients, "producer", ("dynamodb", "sns", "sqs"))

    job = new_id()
    work = SqsTrigger(queue_url=stack.work_queue, body={"batch": "sqs"})
    _fail(trail, job, "sqs", work)
    # A long error fills the item's history: recording its re-trigger archives it first.
    try:
        with trail.batch(job, "long", trigger=work):
            raise RuntimeError("x" * 1000)
    except RuntimeError:
        pass
    for kind, trigger in targets.items():
        _fail(trail, job, kind, trigger)
    setup.sqs().send_message(QueueUrl=resources.queue_url, MessageBody="not a signal")

    # Signals heard, every kind fired; the malformed message is handed back.
    first = stack.service.run_once()
    assert first.outcomes.get("triggered") == 6 + 4, first
    # The SQS-triggered batch fails on every re-run until its attempts are used up.
    for _ in range(stack.settings.max_attempts):
        for message in _work(setup, stack.work_queue):
            if message["batch_id"] == "sqs":
                _fail(trail, job, message["batch_id"], work)
        stack.service.run_once()
    assert trail.get(job, "sqs").status is Status.EXHAUSTED  # type: ignore[union-attr]

    # A run that stops beating is found stale and re-triggered.
    hung = trail.batch(job, "hung", trigger=work).__enter__()
    hung.heartbeat(force=True)
    clock.advance(stack.settings.stale_after_seconds + 1)
    assert stack.service.run_once().outcomes.get("stale")
    assert "STALE" in [e.event.value for e in trail.history(job, "hung")]
    # Re-runs that never start use up their attempts too; the remediator then alerts.
    exhausted = 0
    # (A re-run has TableConfig().start_within_seconds to start, however short the stale window.)
    start_window = max(TableConfig().start_within_seconds, stack.settings.stale_after_seconds)
    for _ in range(stack.settings.max_attempts):
        clock.advance(start_window + 1)
        exhausted += stack.service.run_once().outcomes.get("exhausted", 0)
    assert exhausted >= 4

    # A person replays the exhausted batch, and the pipeline resumes and reads its history.
    state = trail.get(job, "sqs")
    assert state is not None
    replayed = replay(
        stack.remediator, state, actor=Actor(MOTO_ARN, "ops"), reason="fixed upstream"
    )
    assert replayed.kind == "triggered", replayed
    assert trail.pending(job, ["sqs", "lambda", "done"]) == ["sqs", "lambda", "done"]
    assert trail.history(job, "sqs")

    # A person stores a bulk replay; the service lists it, starts its batches, reads them.
    people = AwsClients(region=REGION, endpoint_url=moto_endpoint)
    flt = operations.Filter(jobs=(job,), statuses=frozenset({Status.EXHAUSTED}))
    table = stack.settings.table_name
    chosen = operations.select(AuditStore(people, table), clock(), flt, shards=8)
    assert chosen
    operations.create(
        OperationItems(people, table), chosen, flt, actor=Actor(MOTO_ARN), now=clock(),
        max_in_flight=2, rate=None, reason=None, max_attempts=None, ttl_days=1,
    )  # fmt: skip
    assert stack.service.run_once().outcomes.get("triggered") == 2
    return Cycle(stack, recorder, tf)


# -- the task role -----------------------------------------------------------------------------


def test_cycle_exercises_every_kind_of_call(cycle: Cycle):
    seen = {a.action for a in cycle.remediator_needs}
    assert set(TRIGGER_TARGETS) <= seen, "every trigger kind was fired"
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"} <= seen
    assert {"dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem", "sns:Publish"} <= seen


def test_task_role_allows_every_call_the_remediator_makes(cycle: Cycle):
    statements = cycle.tf.statements("task")
    granted = grants(statements, cycle.tf)
    missing = sorted(cycle.remediator_needs - granted)
    assert missing == [], "the task role lacks what the code calls"

    # Trigger actions live only in their own statements, created only when configured.
    for need in cycle.remediator_needs:
        if need.resource not in TRIGGER_TARGETS.values():
            continue
        [statement] = [
            s
            for s in statements
            if need.action in s.actions and s.for_each and s.resources == (need.resource,)
        ]
        variable = need.resource.removeprefix("${").removesuffix("}")
        assert statement.resources == (need.resource,)
        assert statement.for_each == f"${{length({variable}) > 0 ? [1] : []}}"


def test_task_role_grants_nothing_the_code_does_not_call(cycle: Cycle):
    statements = cycle.tf.statements("task")
    key = [s for s in statements if s.sid == "UseKeyThroughTableTopicQueue"]
    others = [s for s in statements if s not in key]
    granted = grants(others, cycle.tf)
    implied = {Need(a, cycle.tf.resolve(r, variables=False)) for a, r in IMPLIED}
    assert sorted(granted - cycle.remediator_needs - implied) == [], "granted, never called"
    assert sorted(implied - granted) == [], "RunTask and SSE-KMS targets need these too"

    # The table, topic and queue are encrypted: those services use the key for the role,
    # and only they may (kms:ViaService names exactly the services the code calls).
    [statement] = key
    assert set(statement.actions) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert statement.resources == ("${aws_kms_key.main.arn}",)
    [condition] = statement.conditions
    assert condition["variable"] == "kms:ViaService"
    called = {c.service for c in cycle.recorder.by("remediator")}
    assert {v.split(".")[0] for v in condition["values"]} == called


def test_pass_role_only_to_ecs_tasks(tf: Terraform):
    [statement] = [s for s in tf.statements("task") if s.sid == "TriggerEcsPassRole"]
    [condition] = statement.conditions
    assert (condition["variable"], condition["values"]) == (
        "iam:PassedToService",
        ["ecs-tasks.amazonaws.com"],
    )
    [run_task] = [s for s in tf.statements("task") if "ecs:RunTask" in s.actions]
    [cluster] = run_task.dynamic_conditions
    assert cluster["content"][0]["variable"] == "ecs:cluster"


def test_emr_execution_roles_are_passed_only_to_emr_serverless(tf: Terraform):
    [statement] = [s for s in tf.statements("task") if s.sid == "TriggerEmrServerlessPassRole"]
    assert statement.actions == ("iam:PassRole",)
    assert statement.resources == ("${var.trigger_emr_execution_role_arns}",)
    [condition] = statement.conditions
    assert (condition["variable"], condition["values"]) == (
        "iam:PassedToService",
        ["emr-serverless.amazonaws.com"],
    )


def test_only_the_listed_roles_may_be_assumed_and_none_by_default(tf: Terraform):
    [statement] = [s for s in tf.statements("task") if "sts:AssumeRole" in s.actions]
    assert statement.actions == ("sts:AssumeRole",)
    assert statement.resources == ("${var.trigger_assume_role_arns}",)
    assert statement.for_each == "${length(var.trigger_assume_role_arns) > 0 ? [1] : []}"
    assert tf.variables()["trigger_assume_role_arns"]["default"] == []


# -- the producer policy and the alert router's role --------------------------------------------


def test_producer_policy_allows_every_call_the_library_makes(cycle: Cycle):
    granted = grants(cycle.tf.statements("producer"), cycle.tf)
    assert cycle.producer_needs, "the producer was recorded"
    assert sorted(cycle.producer_needs - granted) == []
    [key] = [s for s in cycle.tf.statements("producer") if s.sid.startswith("UseKey")]
    called = {c.service for c in cycle.recorder.by("producer")}
    assert {v.split(".")[0] for v in key.conditions[0]["values"]} == called


def test_alert_router_role_allows_reading_its_destinations(moto_endpoint: str, tf: Terraform):
    setup = AwsClients(region=REGION, endpoint_url=moto_endpoint)
    parameter = f"/pipelines/{new_id('slack')}"
    setup.client("ssm").put_parameter(
        Name=parameter, Value="https://hooks.slack.test/services/T/B/x", Type="SecureString"
    )
    secret = setup.client("secretsmanager").create_secret(
        Name=new_id("pagerduty"), SecretString=json.dumps({"routing_key": "rk-1"})
    )["ARN"]
    router_clients = AwsClients(region=REGION, endpoint_url=moto_endpoint)
    recorder = Recorder()
    recorder.attach(router_clients, "router", ("ssm", "secretsmanager"))
    settings = AlertSettings(
        slack_webhook_ssm_parameter=parameter,
        pagerduty_routing_key_secret_arn=secret,
        _env_file=None,
    )
    destinations = Destinations(settings, lambda: router_clients)
    assert destinations.slack_url()
    assert destinations.pagerduty_routing_key() == "rk-1"

    called = {a for call in recorder.by("router") for a in actions_of(call)}
    assert called == {"ssm:GetParameter", "secretsmanager:GetSecretValue"}
    statements = {s.sid: s for s in tf.statements("alerts")}
    ssm, secrets = statements["ReadSlackWebhook"], statements["ReadPagerDutyRoutingKey"]
    assert ssm.actions == ("ssm:GetParameter",)
    assert secrets.actions == ("secretsmanager:GetSecretValue",)
    assert "var.slack_webhook_ssm_parameter == null" in str(ssm.for_each)
    assert "var.pagerduty_routing_key_secret_arn == null" in str(secrets.for_each)
    assert secrets.resources == ("${var.pagerduty_routing_key_secret_arn}",)

    # The parameter ARN the role names is the one SSM reports for that name.
    template = tf.locals["slack_parameter_arn"].split(" : ")[-1].strip()
    arn = setup.client("ssm").get_parameter(Name=parameter)["Parameter"]["ARN"]
    rendered = (
        template.removeprefix('"')
        .removesuffix('"}')
        .replace("${local.partition}", "aws")
        .replace("${var.region}", REGION)
        .replace("${local.account_id}", arn.split(":")[4])
        .replace('${trimprefix(var.slack_webhook_ssm_parameter, "/")}', parameter.lstrip("/"))
    )
    assert rendered == arn
    assert ssm.resources == ("${local.slack_parameter_arn}",)


def test_alert_router_role_reads_only_its_queue(tf: Terraform):
    statements = {s.sid: s for s in tf.statements("alerts")}
    queue = statements["ReadAlertsQueue"]
    # What the SQS event source mapping calls with the function's role.
    assert set(queue.actions) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert queue.resources == ("${aws_sqs_queue.alerts.arn}",)
    decrypt = statements["DecryptDestinationSecrets"]
    assert decrypt.for_each == "${length(var.alert_secrets_kms_key_arns) > 0 ? [1] : []}"


# -- nothing broader than needed ------------------------------------------------------------------


@pytest.mark.parametrize("document", ["task", "execution", "producer", "alerts"])
def test_no_wildcard_actions_and_no_star_resources(tf: Terraform, document: str):
    for statement in tf.statements(document):
        for action in statement.actions:
            assert "*" not in action, f"{document}: {statement.sid} grants {action}"
        if "*" in statement.resources:
            for action in statement.actions:
                assert (document, action) in STAR_ALLOWED, f"{document}: {action} on *"
