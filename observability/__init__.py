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
"""

from observability.audit.jobs import JobPolicy
from observability.audit.store import AuditStore, ConditionFailed, TableMissing
from observability.clients import AwsClients, default_clients
from observability.errors import (
    BatchAlreadyRunning,
    ConcurrentChange,
    ConfigError,
    InvalidInput,
    NonRetryableError,
    NotifierUnavailable,
    ObservabilityError,
    RunSuperseded,
    StoreUnavailable,
)
from observability.logger import bind, configure_logging
from observability.models.keys import BatchKey
from observability.models.records import AuditEvent, BatchState, EventType, Status
from observability.models.signals import Signal
from observability.rerun.lambda_handler import batch_handler
from observability.rerun.request import FirstRun, MalformedRerun, RerunRequest
from observability.rerun.runner import Rerun, RerunOutcome, RerunResult
from observability.rerun.sqs_worker import SqsWorker
from observability.rerun.task import run_task
from observability.retry.backoff import Exhaust, RetryAt, RetryRule
from observability.retry.rules import RetryPolicy
from observability.settings import Settings, load_settings
from observability.telemetry.metrics import Metrics
from observability.telemetry.tracing import configure_tracing, context_from
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
    "AuditEvent",
    "AuditStore",
    "AuditTrail",
    "AwsClients",
    "Batch",
    "BatchAlreadyRunning",
    "BatchKey",
    "BatchRun",
    "BatchState",
    "ConcurrentChange",
    "ConditionFailed",
    "ConfigError",
    "CustomTrigger",
    "EcsTaskTrigger",
    "EventBridgeTrigger",
    "EventType",
    "Exhaust",
    "FirstRun",
    "InvalidInput",
    "JobPolicy",
    "LambdaTrigger",
    "MalformedRerun",
    "Metrics",
    "NonRetryableError",
    "NotifierUnavailable",
    "ObservabilityError",
    "Rerun",
    "RerunOutcome",
    "RerunRequest",
    "RerunResult",
    "RetryAt",
    "RetryPolicy",
    "RetryRule",
    "RunSuperseded",
    "Settings",
    "Signal",
    "SqsTrigger",
    "SqsWorker",
    "Status",
    "StepFunctionsTrigger",
    "StoreUnavailable",
    "TableMissing",
    "Trigger",
    "batch_handler",
    "bind",
    "configure_logging",
    "configure_tracing",
    "context_from",
    "default_clients",
    "load_settings",
    "run_task",
]
