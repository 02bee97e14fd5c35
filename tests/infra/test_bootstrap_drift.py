"""`remediator bootstrap` creates the queues Terraform declares: every attribute, not only names.

Terraform's side is read from infra/terraform (arguments, or the provider's defaults where
none is set); bootstrap's is what a moto server holds after `remediator bootstrap` ran.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from remediator.stack.provision import Resources, bootstrap, names_for
from remediator.stack.rules import EVENT_PATTERNS, rule_name
from tests.conftest import drain, new_id
from tests.infra.terraform import Terraform

# aws_sqs_queue argument -> (SQS attribute, the provider's default when not set).
ARGUMENTS = {
    "visibility_timeout_seconds": ("VisibilityTimeout", 30),
    "receive_wait_time_seconds": ("ReceiveMessageWaitTimeSeconds", 0),
    "message_retention_seconds": ("MessageRetentionPeriod", 345_600),
    "delay_seconds": ("DelaySeconds", 0),
}
# Terraform resource -> the field of provision.Names it is.
QUEUES = {
    "signals": "queue",
    "signals_dlq": "dlq",
    "alerts": "alerts",
    "alerts_dlq": "alerts_dlq",
}


def _match(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found, f"{pattern} not in {text}"
    return found.group(1)


def _queue_refs(text: str) -> list[str]:
    return [QUEUES[name] for name in re.findall(r"aws_sqs_queue\.(\w+)\.arn", text)]


def terraform_side(tf: Terraform) -> dict[str, dict[str, Any]]:
    queues = tf.resolve(tf.resources("aws_sqs_queue"))
    policies = {
        re.search(r"aws_sqs_queue\.(\w+)\.", b["queue_url"]).group(1): b  # type: ignore[union-attr]
        for b in tf.resources("aws_sqs_queue_policy").values()
    }
    allows = {
        re.search(r"aws_sqs_queue\.(\w+)\.", b["queue_url"]).group(1): b  # type: ignore[union-attr]
        for b in tf.resources("aws_sqs_queue_redrive_allow_policy").values()
    }
    found: dict[str, dict[str, Any]] = {}
    for name, body in queues.items():
        attrs: dict[str, Any] = {
            attribute: int(body.get(argument, default))
            for argument, (attribute, default) in ARGUMENTS.items()
        }
        # Terraform encrypts with the stack's key, bootstrap with SQS's own (it makes no key):
        # what must agree is that every queue is encrypted at rest.
        attrs["encrypted"] = bool(
            body.get("kms_master_key_id") or body.get("sqs_managed_sse_enabled")
        )
        # jsonencode() of another queue's ARN is only known to a plan: read it as written.
        redrive = str(body.get("redrive_policy", ""))
        if redrive:
            count = _match(r"maxReceiveCount\s*=\s*([\w.]+)", redrive)
            attrs["redrive"] = (_queue_refs(redrive)[0], int(tf.evaluate(count)))
        if name in allows:
            allow = str(allows[name]["redrive_allow_policy"])
            permission = _match(r'redrivePermission\s*=\s*"(\w+)"', allow)
            attrs["redrive_allow"] = (permission, _queue_refs(allow))
        if name in policies:
            document = re.search(r"iam_policy_document\.(\w+)\.json", policies[name]["policy"])
            assert document
            bodies = tf.data("aws_iam_policy_document", document.group(1))["statement"]
            attrs["policy"] = [
                (
                    s.actions,
                    body["principals"][0]["identifiers"][0],
                    [(c["test"], c["variable"]) for c in s.conditions],
                )
                for s, body in zip(tf.statements(document.group(1)), bodies, strict=True)
            ]
        found[QUEUES[name]] = attrs
    return found


def bootstrap_side(
    clients: Any, resources: Resources, table: str, sent: dict[str, dict[str, str]]
) -> dict[str, dict[str, Any]]:
    """The queues' attributes as the server holds them; `sent` (queue URL -> attributes
    bootstrap set) fills in RedriveAllowPolicy, which moto accepts but does not keep."""
    sqs = clients.client("sqs")
    names = names_for(table)
    found: dict[str, dict[str, Any]] = {}
    by_arn: dict[str, str] = {}
    raw: dict[str, dict[str, str]] = {}
    for field in QUEUES.values():
        url = sqs.get_queue_url(QueueName=getattr(names, field))["QueueUrl"]
        raw[field] = {
            **{k: v for k, v in sent.get(url, {}).items() if k == "RedriveAllowPolicy"},
            **sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"],
        }
        by_arn[raw[field]["QueueArn"]] = field
    for field, attributes in raw.items():
        attrs: dict[str, Any] = {a: int(attributes[a]) for a, _ in ARGUMENTS.values()}
        attrs["encrypted"] = attributes.get("SqsManagedSseEnabled") == "true" or bool(
            attributes.get("KmsMasterKeyId")
        )
        if attributes.get("RedrivePolicy"):
            redrive = json.loads(attributes["RedrivePolicy"])
            attrs["redrive"] = (
                by_arn[redrive["deadLetterTargetArn"]],
                int(redrive["maxReceiveCount"]),
            )
        if attributes.get("RedriveAllowPolicy"):
            allow = json.loads(attributes["RedriveAllowPolicy"])
            attrs["redrive_allow"] = (
                allow["redrivePermission"],
                [by_arn[a] for a in allow["sourceQueueArns"]],
            )
        if attributes.get("Policy"):
            statements = json.loads(attributes["Policy"])["Statement"]
            attrs["policy"] = [
                (
                    tuple([s["Action"]] if isinstance(s["Action"], str) else s["Action"]),
                    s["Principal"]["Service"],
                    [
                        (test, variable)
                        for test, pairs in s["Condition"].items()
                        for variable in pairs
                    ],
                )
                for s in statements
            ]
            for s in statements:
                assert s["Resource"] == attributes["QueueArn"]
                # The topic sends signals; the state-change rules, AWS's events.
                sources = s["Condition"]["ArnEquals"]["aws:SourceArn"]
                if s["Principal"]["Service"] == "sns.amazonaws.com":
                    assert sources == resources.topic_arn
                else:
                    assert sources == [
                        f"arn:aws:events:us-east-1:123456789012:rule/{rule_name(table, kind)}"
                        for kind in EVENT_PATTERNS
                    ]
        found[field] = attrs
    return found


@pytest.mark.integration
def test_bootstrap_creates_every_queue_attribute_as_terraform_declares(clients: Any):
    table = f"drift-{new_id()}"
    sent: dict[str, dict[str, str]] = {}

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.setdefault(params["QueueUrl"], {}).update(params["Attributes"])

    sqs = clients.client("sqs")
    sqs.meta.events.register("before-parameter-build.sqs.SetQueueAttributes", record)
    try:
        resources = bootstrap(clients, table)
    finally:
        sqs.meta.events.unregister("before-parameter-build.sqs.SetQueueAttributes", record)
    expected = terraform_side(Terraform.load())
    assert bootstrap_side(clients, resources, table, sent) == expected


@pytest.mark.integration
def test_bootstrap_puts_the_state_change_rules_terraform_declares(clients: Any):
    """Each rule's pattern as events.tf encodes it, enabled, with one target: the signal
    queue; moto matches AWS's own events against them (TestEventPattern) as AWS would."""
    table = f"drift-{new_id()}"
    resources = bootstrap(clients, table)
    bootstrap(clients, table)  # again: nothing changes, nothing doubles
    tf = Terraform.load()
    declared = {k: json.loads(v) for k, v in tf.resolve(tf.locals["state_change_patterns"]).items()}
    events = clients.client("events")
    found = {}
    for kind in declared:
        rule = events.describe_rule(Name=rule_name(table, kind))
        assert rule["State"] == "ENABLED"
        found[kind] = json.loads(rule["EventPattern"])
        [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert target["Arn"] == resources.queue_arn
    assert found == declared
    # What reaches the queue: moto lets a caller put events as aws.ecs (AWS refuses any
    # source starting with "aws."); here they stand for ECS's own, delivered by the rule.
    sqs = clients.client("sqs")
    sent = [
        {"lastStatus": "STOPPED", "startedBy": "remediator-2", "taskArn": "ours"},
        {"lastStatus": "RUNNING", "startedBy": "remediator-2", "taskArn": "running"},
        {"lastStatus": "STOPPED", "startedBy": "ecs-svc/123", "taskArn": "theirs"},
    ]
    events.put_events(
        Entries=[
            {"Source": "aws.ecs", "DetailType": "ECS Task State Change", "Detail": json.dumps(d)}
            for d in sent
        ]
    )
    bodies = [json.loads(m["Body"]) for m in drain(sqs, resources.queue_url)]
    assert [b["detail"]["taskArn"] for b in bodies] == ["ours"]
    assert bodies[0]["detail-type"] == "ECS Task State Change"


def test_the_alerts_queue_expires_before_its_dead_letter_queue():
    """SQS ages a dead-lettered message from its first enqueue (issue 22)."""
    expected = terraform_side(Terraform.load())
    for queue, dlq in (("queue", "dlq"), ("alerts", "alerts_dlq")):
        assert expected[queue]["MessageRetentionPeriod"] < expected[dlq]["MessageRetentionPeriod"]
