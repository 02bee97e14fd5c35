"""Fires the trigger stored with a batch, so that exactly that batch runs again.

Each kind passes the batch's identity along (job_id, batch_id, attempt, trace_id) and, where
the target supports it, a deterministic idempotency key: `job#batch#attempt` as a FIFO
deduplication id or an ECS or EMR Serverless clientToken, and a Step Functions execution
name that also carries the run of the batch (see `execution_name`). A repeat of the same
attempt is then a no-op at the target. (Glue and AWS Batch have no token: the claim fires an
attempt once, and the re-run's `run_task` skips an attempt already started.)

Retries happen here and only here: the clients used for triggers have botocore's retries
turned off, and tenacity retries transient errors, bounded in attempts and total time.

Every failure is classified once, here (`classify`): permanent (`TriggerRejected`: not found,
access denied, validation, a malformed request, a custom trigger's own exception, an
unregistered custom trigger, a body over the target's limit) or transient (`TriggerError`:
throttling, timeouts, 5xx, connection errors). Nothing else leaves `fire()`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
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
from observability.telemetry import tracing
from observability.triggers import (
    BatchJobTrigger,
    CustomTrigger,
    EcsTaskTrigger,
    EmrServerlessTrigger,
    EventBridgeTrigger,
    GlueJobTrigger,
    LambdaTrigger,
    SqsTrigger,
    StepFunctionsTrigger,
    Trigger,
    trigger_from_dict,
)
from remediator.errors import TriggerError, TriggerRejected
from remediator.triggers.context import TriggerContext
from remediator.triggers.custom import fire_custom
from remediator.triggers.engines import send_batch, send_emr, send_glue
from remediator.triggers.roles import AssumedRoles
from remediator.triggers.sources import SOURCE_RERUNS
from remediator.triggers.targets import (
    RunTaskFailed,
    error_code,
    send_ecs,
    send_eventbridge,
    send_lambda,
    send_sqs,
    send_stepfunctions,
)

__all__ = ["classify", "fire", "target_of"]

# Error codes that mean "not now" rather than "never": botocore's own throttling and transient
# lists, and the targets' codes for the same (a Lambda being updated, too many executions).
_TRANSIENT = frozenset(
    {
        "BandwidthLimitExceeded",
        # Glue: the job's MaxConcurrentRuns are running; a later start gets in.
        "ConcurrentRunsExceededException",
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


def target_of(stored: dict[str, Any] | None) -> str:
    """The target a stored trigger fires at, as one stable name (its circuit breaker's):
    the queue, function, state machine, bus, cluster and task definition, Glue job, EMR
    Serverless application, Batch queue and job definition, or custom name (and the role a
    target in another account is reached through)."""
    if not stored:
        return "none"
    kind = str(stored.get("kind", ""))
    params = stored.get("params")
    if kind == "custom" and stored.get("name") in SOURCE_RERUNS and isinstance(params, dict):
        # A source's re-run: its own target, the Glue job or the state machine.
        return "|".join([kind, str(stored["name"]), *(str(v) for v in params.values())])
    fields = {
        "sqs": ("queue_url",),
        "lambda": ("function_name",),
        "stepfunctions": ("state_machine_arn",),
        "eventbridge": ("event_bus_name", "source"),
        "ecs": ("cluster", "task_definition"),
        "custom": ("name",),
        "glue": ("job_name",),
        "emrserverless": ("application_id",),
        "batch": ("job_queue", "job_definition"),
    }.get(kind, ())
    # A target reached through a role is that role's account's: its circuit is its own.
    role = [str(stored["role_arn"])] if stored.get("role_arn") else []
    return "|".join([kind, *(str(stored.get(f, "")) for f in fields), *role])


def classify(exc: BaseException, what: str) -> TriggerError | TriggerRejected:
    """The one place where a trigger's failure is judged: transient or permanent."""
    if isinstance(exc, TriggerError | TriggerRejected):
        return exc
    kind, text = describe_exception(exc)
    if isinstance(exc, ClientError):
        code = error_code(exc)
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


def _fire_once(
    clients: AwsClients, spec: Trigger, ctx: TriggerContext, roles: AssumedRoles | None
) -> str:
    what = f"{spec.kind} trigger of {ctx.key.job_id}/{ctx.key.batch_id}"
    try:
        if spec.role_arn and not isinstance(spec, CustomTrigger):
            # A target in another account: its role's clients (AssumeRole, when not held).
            roles = roles or AssumedRoles(clients)
            clients = roles.clients_for(spec.role_arn, spec.external_id)
        if isinstance(spec, SqsTrigger):
            return send_sqs(clients, spec, ctx)
        if isinstance(spec, LambdaTrigger):
            return send_lambda(clients, spec, ctx)
        if isinstance(spec, StepFunctionsTrigger):
            return send_stepfunctions(clients, spec, ctx)
        if isinstance(spec, EventBridgeTrigger):
            return send_eventbridge(clients, spec, ctx)
        if isinstance(spec, EcsTaskTrigger):
            return send_ecs(clients, spec, ctx)
        if isinstance(spec, CustomTrigger):
            rerun = SOURCE_RERUNS.get(spec.name)  # a pipeline that does not import us
            return rerun(clients, dict(spec.params), ctx) if rerun else fire_custom(spec, ctx)
        if isinstance(spec, GlueJobTrigger):
            return send_glue(clients, spec, ctx)
        if isinstance(spec, EmrServerlessTrigger):
            return send_emr(clients, spec, ctx)
        if isinstance(spec, BatchJobTrigger):
            return send_batch(clients, spec, ctx)
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
    roles: AssumedRoles | None = None,
) -> str:
    """Fire a stored trigger; returns the target's id for the audit trail.

    TriggerRejected at once for permanent errors; TriggerError once transient errors
    outlast `attempts` tries or `timeout_seconds`. Nothing else is raised. A trigger that
    names a role is fired with its credentials, kept by `roles` between calls.
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
        return str(retrying(_fire_once, clients, spec, ctx, roles))
