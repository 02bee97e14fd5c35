"""How to re-run one batch, stored with it by the producer and fired by the remediator.

These are plain, validated data. Firing them (boto3 calls) is the remediator's job. `base`
holds `Trigger` and the field checks, `targets` the kinds of SQS, Lambda, Step Functions,
EventBridge and a Python entry point (and the stored form of every kind), `ecs` the ECS task.
"""

from observability.triggers.base import MAX_TRIGGER_BYTES, Trigger
from observability.triggers.ecs import (
    ECS_LAUNCH_TYPES,
    MAX_ECS_OVERRIDES_CHARS,
    EcsTaskTrigger,
    ecs_environment,
    ecs_overrides,
    overrides_chars,
)
from observability.triggers.targets import (
    CustomTrigger,
    EventBridgeTrigger,
    LambdaTrigger,
    SqsTrigger,
    StepFunctionsTrigger,
    trigger_from_dict,
)

__all__ = [
    "ECS_LAUNCH_TYPES",
    "MAX_ECS_OVERRIDES_CHARS",
    "MAX_TRIGGER_BYTES",
    "CustomTrigger",
    "EcsTaskTrigger",
    "EventBridgeTrigger",
    "LambdaTrigger",
    "SqsTrigger",
    "StepFunctionsTrigger",
    "Trigger",
    "ecs_environment",
    "ecs_overrides",
    "overrides_chars",
    "trigger_from_dict",
]
