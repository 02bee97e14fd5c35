"""Producer library: record every batch transition, signal failures, resume where it stopped.

from observability import AuditTrail, SqsTrigger

trail = AuditTrail()
for month in trail.pending("ingest-sales", months):
    with trail.batch("ingest-sales", month, trigger=SqsTrigger(queue_url=Q, body={...})) as run:
        load(month)
"""

from observability.audit import AuditStore, ConditionFailed, TableMissing
from observability.backoff import Exhaust, RetryAt, RetryPolicy
from observability.clients import AwsClients, default_clients
from observability.errors import (
    BatchAlreadyRunning,
    ConfigError,
    InvalidInput,
    NonRetryableError,
    NotifierUnavailable,
    ObservabilityError,
    RunSuperseded,
    StoreUnavailable,
)
from observability.keys import BatchKey
from observability.logger import bind, configure_logging
from observability.metrics import Metrics
from observability.models import AuditEvent, BatchState, EventType, Status
from observability.settings import Settings, load_settings
from observability.signals import Signal
from observability.tracing import configure_tracing, context_from
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
    "ConditionFailed",
    "ConfigError",
    "CustomTrigger",
    "EcsTaskTrigger",
    "EventBridgeTrigger",
    "EventType",
    "Exhaust",
    "InvalidInput",
    "LambdaTrigger",
    "Metrics",
    "NonRetryableError",
    "NotifierUnavailable",
    "ObservabilityError",
    "RetryAt",
    "RetryPolicy",
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
    "configure_tracing",
    "context_from",
    "default_clients",
    "load_settings",
]
