"""AWS replies moto never gives, in the exact wire shape each service uses.

Each builder returns the keyword arguments of `FaultProxy.inject` (status, body, headers), so
`proxy.inject(call("dynamodb", "PutItem"), **dynamodb_error("TransactionConflictException",
...))` makes botocore parse exactly what it would parse from AWS. The shapes:

- JSON 1.0 services (DynamoDB, Step Functions, SQS, EventBridge, ECS): HTTP 400 (500 for
  server faults), `{"__type": "<namespace>#<Code>", "message": "..."}`. SQS adds the
  `x-amzn-query-error: <Code>;Sender` header it keeps for clients of its older query API.
- REST-JSON (Lambda): the code in the `x-amzn-ErrorType` header, details in the body.
- Query (SNS): an XML `ErrorResponse` with Type, Code and Message.
- Partial failures inside a 200: EventBridge PutEvents entries, ECS RunTask `failures`,
  SQS batch `Failed` entries.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from xml.sax.saxutils import escape

__all__ = [
    "dynamodb_error",
    "ecs_run_task_failures",
    "eventbridge_partial_failure",
    "json_error",
    "lambda_error",
    "sfn_error",
    "sns_error",
    "sqs_batch_failures",
    "sqs_error",
]

_JSON10 = "application/x-amz-json-1.0"
_JSON11 = "application/x-amz-json-1.1"


def json_error(
    namespace: str,
    code: str,
    message: str,
    *,
    status: int = 400,
    content_type: str = _JSON10,
    headers: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    body = {"__type": f"{namespace}#{code}" if namespace else code, "message": message}
    return {
        "status": status,
        "body": json.dumps(body),
        "headers": [("Content-Type", content_type), *headers],
    }


def dynamodb_error(code: str, message: str, *, status: int = 400) -> dict[str, Any]:
    """ProvisionedThroughputExceededException, ThrottlingException, TransactionConflictException,
    ContinuousBackupsUnavailableException, ..."""
    return json_error("com.amazonaws.dynamodb.v20120810", code, message, status=status)


def sfn_error(code: str, message: str, *, status: int = 400) -> dict[str, Any]:
    """Step Functions keeps the namespace of the service it grew from."""
    return json_error("com.amazonaws.swf.service.v2.model", code, message, status=status)


def sqs_error(code: str, message: str, *, status: int = 400) -> dict[str, Any]:
    fault = "Sender" if status < 500 else "Receiver"
    return json_error(
        "com.amazonaws.sqs",
        code,
        message,
        status=status,
        headers=(("x-amzn-query-error", f"{code};{fault}"),),
    )


def lambda_error(code: str, status: int, **fields: Any) -> dict[str, Any]:
    """TooManyRequestsException: 429, `{"Reason": ..., "Type": "User", "message": ...}`."""
    return {
        "status": status,
        "body": json.dumps(fields),
        "headers": [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)],
    }


def sns_error(
    code: str, message: str, *, status: int = 400, fault: str = "Sender"
) -> dict[str, Any]:
    body = (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        f"<Error><Type>{fault}</Type><Code>{escape(code)}</Code>"
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return {"status": status, "body": body, "headers": [("Content-Type", "text/xml")]}


def _ok(document: dict[str, Any], content_type: str) -> dict[str, Any]:
    return {
        "status": 200,
        "body": json.dumps(document),
        "headers": [("Content-Type", content_type)],
    }


def eventbridge_partial_failure(code: str, message: str) -> dict[str, Any]:
    """PutEvents of one entry that EventBridge refused: 200, FailedEntryCount 1."""
    entry = {"ErrorCode": code, "ErrorMessage": message}
    return _ok({"FailedEntryCount": 1, "Entries": [entry]}, _JSON11)


def ecs_run_task_failures(*reasons: str) -> dict[str, Any]:
    """RunTask that placed no task: 200 with `failures` (RESOURCE:MEMORY, MISSING, ...)."""
    failures = [
        {
            "arn": f"arn:aws:ecs:us-east-1:123456789012:container-instance/{uuid.uuid4()}",
            "reason": r,
        }
        for r in reasons
    ]
    return _ok({"tasks": [], "failures": failures}, _JSON11)


def sqs_batch_failures(entries: list[tuple[str, str, str]]) -> dict[str, Any]:
    """A *Batch call whose entries (id, code, message) SQS refused: 200, `Failed` entries."""
    failed = [{"Id": i, "SenderFault": True, "Code": c, "Message": m} for i, c, m in entries]
    return _ok({"Successful": [], "Failed": failed}, _JSON10)
