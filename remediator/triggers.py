"""Fires the trigger stored with a batch, so that exactly that batch runs again.

Each kind passes the batch's identity along (job_id, batch_id, attempt, trace_id) and, where
the target supports it, a deterministic idempotency key `job#batch#attempt`: a Step Functions
execution name, a FIFO deduplication id, an ECS clientToken. A repeat of the same attempt is
then a no-op at the target.

Retries happen here and only here: the clients used for triggers have botocore's retries
turned off, and tenacity retries transient errors, bounded in attempts and total time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from observability import tracing
from observability.clients import AwsClients
from observability.errors import InvalidInput
from observability.keys import BatchKey
from observability.traceids import TRACEPARENT, TRACEPARENT_ENV
from observability.triggers import (
    CustomTrigger,
    EcsTaskTrigger,
    EventBridgeTrigger,
    LambdaTrigger,
    SqsTrigger,
    StepFunctionsTrigger,
    Trigger,
    trigger_from_dict,
)
from remediator.errors import TriggerError, TriggerRejected

__all__ = [
    "ENTRY_POINT_GROUP",
    "Firer",
    "TriggerContext",
    "execution_name",
    "fire",
    "register_trigger",
]

ENTRY_POINT_GROUP = "remediator.triggers"

_TRANSIENT = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceException",
        "EC2ThrottledException",
        "ResourceConflictException",
        "KMSThrottlingException",
        "RequestThrottled",
        "ServerException",
        "SlowDown",
    }
)


@dataclass(frozen=True, slots=True)
class TriggerContext:
    """Who the re-run is for: the fields every target receives."""

    key: BatchKey
    attempt: int
    trace_id: str | None
    reason: str = "retry"
    # W3C context of the re-trigger: the re-run joins the failure's trace with it.
    traceparent: str | None = None

    @property
    def idempotency_key(self) -> str:
        return self.key.idempotency_key(self.attempt)

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job_id": self.key.job_id,
            "batch_id": self.key.batch_id,
            "attempt": self.attempt,
            "trace_id": self.trace_id,
            "reason": self.reason,
        }
        if self.traceparent:
            out[TRACEPARENT] = self.traceparent
        return out


Firer = Callable[[Any, TriggerContext], str]
_custom: dict[str, Callable[[dict[str, Any], TriggerContext], str]] = {}


def register_trigger(name: str, fn: Callable[[dict[str, Any], TriggerContext], str]) -> None:
    """Register a custom trigger in-process (the entry-point group does the same from a package)."""
    _custom[name] = fn


def _short(text: str, limit: int, allowed: str) -> str:
    """`text` reduced to the allowed characters and length, still unique per input."""
    clean = re.sub(f"[^{allowed}]", "-", text)
    if clean == text and len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{clean[: limit - 17]}-{digest}"


def execution_name(ctx: TriggerContext) -> str:
    """Step Functions execution name: <= 80 of [A-Za-z0-9-_], the same for the same attempt."""
    return _short(
        f"{ctx.key.job_id}-{ctx.key.batch_id}-{ctx.attempt}".replace("#", "-"), 80, "A-Za-z0-9_-"
    )


def _classify(exc: Exception, what: str) -> Exception:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _TRANSIENT or status >= 500 or status == 429:
            return TriggerError(f"{what}: {code}: {exc}")
        return TriggerRejected(f"{what}: {code}: {exc}")
    return TriggerError(f"{what}: {exc}")


def _sqs(clients: AwsClients, spec: SqsTrigger, ctx: TriggerContext) -> str:
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


def _lambda(clients: AwsClients, spec: LambdaTrigger, ctx: TriggerContext) -> str:
    payload = {"payload": spec.payload, **ctx.fields()}
    reply = clients.client("lambda").invoke(
        FunctionName=spec.function_name,
        InvocationType="Event",
        Payload=json.dumps(payload).encode(),
    )
    return str(reply.get("ResponseMetadata", {}).get("RequestId", ""))


def _stepfunctions(clients: AwsClients, spec: StepFunctionsTrigger, ctx: TriggerContext) -> str:
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
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            # This attempt was already started (a replica died before recording it): no-op.
            arn = spec.state_machine_arn.replace(":stateMachine:", ":execution:")
            return f"{arn}:{name}"
        raise


def _eventbridge(clients: AwsClients, spec: EventBridgeTrigger, ctx: TriggerContext) -> str:
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
    entry = reply["Entries"][0]
    if reply.get("FailedEntryCount") or "EventId" not in entry:
        code = entry.get("ErrorCode", "Unknown")
        error = ClientError(
            {"Error": {"Code": code, "Message": entry.get("ErrorMessage", "")}}, "PutEvents"
        )
        raise error
    return str(entry["EventId"])


def _ecs(clients: AwsClients, spec: EcsTaskTrigger, ctx: TriggerContext) -> str:
    environment = {
        **spec.environment,
        "PIPELINE_JOB_ID": ctx.key.job_id,
        "PIPELINE_BATCH_ID": ctx.key.batch_id,
        "PIPELINE_ATTEMPT": str(ctx.attempt),
        "PIPELINE_TRACE_ID": ctx.trace_id or "",
    }
    if ctx.traceparent:
        environment[TRACEPARENT_ENV] = ctx.traceparent
    override: dict[str, Any] = {
        "name": spec.container_name,
        "environment": [{"name": k, "value": v} for k, v in environment.items()],
    }
    if spec.command:
        override["command"] = spec.command
    kwargs: dict[str, Any] = {
        "cluster": spec.cluster,
        "taskDefinition": spec.task_definition,
        "launchType": spec.launch_type,
        "overrides": {"containerOverrides": [override]},
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
    if reply.get("failures") and not reply.get("tasks"):
        failure = reply["failures"][0]
        raise TriggerRejected(
            f"RunTask failed: {failure.get('reason')} {failure.get('detail', '')}"
        )
    return str(reply["tasks"][0]["taskArn"])


def _custom_trigger(spec: CustomTrigger, ctx: TriggerContext) -> str:
    fn = _custom.get(spec.name)
    if fn is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec.name]
        if not found:
            raise TriggerRejected(
                f"no custom trigger {spec.name!r}: register it in the {ENTRY_POINT_GROUP!r} "
                "entry-point group"
            )
        fn = found[0].load()
        _custom[spec.name] = fn
    return str(fn(dict(spec.params), ctx))


def _fire_once(clients: AwsClients, spec: Trigger, ctx: TriggerContext) -> str:
    what = f"{spec.kind} trigger of {ctx.key.job_id}/{ctx.key.batch_id}"
    try:
        if isinstance(spec, SqsTrigger):
            return _sqs(clients, spec, ctx)
        if isinstance(spec, LambdaTrigger):
            return _lambda(clients, spec, ctx)
        if isinstance(spec, StepFunctionsTrigger):
            return _stepfunctions(clients, spec, ctx)
        if isinstance(spec, EventBridgeTrigger):
            return _eventbridge(clients, spec, ctx)
        if isinstance(spec, EcsTaskTrigger):
            return _ecs(clients, spec, ctx)
        if isinstance(spec, CustomTrigger):
            return _custom_trigger(spec, ctx)
    except (TriggerError, TriggerRejected):
        raise
    except (ClientError, BotoCoreError) as exc:
        raise _classify(exc, what) from exc
    except (ConnectionError, TimeoutError) as exc:
        raise TriggerError(f"{what}: {exc}") from exc
    raise TriggerRejected(f"{what}: kind {spec.kind!r} cannot be fired")


def fire(
    clients: AwsClients,
    stored: dict[str, Any] | None,
    ctx: TriggerContext,
    *,
    attempts: int = 4,
    timeout_seconds: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Fire a stored trigger; returns the target's id for the audit trail.

    TriggerRejected at once for permanent errors; TriggerError once transient errors
    outlast `attempts` tries or `timeout_seconds`.
    """
    if not stored:
        raise TriggerRejected("the batch was recorded without a trigger: nothing to re-run")
    try:
        spec = trigger_from_dict(stored)
    except (InvalidInput, TypeError) as exc:
        raise TriggerRejected(f"stored trigger is not valid: {exc}") from None
    retrying = Retrying(
        stop=stop_after_attempt(attempts) | stop_after_delay(timeout_seconds),
        wait=wait_random_exponential(multiplier=0.2, max=5.0),
        retry=retry_if_exception_type(TriggerError),
        sleep=sleep,
        reraise=True,
    )
    with tracing.span(
        f"re-trigger {spec.kind}",
        kind=tracing.SpanKind.PRODUCER,
        attributes={"pipeline.attempt": ctx.attempt, "remediator.trigger": spec.kind},
        scope="remediator",
    ):
        # The current context (this span's, else the remediation's) goes to the re-run.
        ctx = dataclasses.replace(ctx, traceparent=tracing.traceparent() or ctx.traceparent)
        return str(retrying(_fire_once, clients, spec, ctx))
