"""Limits AWS documents that the botocore service models do not carry: one table, each rule
with the page that states it. A request (or an EMF document) that breaks one fails the test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["EMF_RULES", "FARGATE_TASK_SIZES", "REQUEST_RULES", "Rule"]

_SQS_SEND = (
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html"
)
_SQS_ATTRIBUTES = (
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
    "sqs-message-metadata.html"
)
_SNS_PUBLISH = "https://docs.aws.amazon.com/sns/latest/api/API_Publish.html"
_SNS_ATTRIBUTES = "https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html"
_ECS_RUN_TASK = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html"
_ECS_AWSVPC = (
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html"
)
_FARGATE_SIZES = (
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html"
)
_SFN_START = (
    "https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html"
)
_EVENTS_SIZE = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html"
_EVENTS_PUT = (
    "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html"
)
_LAMBDA_LIMITS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
_DDB_BATCH_GET = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html"
)
_CW_DIMENSION = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html"
)
_EMF_SPEC = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/"
    "CloudWatch_Embedded_Metric_Format_Specification.html"
)

Check = Callable[[dict[str, Any]], Iterator[str]]


@dataclass(frozen=True)
class Rule:
    name: str
    says: str
    source: str
    applies: frozenset[tuple[str, str]]  # (service, operation); empty for EMF rules
    check: Check


# -- SQS ------------------------------------------------------------------------------------

_FIFO_ID = re.compile(r"[!-~]{1,128}")
# The characters a message may hold (XML 1.0's): anything else is refused.
_SQS_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
SQS_MAX_MESSAGE_BYTES = 262_144  # a queue's default MaximumMessageSize; 1 MiB is the ceiling


def _sqs_messages(params: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if "Entries" in params:
        for index, entry in enumerate(params["Entries"]):
            yield f"Entries[{index}].", entry
    else:
        yield "", params


def _fifo_ids(params: dict[str, Any]) -> Iterator[str]:
    for where, message in _sqs_messages(params):
        for name in ("MessageGroupId", "MessageDeduplicationId"):
            value = message.get(name)
            if value is not None and not _FIFO_ID.fullmatch(str(value)):
                yield f"{where}{name} {value!r} is not 1-128 ASCII letters, digits, punctuation"


def _fifo_needs_group(params: dict[str, Any]) -> Iterator[str]:
    if str(params.get("QueueUrl", "")).endswith(".fifo"):
        for where, message in _sqs_messages(params):
            if not message.get("MessageGroupId"):
                yield f"{where}MessageGroupId is missing for a FIFO queue"


def _attribute_bytes(attributes: dict[str, Any]) -> int:
    size = 0
    for name, value in attributes.items():
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        size += len(str(value.get("StringValue", "")).encode())
        size += len(value.get("BinaryValue", b"") or b"")
    return size


def _at_most_ten(key: str) -> Check:
    def check(params: dict[str, Any]) -> Iterator[str]:
        for where, message in _sqs_messages(params):
            count = len(message.get(key) or {})
            if count > 10:
                yield f"{where}{key} has {count} attributes; at most 10"

    return check


_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")


def _attribute_names(params: dict[str, Any]) -> Iterator[str]:
    for where, message in _sqs_messages(params):
        for name in message.get("MessageAttributes") or {}:
            if (
                not _ATTRIBUTE_NAME.fullmatch(name)
                or name.lower().startswith(("aws.", "amazon."))
                or name.startswith(".")
                or name.endswith(".")
                or ".." in name
            ):
                yield f"{where}MessageAttributes name {name!r} is not allowed"


def _sqs_body(params: dict[str, Any]) -> Iterator[str]:
    for where, message in _sqs_messages(params):
        body = str(message.get("MessageBody", ""))
        size = len(body.encode("utf-8", "surrogatepass"))
        size += _attribute_bytes(message.get("MessageAttributes") or {})
        if size > SQS_MAX_MESSAGE_BYTES:
            limit = SQS_MAX_MESSAGE_BYTES
            yield f"{where}message is {size} bytes with its attributes; at most {limit}"
        bad = _SQS_CHARS.search(body)
        if bad:
            yield f"{where}MessageBody holds {bad.group()!r}, a character SQS refuses"


# -- SNS ------------------------------------------------------------------------------------

SNS_MAX_MESSAGE_BYTES = 262_144


def _sns_messages(params: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if "PublishBatchRequestEntries" in params:
        for index, entry in enumerate(params["PublishBatchRequestEntries"]):
            yield f"PublishBatchRequestEntries[{index}].", entry
    else:
        yield "", params


def _sns_size(params: dict[str, Any]) -> Iterator[str]:
    for where, message in _sns_messages(params):
        size = len(str(message.get("Message", "")).encode("utf-8", "surrogatepass"))
        size += _attribute_bytes(message.get("MessageAttributes") or {})
        if size > SNS_MAX_MESSAGE_BYTES:
            limit = SNS_MAX_MESSAGE_BYTES
            yield f"{where}message is {size} bytes with its attributes; at most {limit}"


def _sns_attributes(params: dict[str, Any]) -> Iterator[str]:
    for where, message in _sns_messages(params):
        count = len(message.get("MessageAttributes") or {})
        if count > 10:
            yield f"{where}MessageAttributes has {count} attributes; at most 10"


# -- ECS, Step Functions, EventBridge, Lambda, DynamoDB ----------------------------------

ECS_MAX_OVERRIDES = 8192


def _overrides(params: dict[str, Any]) -> Iterator[str]:
    if "overrides" in params:
        # Counted as botocore puts it on the wire; "JSON formatting characters" included.
        size = len(json.dumps(params["overrides"]))
        if size > ECS_MAX_OVERRIDES:
            yield f"overrides are {size} characters as JSON; at most {ECS_MAX_OVERRIDES}"


def _fargate_network(params: dict[str, Any]) -> Iterator[str]:
    if params.get("launchType") == "FARGATE":
        subnets = (
            params.get("networkConfiguration", {}).get("awsvpcConfiguration", {}).get("subnets")
        )
        if not subnets:
            yield "a FARGATE task needs networkConfiguration.awsvpcConfiguration.subnets"


# Fargate's task sizes, as AWS documents them: cpu -> the memory sizes (MiB) it takes.
FARGATE_TASK_SIZES: dict[int, set[int]] = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4096 + 1, 1024)),
    1024: set(range(2048, 8192 + 1, 1024)),
    2048: set(range(4096, 16384 + 1, 1024)),
    4096: set(range(8192, 30720 + 1, 1024)),
    8192: set(range(16384, 61440 + 1, 4096)),
    16384: set(range(32768, 122880 + 1, 8192)),
}


def _fargate_size(params: dict[str, Any]) -> Iterator[str]:
    overrides = params.get("overrides") or {}
    cpu, memory = overrides.get("cpu"), overrides.get("memory")
    fargate = params.get("launchType") == "FARGATE" and cpu is not None and memory is not None
    if fargate and int(memory) not in FARGATE_TASK_SIZES.get(int(cpu), set()):
        yield f"overrides.cpu {cpu} with overrides.memory {memory} is not a Fargate task size"
    for container in overrides.get("containerOverrides") or []:
        if memory is not None and int(container.get("memory", 0)) > int(memory):
            yield f"container memory {container['memory']} is above the task's {memory} MiB"


_SFN_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


def _execution_name(params: dict[str, Any]) -> Iterator[str]:
    name = params.get("name")
    if name is not None and not _SFN_NAME.fullmatch(str(name)):
        yield f"execution name {name!r} is not 1-80 of A-Z a-z 0-9 - _"


EVENT_MAX_BYTES = 262_144


def _event_entries(params: dict[str, Any]) -> Iterator[str]:
    for index, entry in enumerate(params.get("Entries", [])):
        size = sum(
            len(str(entry.get(k, "")).encode("utf-8", "surrogatepass"))
            for k in ("Source", "DetailType", "Detail")
        )
        size += sum(len(str(r).encode()) for r in entry.get("Resources", []))
        if "Time" in entry:
            size += 14
        if size > EVENT_MAX_BYTES:
            yield f"Entries[{index}] is {size} bytes; at most {EVENT_MAX_BYTES}"
        try:
            detail = json.loads(entry.get("Detail", "{}"))
        except ValueError:
            detail = None
        if not isinstance(detail, dict):
            yield f"Entries[{index}].Detail is not a JSON object"


LAMBDA_ASYNC_MAX_BYTES = 262_144


def _async_payload(params: dict[str, Any]) -> Iterator[str]:
    if params.get("InvocationType") == "Event":
        payload = params.get("Payload", b"")
        size = len(payload.encode() if isinstance(payload, str) else payload)
        if size > LAMBDA_ASYNC_MAX_BYTES:
            yield f"asynchronous payload is {size} bytes; at most {LAMBDA_ASYNC_MAX_BYTES}"


def _unique_keys(params: dict[str, Any]) -> Iterator[str]:
    for table, request in params.get("RequestItems", {}).items():
        keys = [json.dumps(k, sort_keys=True) for k in request.get("Keys", [])]
        if len(set(keys)) != len(keys):
            yield f"RequestItems[{table!r}].Keys repeats a key"


def _ops(service: str, *operations: str) -> frozenset[tuple[str, str]]:
    return frozenset((service, op) for op in operations)


REQUEST_RULES: list[Rule] = [
    Rule(
        "ecs-overrides-8192",
        "RunTask overrides: 8,192 characters in total, JSON formatting included",
        _ECS_RUN_TASK,
        _ops("ecs", "RunTask"),
        _overrides,
    ),
    Rule(
        "ecs-fargate-task-size",
        "Fargate runs only its documented cpu/memory pairs; a container fits in its task",
        _FARGATE_SIZES,
        _ops("ecs", "RunTask"),
        _fargate_size,
    ),
    Rule(
        "ecs-fargate-awsvpc",
        "Fargate tasks use awsvpc networking: RunTask needs subnets",
        _ECS_AWSVPC,
        _ops("ecs", "RunTask"),
        _fargate_network,
    ),
    Rule(
        "sqs-fifo-ids",
        "MessageGroupId and MessageDeduplicationId: 1-128 alphanumeric and punctuation characters",
        _SQS_SEND,
        _ops("sqs", "SendMessage", "SendMessageBatch"),
        _fifo_ids,
    ),
    Rule(
        "sqs-fifo-group-required",
        "a message to a FIFO queue needs a MessageGroupId",
        _SQS_SEND,
        _ops("sqs", "SendMessage", "SendMessageBatch"),
        _fifo_needs_group,
    ),
    Rule(
        "sqs-attributes-10",
        "at most 10 message attributes per SQS message",
        _SQS_ATTRIBUTES,
        _ops("sqs", "SendMessage", "SendMessageBatch"),
        _at_most_ten("MessageAttributes"),
    ),
    Rule(
        "sqs-attribute-names",
        "attribute names: 1-256 of A-Z a-z 0-9 _ - . (not AWS./Amazon., no '..', no '.' at an end)",
        _SQS_ATTRIBUTES,
        _ops("sqs", "SendMessage", "SendMessageBatch"),
        _attribute_names,
    ),
    Rule(
        "sqs-body",
        "SQS message: 256 KiB with its attributes (a queue's default maximum); XML characters only",
        _SQS_SEND,
        _ops("sqs", "SendMessage", "SendMessageBatch"),
        _sqs_body,
    ),
    Rule(
        "sns-attributes-10",
        "at most 10 message attributes (raw delivery to SQS refuses more)",
        _SNS_ATTRIBUTES,
        _ops("sns", "Publish", "PublishBatch"),
        _sns_attributes,
    ),
    Rule(
        "sns-body",
        "SNS message: 256 KB with its attributes",
        _SNS_PUBLISH,
        _ops("sns", "Publish", "PublishBatch"),
        _sns_size,
    ),
    Rule(
        "sfn-execution-name",
        "execution names: 1-80 characters; only A-Z a-z 0-9 - _ keep CloudWatch logging working",
        _SFN_START,
        _ops("stepfunctions", "StartExecution"),
        _execution_name,
    ),
    Rule(
        "events-entry",
        "PutEvents entry: 256 KB at most; Detail a JSON object",
        f"{_EVENTS_SIZE} {_EVENTS_PUT}",
        _ops("events", "PutEvents"),
        _event_entries,
    ),
    Rule(
        "lambda-async-payload",
        "asynchronous invocation payload: 256 KB",
        _LAMBDA_LIMITS,
        _ops("lambda", "Invoke"),
        _async_payload,
    ),
    Rule(
        "dynamodb-batch-get-unique",
        "BatchGetItem: no key twice",
        _DDB_BATCH_GET,
        _ops("dynamodb", "BatchGetItem"),
        _unique_keys,
    ),
]


# -- EMF documents (stdout, not an API call) ------------------------------------------------

_SIZES = ("", "Kilo", "Mega", "Giga", "Tera")
_UNITS = frozenset(
    [
        *("Seconds", "Microseconds", "Milliseconds", "Percent", "Count", "Count/Second", "None"),
        *(f"{p}{'b' if p else 'B'}ytes{rate}" for p in _SIZES for rate in ("", "/Second")),
        *(f"{p}{'b' if p else 'B'}its{rate}" for p in _SIZES for rate in ("", "/Second")),
    ]
)
EMF_MAX_BYTES = 262_144


def _dimension_values(record: dict[str, Any]) -> Iterator[str]:
    for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
        for dimension_set in directive.get("Dimensions", []):
            for name in dimension_set:
                value = record.get(name)
                if not isinstance(value, str):
                    yield f"dimension {name} is {value!r}, not a string"
                elif not (1 <= len(value) <= 1024 and value.isascii() and value.strip()):
                    yield f"dimension {name} value {value!r} is not 1-1024 ASCII characters"
                if not (name.isascii() and 1 <= len(name) <= 255 and not name.startswith(":")):
                    yield f"dimension name {name!r} is not 1-255 ASCII characters"


def _emf_document(record: dict[str, Any]) -> Iterator[str]:
    meta = record.get("_aws", {})
    if not isinstance(meta.get("Timestamp"), int):
        yield f"_aws.Timestamp {meta.get('Timestamp')!r} is not integer milliseconds"
    size = len(json.dumps(record, separators=(",", ":"), default=str).encode())
    if size > EMF_MAX_BYTES:
        yield f"document is {size} bytes; at most {EMF_MAX_BYTES}"
    for directive in meta.get("CloudWatchMetrics", []):
        namespace = directive.get("Namespace", "")
        if not (1 <= len(namespace) <= 255 and namespace.isascii()):
            yield f"Namespace {namespace!r} is not 1-255 ASCII characters"
        for dimension_set in directive.get("Dimensions", []):
            if len(dimension_set) > 30:
                yield f"a DimensionSet has {len(dimension_set)} dimensions; at most 30"
        metrics = directive.get("Metrics", [])
        if len(metrics) > 100:
            yield f"{len(metrics)} metrics in one directive; at most 100"
        for metric in metrics:
            name, unit = metric.get("Name", ""), metric.get("Unit", "None")
            if not (1 <= len(name) <= 255):
                yield f"metric name {name!r} is not 1-255 characters"
            if unit not in _UNITS:
                yield f"metric {name} has unit {unit!r}, not a CloudWatch unit"
            value = record.get(name)
            values = value if isinstance(value, list) else [value]
            if len(values) > 100:
                yield f"metric {name} has {len(values)} values; at most 100"
            for item in values:
                if not isinstance(item, int | float) or isinstance(item, bool) or item != item:
                    yield f"metric {name} value {item!r} is not a number"


EMF_RULES: list[Rule] = [
    Rule(
        "cloudwatch-dimension-ascii",
        "dimension values: 1-1,024 ASCII characters, at least one not whitespace",
        _CW_DIMENSION,
        frozenset(),
        _dimension_values,
    ),
    Rule(
        "emf-document",
        "EMF: integer ms timestamp, at most 30 dimensions per set, 100 metrics per directive "
        "and 100 values per metric, CloudWatch units, 256 KB per document",
        _EMF_SPEC,
        frozenset(),
        _emf_document,
    ),
]
