"""Producer library: record every batch transition, signal failures, resume where it stopped.

from observability import AuditTrail, RetryPolicy, RetryRule, SqsTrigger

trail = AuditTrail()
retry = RetryPolicy(rules=(RetryRule("timeouts", errors=("TimeoutError",), max_attempts=5),))
for month in trail.pending("ingest-sales", months):
    with trail.batch("ingest-sales", month, trigger=SqsTrigger(queue_url=Q, body={...}),
                     retry=retry) as run:
        load(month)

Re-runs come back through `SqsWorker` (a work queue), `batch_handler` (AWS Lambda) or
`run_task` (a Step Functions task input, an ECS container's environment).

These are the names a pipeline needs; everything else is imported from its module (the
README's "Development" section says where). They load on first use, so that importing the
package costs nothing until one is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from observability.audit.jobs import JobPolicy
    from observability.errors import (
        BatchAlreadyRunning,
        ConfigError,
        InvalidInput,
        NonRetryableError,
        ObservabilityError,
        RunSuperseded,
        StoreUnavailable,
    )
    from observability.logger import configure_logging
    from observability.models.records import Status
    from observability.rerun.lambda_handler import batch_handler
    from observability.rerun.runner import Rerun
    from observability.rerun.sqs_worker import SqsWorker
    from observability.rerun.task import run_task
    from observability.retry.backoff import RetryRule
    from observability.retry.rules import RetryPolicy
    from observability.settings import load_settings
    from observability.telemetry.metrics import Metrics
    from observability.telemetry.setup import configure_tracing
    from observability.telemetry.tracing import context_from
    from observability.trail import AuditTrail, Batch, BatchRun
    from observability.triggers import (
        CustomTrigger,
        EcsTaskTrigger,
        EventBridgeTrigger,
        LambdaTrigger,
        SqsTrigger,
        StepFunctionsTrigger,
        Trigger,
    )

__all__ = [
    "AuditTrail",
    "Batch",
    "BatchAlreadyRunning",
    "BatchRun",
    "ConfigError",
    "CustomTrigger",
    "EcsTaskTrigger",
    "EventBridgeTrigger",
    "InvalidInput",
    "JobPolicy",
    "LambdaTrigger",
    "Metrics",
    "NonRetryableError",
    "ObservabilityError",
    "Rerun",
    "RetryPolicy",
    "RetryRule",
    "RunSuperseded",
    "SqsTrigger",
    "SqsWorker",
    "Status",
    "StepFunctionsTrigger",
    "StoreUnavailable",
    "Trigger",
    "batch_handler",
    "configure_logging",
    "configure_tracing",
    "context_from",
    "load_settings",
    "run_task",
]

_WHERE = {
    "AuditTrail": "observability.trail",
    "Batch": "observability.trail",
    "BatchRun": "observability.trail",
    "BatchAlreadyRunning": "observability.errors",
    "ConfigError": "observability.errors",
    "InvalidInput": "observability.errors",
    "NonRetryableError": "observability.errors",
    "ObservabilityError": "observability.errors",
    "RunSuperseded": "observability.errors",
    "StoreUnavailable": "observability.errors",
    "CustomTrigger": "observability.triggers",
    "EcsTaskTrigger": "observability.triggers",
    "EventBridgeTrigger": "observability.triggers",
    "LambdaTrigger": "observability.triggers",
    "SqsTrigger": "observability.triggers",
    "StepFunctionsTrigger": "observability.triggers",
    "Trigger": "observability.triggers",
    "JobPolicy": "observability.audit.jobs",
    "Metrics": "observability.telemetry.metrics",
    "Rerun": "observability.rerun.runner",
    "RetryPolicy": "observability.retry.rules",
    "RetryRule": "observability.retry.backoff",
    "SqsWorker": "observability.rerun.sqs_worker",
    "Status": "observability.models.records",
    "batch_handler": "observability.rerun.lambda_handler",
    "configure_logging": "observability.logger",
    "configure_tracing": "observability.telemetry.setup",
    "context_from": "observability.telemetry.tracing",
    "load_settings": "observability.settings",
    "run_task": "observability.rerun.task",
}


def __getattr__(name: str) -> object:
    # A submodule (`from observability import errors`) is not here: Python imports it.
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'observability' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value  # the next use is a plain attribute lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
