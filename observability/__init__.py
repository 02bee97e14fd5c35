"""Producer library: record every batch transition, signal failures, resume where it stopped.

from observability import AuditTrail, RetryPolicy, RetryRule, SqsTrigger

trail = AuditTrail()
retry = RetryPolicy(rules=(RetryRule("timeouts", errors=("TimeoutError",), max_attempts=5),))
for month in trail.pending("ingest-sales", months):
    with trail.batch("ingest-sales", month, trigger=SqsTrigger(queue_url=Q, body={...}),
                     retry=retry) as run:
        load(month)
"""

from observability.audit import AuditStore, ConditionFailed, TableMissing
from observability.backoff import Exhaust, RetryAt, RetryRule
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
from observability.jobs import JobPolicy
from observability.keys import BatchKey
from observability.logger import bind, configure_logging
from observability.metrics import Metrics
from observability.models import AuditEvent, BatchState, EventType, Status
from observability.retry import RetryPolicy
from observability.settings import Settings, load_settings
from observability.signals import Signal
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
    "InvalidInput",
    "JobPolicy",
    "LambdaTrigger",
    "Metrics",
    "NonRetryableError",
    "NotifierUnavailable",
    "ObservabilityError",
    "RetryAt",
    "RetryPolicy",
    "RetryRule",
    "RunSuperseded",
    "Settings",
    "Signal",
    "SqsTrigger",
    "Status",
    "StepFunctionsTrigger",
    "StoreUnavailable",
    "TableMissing",
    "Trigger",
    "bind",
    "configure_logging",
    "default_clients",
    "load_settings",
]
