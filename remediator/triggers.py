"""Fires the trigger stored with a batch, so that exactly that batch runs again.

Each kind passes the batch's identity along (job_id, batch_id, attempt, trace_id) and, where
the target supports it, a deterministic idempotency key: `job#batch#attempt` as a FIFO
deduplication id or an ECS clientToken, and a Step Functions execution name that also
carries the run of the batch (see `execution_name`). A repeat of the same attempt is then a
no-op at the target.

Retries happen here and only here: the clients used for triggers have botocore's retries
turned off, and tenacity retries transient errors, bounded in attempts and total time.

Every failure is classified once, here (`classify`): permanent (`TriggerRejected`: not found,
access denied, validation, a malformed request, a custom trigger's own exception, an
unregistered custom trigger, a body over the target's limit) or transient (`TriggerError`:
throttling, timeouts, 5xx, connection errors). Nothing else leaves `fire()`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from botocore.exceptions import (
    CapacityNotAvailableError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    MetadataRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
    TokenRetrievalError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from observability.clients import AwsClients
from observability.errors import InvalidInput
from observability.models.describe import describe_exception
from observability.models.keys import BatchKey
from observability.models.traceids import TRACEPARENT
from observability.telemetry import tracing
from observability.triggers import (
    MAX_ECS_OVERRIDES_CHARS,
    CustomTrigger,
    EcsTaskTrigger,
    EventBridgeTrigger,
    LambdaTrigger,
    SqsTrigger,
    StepFunctionsTrigger,
    Trigger,
    ecs_environment,
    ecs_overrides,
    overrides_chars,
    trigger_from_dict,
)
from remediator.errors import TriggerError, TriggerRejected

__all__ = [
    "ENTRY_POINT_GROUP",
    "Firer",
    "RunTaskFailed",
    "TriggerContext",
    "classify",
    "execution_name",
    "fire",
    "register_trigger",
    "target_of",
]

ENTRY_POINT_GROUP = "remediator.triggers"

# Error codes that mean "not now" rather than "never": botocore's own throttling and transient
# lists, and the targets' codes for the same (a Lambda being updated, too many executions).
_TRANSIENT = frozenset(
    {
        "BandwidthLimitExceeded",
        "EC2ThrottledException",
        "ExecutionLimitExceeded",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "KMSThrottling",
        "KMSThrottlingException",
        "LimitExceededException",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ResourceConflictException",
        "ResourceNotReadyException",
        "ServerException",
        "ServiceException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "TransactionInProgressException",
    }
)
# botocore errors of the network or the environment, not of the request: worth another try.
_TRANSIENT_BOTOCORE = (
    BotoConnectionError,  # connection refused or reset, connect timeout, TLS
    HTTPClientError,  # read timeout, connection closed mid-reply
    IncompleteReadError,
    CapacityNotAvailableError,
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    MetadataRetrievalError,
    TokenRetrievalError,
)
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


@dataclass(frozen=True, slots=True)
class TriggerContext:
    """Who the re-run is for: the fields every target receives."""

    key: BatchKey
    attempt: int
    trace_id: str | None
    reason: str = "retry"
    # Unique per lifetime of the batch's item (its `incarnation`): a batch that starts over
    # after its item expired gets new execution names. Empty: the trace id stands in.
    incarnation: str = ""
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


def target_of(stored: dict[str, Any] | None) -> str:
    """The target a stored trigger fires at, as one stable name (its circuit breaker's):
    the queue, function, state machine, bus, cluster and task definition, or custom name."""
    if not stored:
        return "none"
    kind = str(stored.get("kind", ""))
    fields = {
        "sqs": ("queue_url",),
        "lambda": ("function_name",),
        "stepfunctions": ("state_machine_arn",),
        "eventbridge": ("event_bus_name", "source"),
        "ecs": ("cluster", "task_definition"),
        "custom": ("name",),
    }.get(kind, ())
    return "|".join([kind, *(str(stored.get(f, "")) for f in fields)])


def register_trigger(name: str, fn: Callable[[dict[str, Any], TriggerContext], str]) -> None:
    """Register a custom trigger in-process (the entry-point group does the same from a package)."""
    _custom[name] = fn


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


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def classify(exc: BaseException, what: str) -> TriggerError | TriggerRejected:
    """The one place where a trigger's failure is judged: transient or permanent."""
    if isinstance(exc, TriggerError | TriggerRejected):
        return exc
    kind, text = describe_exception(exc)
    if isinstance(exc, ClientError):
        code = _code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _TRANSIENT or status >= 500 or status == 429:
            return TriggerError(f"{what}: {code}: {text}")
        return TriggerRejected(f"{what}: {code or kind}: {text}")
    if isinstance(exc, RunTaskFailed):
        return (TriggerError if exc.transient else TriggerRejected)(f"{what}: {text}")
    if isinstance(exc, (*_TRANSIENT_BOTOCORE, ConnectionError, TimeoutError)):
        return TriggerError(f"{what}: {kind}: {text}")
    # A malformed request (ParamValidationError), a configuration botocore refuses, a custom
    # trigger's own exception: sending the same thing again cannot help.
    return TriggerRejected(f"{what}: {kind}: {text}")


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
        if _code(exc) != "ExecutionAlreadyExists":
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
    entry = (reply.get("Entries") or [{}])[0]
    if reply.get("FailedEntryCount") or "EventId" not in entry:
        # A 200 whose entry was refused: judged by the entry's code, like any other error.
        code = entry.get("ErrorCode", "Unknown")
        raise ClientError(
            {"Error": {"Code": code, "Message": entry.get("ErrorMessage", "")}}, "PutEvents"
        )
    return str(entry["EventId"])


def _ecs(clients: AwsClients, spec: EcsTaskTrigger, ctx: TriggerContext) -> str:
    environment = ecs_environment(spec, ctx.fields(), ctx.trace_id, ctx.traceparent)
    overrides = ecs_overrides(spec, environment)
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


def _custom_trigger(spec: CustomTrigger, ctx: TriggerContext) -> str:
    fn = _custom.get(spec.name)
    if fn is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec.name]
        if not found:
            raise TriggerRejected(
                f"no custom trigger {spec.name!r}: register it in the {ENTRY_POINT_GROUP!r} "
                "entry-point group"
            )
        try:
            fn = found[0].load()
        except Exception as exc:  # an entry point that does not import will not later
            kind, text = describe_exception(exc)
            raise TriggerRejected(
                f"custom trigger {spec.name!r} ({found[0].value}) cannot be loaded: {kind}: {text}"
            ) from exc
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
    except Exception as exc:  # every failure, a custom trigger's included, is classified
        raise classify(exc, what) from exc
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
    outlast `attempts` tries or `timeout_seconds`. Nothing else is raised.
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
