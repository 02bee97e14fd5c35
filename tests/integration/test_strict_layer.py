"""The strict layer catches what AWS would refuse and moto accepts: in this process (at the
call), in a subprocess (reported when the test ends), and in EMF documents."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest

from observability.telemetry import metrics
from tests.conftest import REGION, new_id
from tests.strict.checker import StrictAws, StrictAwsViolation
from tests.strict.limits import EMF_RULES, REQUEST_RULES


def test_a_fifo_group_id_aws_refuses_fails_at_the_call_naming_rule_and_source(
    clients, strict_aws: StrictAws
):
    url = clients.sqs().create_queue(
        QueueName=new_id("work") + ".fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    with pytest.raises(StrictAwsViolation) as info:
        clients.sqs().send_message(
            QueueUrl=url, MessageBody="{}", MessageGroupId="ventes été", MessageDeduplicationId="d"
        )
    [found] = strict_aws.take()
    assert found.rule == "sqs-fifo-ids"
    assert "API_SendMessage.html" in found.source
    assert "sqs-fifo-ids" in str(info.value)
    assert found.source in str(info.value)


def test_a_model_constraint_botocore_leaves_to_aws_is_caught(clients, strict_aws: StrictAws):
    with pytest.raises(StrictAwsViolation, match="botocore-model"):
        clients.client("stepfunctions").start_execution(
            stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:sm",
            traceHeader="Root=1-été",  # the model's pattern: \\p{ASCII}*
        )
    [found] = strict_aws.take()
    assert found.where == "stepfunctions.StartExecution.traceHeader"
    assert "does not match" in found.problem
    assert found.source.endswith("/stepfunctions/2016-11-23/service-2.json")


def test_a_malformed_table_request_its_client_no_longer_validates_is_caught(
    clients, strict_aws: StrictAws
):
    """The table's client skips botocore's validation: the strict layer runs it instead."""
    table = clients.dynamodb()
    with pytest.raises(StrictAwsViolation, match="botocore-model") as info:
        table.put_item(TableName="audit", Item={"pk": {"S": 7}})
    assert "Item.pk.S" in str(info.value)
    assert [v.rule for v in strict_aws.take()] == ["botocore-model"]


@pytest.mark.parametrize(
    ("call", "rule"),
    [
        (
            lambda c: c.client("ecs").run_task(
                taskDefinition="t",
                launchType="FARGATE",
                overrides={"containerOverrides": [{"name": "a", "command": ["x" * 9000]}]},
                networkConfiguration={"awsvpcConfiguration": {"subnets": ["s"]}},
            ),
            "ecs-overrides-8192",
        ),
        (
            lambda c: c.client("ecs").run_task(taskDefinition="t", launchType="FARGATE"),
            "ecs-fargate-awsvpc",
        ),
        (
            lambda c: c.client("ecs").run_task(
                taskDefinition="t",
                launchType="FARGATE",
                overrides={"cpu": "1024", "memory": "16384"},
                networkConfiguration={"awsvpcConfiguration": {"subnets": ["s"]}},
            ),
            "ecs-fargate-task-size",
        ),
        (
            lambda c: c.sqs().send_message(
                QueueUrl="https://sqs.us-east-1.amazonaws.com/123456789012/q",
                MessageBody="x",
                MessageAttributes={
                    f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)
                },
            ),
            "sqs-attributes-10",
        ),
        (
            lambda c: c.client("lambda").invoke(
                FunctionName="fn", InvocationType="Event", Payload=b"x" * 262_145
            ),
            "lambda-async-payload",
        ),
        (
            lambda c: c.client("events").put_events(
                Entries=[{"Source": "s", "DetailType": "d", "Detail": "[1, 2]"}]
            ),
            "events-entry",
        ),
    ],
)
def test_documented_limits_the_models_lack_are_caught(clients, strict_aws, call, rule):
    with pytest.raises(StrictAwsViolation, match=rule):
        call(clients)
    assert [v.rule for v in strict_aws.take()] == [rule]


def test_a_non_ascii_dimension_in_an_emf_document_is_caught(strict_aws: StrictAws):
    with pytest.raises(StrictAwsViolation, match="cloudwatch-dimension-ascii"):
        metrics.emf_record(
            "Pipelines", {"JobSuccess": 1}, {"JobId": "ventes-été"}, datetime.now(UTC)
        )
    assert [v.rule for v in strict_aws.take()] == ["cloudwatch-dimension-ascii"]


def test_the_line_metrics_emit_writes_is_checked_too(strict_aws: StrictAws):
    """emit builds its line without emf_record: the strict layer reads that line."""
    sink = io.StringIO()
    with pytest.raises(StrictAwsViolation, match="emf-document"):
        metrics.Metrics("Pipelines", stream=sink).emit("ingest", {"JobSuccess": float("nan")})
    assert [v.rule for v in strict_aws.take()] == ["emf-document"]
    assert sink.getvalue() == ""


def test_a_subprocess_request_aws_would_refuse_is_reported(moto_endpoint, strict_aws: StrictAws):
    code = textwrap.dedent(
        f"""
        import boto3
        ecs = boto3.client("ecs", region_name="{REGION}", endpoint_url="{moto_endpoint}")
        try:
            ecs.run_task(taskDefinition="t", launchType="FARGATE")
        except Exception:
            pass  # moto's own answer does not matter: the request was already checked
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert [v.rule for v in strict_aws.take()] == ["ecs-fargate-awsvpc"]


def test_every_rule_names_a_source():
    for rule in (*REQUEST_RULES, *EMF_RULES):
        assert rule.source.startswith("https://docs.aws.amazon.com/"), rule.name
        assert rule.says
    assert len({r.name for r in (*REQUEST_RULES, *EMF_RULES)}) == len(REQUEST_RULES) + len(
        EMF_RULES
    )
