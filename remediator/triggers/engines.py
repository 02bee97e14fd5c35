"""The senders of the AWS data engines: a Glue job run, an EMR Serverless job run, an AWS
Batch job. Each passes the batch's identity along; the idempotency each offers is in its
trigger's module (observability.triggers.glue, .emr, .batch)."""

from __future__ import annotations

from typing import Any

from observability.clients import AwsClients
from observability.triggers import (
    BATCH_RETRY_STRATEGY,
    BatchJobTrigger,
    EmrServerlessTrigger,
    GlueJobTrigger,
    batch_overrides,
    emr_configuration,
    glue_arguments,
)
from remediator.triggers.context import TriggerContext
from remediator.triggers.targets import _short, execution_name

__all__ = ["batch_job_name", "emr_client_token", "send_batch", "send_emr", "send_glue"]

# EMR Serverless clientToken: 1-64 of [A-Za-z0-9._-] (the botocore model).
_EMR_LIMIT = 64
_EMR_ALLOWED = "A-Za-z0-9._-"


def emr_client_token(ctx: TriggerContext) -> str:
    """`job#batch#attempt` made a clientToken: '#' and any other character outside the
    allowed set become '-', and then (or when too long) a hash of the key keeps it unique."""
    return _short(ctx.idempotency_key, _EMR_LIMIT, _EMR_ALLOWED)


def batch_job_name(ctx: TriggerContext) -> str:
    """SubmitJob's jobName: up to 128 letters, digits, '-' and '_', starting with a letter or
    digit; the Step Functions execution name (80 of those, the attempt and a hash) fits."""
    name = execution_name(ctx)
    return name if name[0].isalnum() else f"b{name[:79]}"


def send_glue(clients: AwsClients, spec: GlueJobTrigger, ctx: TriggerContext) -> str:
    arguments = glue_arguments(spec, ctx.fields(), ctx.trace_id, ctx.traceparent)
    reply = clients.client("glue").start_job_run(JobName=spec.job_name, Arguments=arguments)
    return str(reply["JobRunId"])


def send_emr(clients: AwsClients, spec: EmrServerlessTrigger, ctx: TriggerContext) -> str:
    reply = clients.client("emr-serverless").start_job_run(
        applicationId=spec.application_id,
        # A repeat of the same attempt (a replica that died before recording it) is the
        # same run: EMR Serverless answers it with the run the first start made.
        clientToken=emr_client_token(ctx),
        executionRoleArn=spec.execution_role_arn,
        jobDriver=spec.job_driver,
        configurationOverrides=emr_configuration(spec, ctx.fields(), ctx.trace_id, ctx.traceparent),
        name=execution_name(ctx),
    )
    return str(reply["arn"])


def send_batch(clients: AwsClients, spec: BatchJobTrigger, ctx: TriggerContext) -> str:
    kwargs: dict[str, Any] = {
        "jobName": batch_job_name(ctx),
        "jobQueue": spec.job_queue,
        "jobDefinition": spec.job_definition,
        "containerOverrides": batch_overrides(ctx.fields(), ctx.trace_id, ctx.traceparent),
        # Overrides the job definition's strategy: our retries are the only ones.
        "retryStrategy": dict(BATCH_RETRY_STRATEGY),
    }
    if spec.parameters:
        kwargs["parameters"] = spec.parameters
    reply = clients.client("batch").submit_job(**kwargs)
    return str(reply.get("jobArn") or reply["jobId"])
