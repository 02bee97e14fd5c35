"""Creates (or checks) what the code expects: table with GSI and TTL, topic, queues,
subscription, and the EventBridge rules of AWS's state changes (remediator.stack.rules).

Idempotent: every step first looks, then creates only what is missing. Terraform does the
same in production (infra/terraform); a drift test keeps the two in agreement.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from observability.models.keys import (
    DUE_AT,
    DUE_INDEX,
    DUE_INDEX_PROJECTION,
    DUE_PK,
    LAYOUT_VERSION,
    TTL_ATTRIBUTE,
    meta_key,
)
from observability.models.signals import ALERT_EVENTS, FAILED
from remediator.errors import ProvisionError
from remediator.stack.rules import ensure_rules, events_statement

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = [
    "ALERT_FILTER",
    "DLQ_MAX_RECEIVE_COUNT",
    "PITR_WAIT_SECONDS",
    "SIGNAL_FILTER",
    "Resources",
    "bootstrap",
    "names_for",
    "table_definition",
]

DLQ_MAX_RECEIVE_COUNT = 5
# The remediator hears failures; people hear exhausted and non-retryable batches.
SIGNAL_FILTER = {"event": [FAILED]}
ALERT_FILTER = {"event": list(ALERT_EVENTS)}
SIGNAL_VISIBILITY_SECONDS = 120
DEFAULT_SHARDS = 8
ALERTS_VISIBILITY_SECONDS = 360
SIGNAL_WAIT_SECONDS = 20
# A dead-lettered message keeps its first enqueue time: a DLQ keeps messages longer than its
# source queue, or what is dead-lettered late expires on arrival.
QUEUE_RETENTION_SECONDS = 4 * 86_400
DLQ_RETENTION_SECONDS = 14 * 86_400  # SQS's maximum
# A new table's backups take a while to be available: how long bootstrap waits for them.
PITR_WAIT_SECONDS = 300.0
_PITR_MAX_DELAY = 20.0


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments: on-demand, the sparse due-index GSI, encryption at rest."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", DUE_PK, DUE_AT)
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": DUE_INDEX,
                "KeySchema": [
                    {"AttributeName": DUE_PK, "KeyType": "HASH"},
                    {"AttributeName": DUE_AT, "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": list(DUE_INDEX_PROJECTION),
                },
            }
        ],
        "SSESpecification": {"Enabled": True},
    }


@dataclass(frozen=True, slots=True)
class Names:
    table: str
    topic: str
    queue: str
    dlq: str
    alerts: str
    alerts_dlq: str


def names_for(table_name: str, prefix: str | None = None) -> Names:
    base = prefix or table_name
    return Names(
        table=table_name,
        topic=f"{base}-signals",
        queue=f"{base}-remediator",
        dlq=f"{base}-remediator-dlq",
        alerts=f"{base}-alerts",
        alerts_dlq=f"{base}-alerts-dlq",
    )


@dataclass(frozen=True, slots=True)
class Resources:
    table_name: str
    topic_arn: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    alerts_queue_url: str
    alerts_dlq_url: str
    subscription_arn: str
    alerts_subscription_arn: str

    def exports(self, endpoint_url: str | None = None, region: str | None = None) -> list[str]:
        lines = [
            f"export REMEDIATOR_TABLE_NAME={self.table_name}",
            f"export REMEDIATOR_TOPIC_ARN={self.topic_arn}",
            f"export REMEDIATOR_QUEUE_URL={self.queue_url}",
        ]
        if region:
            lines.append(f"export AWS_REGION={region}")
        if endpoint_url:
            lines.append(f"export AWS_ENDPOINT_URL={endpoint_url}")
        return lines

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _ensure_table(ddb: Any, table_name: str, sleep: Callable[[float], None]) -> None:
    try:
        ddb.create_table(**table_definition(table_name))
    except ClientError as exc:
        if _code(exc) != "ResourceInUseException":
            raise
    ddb.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    described = ddb.describe_table(TableName=table_name)["Table"]
    indexes = {g["IndexName"]: g for g in described.get("GlobalSecondaryIndexes", [])}
    if DUE_INDEX not in indexes:
        raise ProvisionError(
            f"table {table_name!r} exists without the {DUE_INDEX!r} GSI; "
            "it was not created by this project: choose another REMEDIATOR_TABLE_NAME"
        )
    if indexes[DUE_INDEX].get("Projection", {}).get("ProjectionType") == "ALL":
        raise ProvisionError(
            f"table {table_name!r} was written in layout 1 (an item per event, {DUE_INDEX} "
            f"projecting ALL); this version writes layout {LAYOUT_VERSION}: bootstrap a new "
            "REMEDIATOR_TABLE_NAME and let the old table's items expire"
        )
    ttl = ddb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        ddb.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    backups = ddb.describe_continuous_backups(TableName=table_name)["ContinuousBackupsDescription"]
    pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    if pitr != "ENABLED":
        _enable_pitr(ddb, table_name, sleep)


def _enable_pitr(ddb: Any, table_name: str, sleep: Callable[[float], None]) -> None:
    """UpdateContinuousBackups, waiting (bounded) while a new table's backups are not ready:
    DynamoDB refuses it with ContinuousBackupsUnavailableException for a while after
    CreateTable, and botocore does not retry that code."""
    waited, delay = 0.0, 1.0
    while True:
        try:
            ddb.update_continuous_backups(
                TableName=table_name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
            return
        except ClientError as exc:
            if _code(exc) != "ContinuousBackupsUnavailableException":
                raise
            if waited >= PITR_WAIT_SECONDS:
                raise ProvisionError(
                    f"point-in-time recovery of table {table_name!r} could not be enabled: its "
                    f"backups were still unavailable after {waited:.0f} s; run bootstrap "
                    "again in a few minutes (it keeps what is already created)"
                ) from exc
        sleep(delay)
        waited += delay
        delay = min(delay * 2, _PITR_MAX_DELAY)


def _declare_layout(ddb: Any, table_name: str, shards: int | None) -> None:
    """Write the table's own record once: what every process must agree on. A table that
    has one keeps it; asking for another shard count is refused, naming both."""
    pk, sk = meta_key()
    try:
        ddb.put_item(
            TableName=table_name,
            Item={
                "pk": {"S": pk},
                "sk": {"S": sk},
                "layout": {"N": str(LAYOUT_VERSION)},
                "shards": {"N": str(shards or DEFAULT_SHARDS)},
            },
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if _code(exc) != "ConditionalCheckFailedException":
            raise
        old: Any = exc.response.get("Item") or {}
        kept = old.get("shards", {}).get("N")
        if shards is not None and kept is not None and int(kept) != shards:
            raise ProvisionError(
                f"table {table_name!r} declares {kept} retry shards; REMEDIATOR_RETRY_SHARDS "
                f"asks for {shards}: unset it, or bootstrap a new table"
            ) from None


def _queue(sqs: Any, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as exc:
        if _code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def _dlq_of(sqs: Any, dlq_url: str, source_arn: str) -> None:
    """Only its own source queue may dead-letter into a DLQ (as Terraform's redrive allow)."""
    allow = {"redrivePermission": "byQueue", "sourceQueueArns": [source_arn]}
    sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"RedriveAllowPolicy": json.dumps(allow)})


def _allow_topic(
    sqs: Any, queue_url: str, queue_arn: str, topic_arn: str, *also: dict[str, Any]
) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowTopic",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            },
            *also,
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})


def _subscribe(sns: Any, topic_arn: str, queue_arn: str, filter_policy: dict[str, Any]) -> str:
    attributes = {"RawMessageDelivery": "true", "FilterPolicy": json.dumps(filter_policy)}
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for sub in page.get("Subscriptions", []):
            if sub.get("Endpoint") == queue_arn and sub.get("Protocol") == "sqs":
                arn = str(sub["SubscriptionArn"])
                for name, value in attributes.items():
                    sns.set_subscription_attributes(
                        SubscriptionArn=arn, AttributeName=name, AttributeValue=value
                    )
                return arn
    reply = sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )
    return str(reply["SubscriptionArn"])


def bootstrap(
    clients: AwsClients,
    table_name: str,
    *,
    prefix: str | None = None,
    shards: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Resources:
    """Create what is missing and return every identifier the settings need.

    `sleep` paces the (bounded) wait for a new table's point-in-time recovery.
    """
    names = names_for(table_name, prefix)
    ddb, sns, sqs = clients.client("dynamodb"), clients.client("sns"), clients.client("sqs")
    try:
        _ensure_table(ddb, names.table, sleep)
        _declare_layout(ddb, names.table, shards)
        topic_arn = sns.create_topic(Name=names.topic)["TopicArn"]
        dlq_attributes = {
            "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
            "SqsManagedSseEnabled": "true",
        }
        dlq_url, dlq_arn = _queue(sqs, names.dlq, dlq_attributes)
        queue_url, queue_arn = _queue(
            sqs,
            names.queue,
            {
                "VisibilityTimeout": str(SIGNAL_VISIBILITY_SECONDS),
                "ReceiveMessageWaitTimeSeconds": str(SIGNAL_WAIT_SECONDS),
                "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
                "SqsManagedSseEnabled": "true",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": DLQ_MAX_RECEIVE_COUNT}
                ),
            },
        )
        alerts_dlq_url, alerts_dlq_arn = _queue(sqs, names.alerts_dlq, dlq_attributes)
        alerts_url, alerts_arn = _queue(
            sqs,
            names.alerts,
            {
                # Six times the alert router's worst case, as Lambda event sources want.
                "VisibilityTimeout": str(ALERTS_VISIBILITY_SECONDS),
                "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
                "SqsManagedSseEnabled": "true",
                "RedrivePolicy": json.dumps(
                    {
                        "deadLetterTargetArn": alerts_dlq_arn,
                        "maxReceiveCount": DLQ_MAX_RECEIVE_COUNT,
                    }
                ),
            },
        )
        _dlq_of(sqs, dlq_url, queue_arn)
        _dlq_of(sqs, alerts_dlq_url, alerts_arn)
        # AWS's state changes (ECS, Batch, Glue, Step Functions) reach the same queue.
        rule_arns = ensure_rules(clients.client("events"), prefix or table_name, queue_arn)
        _allow_topic(sqs, queue_url, queue_arn, topic_arn, events_statement(queue_arn, rule_arns))
        _allow_topic(sqs, alerts_url, alerts_arn, topic_arn)
        subscription = _subscribe(sns, topic_arn, queue_arn, SIGNAL_FILTER)
        alerts_subscription = _subscribe(sns, topic_arn, alerts_arn, ALERT_FILTER)
    except (ClientError, BotoCoreError) as exc:
        raise ProvisionError(f"bootstrap failed: {exc}") from exc
    return Resources(
        table_name=names.table,
        topic_arn=topic_arn,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        alerts_queue_url=alerts_url,
        alerts_dlq_url=alerts_dlq_url,
        subscription_arn=subscription,
        alerts_subscription_arn=alerts_subscription,
    )
