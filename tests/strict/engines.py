"""Limits of the AWS data engines' start calls that the botocore models do not carry (Glue
StartJobRun, EMR Serverless StartJobRun, AWS Batch SubmitJob): the same table form as
`limits`, each rule with the page that states it. (AssumeRole's limits are all in its
model.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tests.strict.limits import Rule

__all__ = ["ENGINE_RULES"]

_GLUE_ARGUMENTS = (
    "https://docs.aws.amazon.com/glue/latest/dg/aws-glue-programming-etl-glue-arguments.html"
)
_EMR_START = "https://docs.aws.amazon.com/emr-serverless/latest/APIReference/API_StartJobRun.html"
_EMR_ENV = (
    "https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/jobs-spark.html#spark-defaults"
)
_BATCH_SUBMIT = "https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html"
_BATCH_ENV = "https://docs.aws.amazon.com/batch/latest/APIReference/API_KeyValuePair.html"
_BATCH_RETRY = "https://docs.aws.amazon.com/batch/latest/APIReference/API_RetryStrategy.html"


def _glue_argument_names(params: dict[str, Any]) -> Iterator[str]:
    for name in params.get("Arguments") or {}:
        if not str(name).startswith("--"):
            yield f"Arguments name {name!r} does not start with '--'"


def _emr_token(params: dict[str, Any]) -> Iterator[str]:
    # botocore fills a missing clientToken with a random one: a repeat would start twice.
    if not params.get("clientToken"):
        yield "clientToken is not set by the caller: a repeated start would not be deduplicated"


def _emr_driver_env(params: dict[str, Any]) -> Iterator[str]:
    overrides = params.get("configurationOverrides") or {}
    for index, config in enumerate(overrides.get("applicationConfiguration") or []):
        for name in config.get("properties") or {}:
            if name.startswith("spark.emr-serverless.driverEnv."):
                variable = name.removeprefix("spark.emr-serverless.driverEnv.")
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
                    yield f"applicationConfiguration[{index}] sets driver variable {variable!r}"


_BATCH_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def _batch_job_name(params: dict[str, Any]) -> Iterator[str]:
    name = str(params.get("jobName", ""))
    if not _BATCH_JOB_NAME.fullmatch(name):
        yield f"jobName {name!r} is not 1-128 of A-Z a-z 0-9 - _ starting with a letter or digit"


def _batch_environment(params: dict[str, Any]) -> Iterator[str]:
    for variable in (params.get("containerOverrides") or {}).get("environment") or []:
        if str(variable.get("name", "")).startswith("AWS_BATCH"):
            yield f"environment variable {variable['name']!r} uses the reserved AWS_BATCH prefix"


def _batch_attempts(params: dict[str, Any]) -> Iterator[str]:
    attempts = (params.get("retryStrategy") or {}).get("attempts")
    if attempts is not None and not 1 <= int(attempts) <= 10:
        yield f"retryStrategy.attempts is {attempts}; 1 to 10"


def _ops(service: str, *operations: str) -> frozenset[tuple[str, str]]:
    return frozenset((service, op) for op in operations)


ENGINE_RULES: list[Rule] = [
    Rule(
        "glue-argument-names",
        "job arguments: 'you must prefix the key name with --'",
        _GLUE_ARGUMENTS,
        _ops("glue", "StartJobRun"),
        _glue_argument_names,
    ),
    Rule(
        "emr-serverless-client-token",
        "clientToken: the idempotency token of the start (here always the caller's own)",
        _EMR_START,
        _ops("emr-serverless", "StartJobRun"),
        _emr_token,
    ),
    Rule(
        "emr-serverless-driver-env",
        "spark.emr-serverless.driverEnv.NAME: NAME an environment variable's name",
        _EMR_ENV,
        _ops("emr-serverless", "StartJobRun"),
        _emr_driver_env,
    ),
    Rule(
        "batch-job-name",
        "jobName: up to 128 letters, numbers, hyphens, underscores; the first alphanumeric",
        _BATCH_SUBMIT,
        _ops("batch", "SubmitJob"),
        _batch_job_name,
    ),
    Rule(
        "batch-environment-reserved",
        "environment variables cannot start with AWS_BATCH (reserved for AWS Batch)",
        _BATCH_ENV,
        _ops("batch", "SubmitJob"),
        _batch_environment,
    ),
    Rule(
        "batch-retry-attempts",
        "retryStrategy.attempts: 1 to 10",
        _BATCH_RETRY,
        _ops("batch", "SubmitJob"),
        _batch_attempts,
    ),
]
