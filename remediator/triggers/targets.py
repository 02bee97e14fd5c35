"""One sender per AWS target: each passes the batch's identity along and, where the target
supports it, a deterministic idempotency key (a FIFO deduplication id, an ECS clientToken, a
Step Functions execution name), so a repeat of the same attempt is a no-op at the target."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

from botocore.exceptions import ClientError

from observability.clients import AwsClients
from observability.models.traceids import TRACEPARENT
from observability.triggers import (
    MAX_ECS_OVERRIDES_CHARS,
    EcsTaskTrigger,
    EventBridgeTrigger,
    LambdaTrigger,
    SqsTrigger,
    StepFunctionsTrigger,
    ecs_environment,
    ecs_overrides,
    overrides_chars,
)
from observability.triggers.sizes import sized_overrides
from remediator.errors import TriggerRejected
from remediator.triggers.context import TriggerContext

__all__ = [
    "RunTaskFailed",
    "error_code",
    "execution_name",
    "send_ecs",
    "send_eventbridge",
    "send_lambda",
    "send_sqs",
    "send_stepfunctions",
]

# RunTask `failures` that a later try can get past (no capacity now), by reason prefix or text.
_RUN_TASK_TRANSIENT = ("RESOURCE:", "AGENT")
_RUN_TASK_TRANSIENT_TEXT = ("capacity", "try again", "throttl", "limit on the number of tasks")


class RunTaskFailed(Exception):
    """RunTask answered 200 but placed no task: its `failures` (reason, detail)."""

    def __init__(self, failures: list[dict[str, Any]]) -> None:
        self.reasons = [str(f.get("reason", "")) for f in failures]
        details = "; ".join(
            f"{f.get('reason', '?')} {f.get('detail', '')}".strip() for f in failures
        )
        super().__init__(f"RunTask placed no task: {details or 'no reason given'}")

    @property
    def transient(self) -> bool:
        return bool(self.reasons) and all(
            r.startswith(_RUN_TASK_TRANSIENT)
            or any(text in r.lower() for text in _RUN_TASK_TRANSIENT_TEXT)
            for r in self.reasons
        )


def _short(text: str, limit: int, allowed: str) -> str:
    """`text` reduced to the allowed characters and length, still unique per input."""
    clean = re.sub(f"[^{allowed}]", "-", text)
    if clean == text and len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{clean[: limit - 17]}-{digest}"


_NAME_LIMIT = 80
_NAME_DIGEST = 20  # hex digits: 80 bits


def _readable(text: str) -> str:
    """ASCII letters, digits, '-' and '_' only; accents dropped (é -> e), the rest '-'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9_-]", "-", ascii_text)).strip("-")


def execution_name(ctx: TriggerContext) -> str:
    """Step Functions execution name: <= 80 of [A-Za-z0-9_-], the same for the same attempt.

    Unique per (job, batch, attempt, lifetime of the batch's item): the name always ends with
    a hash of all four, so no two batches share one however their ids split, and a batch
    that starts over after its item expired does not meet the names of its past (Step
    Functions keeps them 90 days). A readable prefix of the ids comes first.
    """
    parts = [ctx.key.job_id, ctx.key.batch_id, ctx.attempt, ctx.incarnation or ctx.trace_id or ""]
    canonical = json.dumps(parts, ensure_ascii=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:_NAME_DIGEST]
    tail = f"-{ctx.attempt}-{digest}"
    head = _readable(f"{ctx.key.job_id}-{ctx.key.batch_id}")[: _NAME_LIMIT - len(tail)]
    return f"{head.rstrip('-') or 'batch'}{tail}"


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def send_sqs(clients: AwsClients, spec: SqsTrigger, ctx: TriggerContext) -> str:
    attributes = {
        "job_id": {"DataType": "String", "StringValue": ctx.key.job_id},
        "batch_id": {"DataType": "String", "StringValue": ctx.key.batch_id},
        "attempt": {"DataType": "Number", "StringValue": str(ctx.attempt)},
        "trace_id": {"DataType": "String", "StringValue": ctx.trace_id or "-"},
        "reason": {"DataType": "String", "StringValue": ctx.reason},
    }
    if ctx.traceparent:
        attributes[TRACEPARENT] = {"DataType": "String", "StringValue": ctx.traceparent}
    kwargs: dict[str, Any] = {
        "QueueUrl": spec.queue_url,
        "MessageBody": json.dumps(spec.body, separators=(",", ":")),
        "MessageAttributes": attributes,
    }
    if spec.queue_url.endswith(".fifo"):
        kwargs["MessageGroupId"] = spec.message_group_id
        kwargs["MessageDeduplicationId"] = _short(ctx.idempotency_key, 128, "!-~")
    return str(clients.client("sqs").send_message(**kwargs)["MessageId"])


def send_lambda(clients: AwsClients, spec: LambdaTrigger, ctx: TriggerContext) -> str:
    payload = {"payload": spec.payload, **ctx.fields()}
    reply = clients.client("lambda").invoke(
        FunctionName=spec.function_name,
        InvocationType="Event",
        Payload=json.dumps(payload).encode(),
    )
    return str(reply.get("ResponseMetadata", {}).get("RequestId", ""))


def _execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of execution `name` of a state machine (or of its version or alias)."""
    parts = state_machine_arn.split(":")
    return ":".join([*parts[:5], "execution", parts[6], name])


def _same_run(existing: str | None, document: str) -> bool:
    """Was the existing execution started by a trigger of this very run? `reason` aside (a
    replay and a retry of the same attempt run the same thing), the inputs must agree."""
    try:
        theirs = json.loads(existing or "")
    except ValueError:
        return False
    ours = json.loads(document)
    if not isinstance(theirs, dict):
        return False
    theirs.pop("reason", None)
    ours.pop("reason", None)
    return bool(theirs == ours)


def send_stepfunctions(clients: AwsClients, spec: StepFunctionsTrigger, ctx: TriggerContext) -> str:
    sfn = clients.client("stepfunctions")
    name = execution_name(ctx)
    document = json.dumps({"input": spec.input, **ctx.fields()})
    try:
        return str(
            sfn.start_execution(stateMachineArn=spec.state_machine_arn, name=name, input=document)[
                "executionArn"
            ]
        )
    except ClientError as exc:
        if error_code(exc) != "ExecutionAlreadyExists":
            raise
    # The name is taken: by this attempt sent before (a replica died before recording it,
    # or the execution already ended), or by something else entirely. Only the first is ours.
    arn = _execution_arn(spec.state_machine_arn, name)
    existing = sfn.describe_execution(executionArn=arn)
    if _same_run(existing.get("input"), document):
        return arn
    raise TriggerRejected(
        f"execution name {name!r} of {spec.state_machine_arn} is taken by an execution "
        "with another input: it was not started by this attempt"
    )


def send_eventbridge(clients: AwsClients, spec: EventBridgeTrigger, ctx: TriggerContext) -> str:
    reply = clients.client("events").put_events(
        Entries=[
            {
                "Source": spec.source,
                "DetailType": spec.detail_type,
                "Detail": json.dumps({"detail": spec.detail, **ctx.fields()}),
                "EventBusName": spec.event_bus_name,
            }
        ]
    )
    entry = (reply.get("Entries") or [{}])[0]
    if reply.get("FailedEntryCount") or "EventId" not in entry:
        # A 200 whose entry was refused: judged by the entry's code, like any other error.
        code = entry.get("ErrorCode", "Unknown")
        raise ClientError(
            {"Error": {"Code": code, "Message": entry.get("ErrorMessage", "")}}, "PutEvents"
        )
    return str(entry["EventId"])


def send_ecs(clients: AwsClients, spec: EcsTaskTrigger, ctx: TriggerContext) -> str:
    environment = ecs_environment(spec, ctx.fields(), ctx.trace_id, ctx.traceparent)
    overrides = ecs_overrides(spec, environment)
    if ctx.task_size is not None:
        overrides = sized_overrides(overrides, *ctx.task_size)
    size = overrides_chars(overrides)
    if size > MAX_ECS_OVERRIDES_CHARS:  # checked when built, with room for any batch fields
        raise TriggerRejected(
            f"RunTask overrides are {size} characters; the limit is {MAX_ECS_OVERRIDES_CHARS}"
        )
    kwargs: dict[str, Any] = {
        "cluster": spec.cluster,
        "taskDefinition": spec.task_definition,
        "launchType": spec.launch_type,
        "overrides": overrides,
        "startedBy": _short(f"remediator-{ctx.attempt}", 36, "A-Za-z0-9_-"),
        "clientToken": _short(ctx.idempotency_key, 64, "!-~"),
    }
    if spec.subnets:
        kwargs["networkConfiguration"] = {
            "awsvpcConfiguration": {
                "subnets": spec.subnets,
                "securityGroups": spec.security_groups,
                "assignPublicIp": "ENABLED" if spec.assign_public_ip else "DISABLED",
            }
        }
    reply = clients.client("ecs").run_task(**kwargs)
    if not reply.get("tasks"):
        raise RunTaskFailed(list(reply.get("failures") or []))
    return str(reply["tasks"][0]["taskArn"])
