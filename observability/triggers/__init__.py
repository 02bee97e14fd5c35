"""How to re-run one batch, stored with it by the producer and fired by the remediator.

These are plain, validated data. Firing them (boto3 calls) is the remediator's job. `base`
holds `Trigger` and the field checks, `targets` the kinds of SQS, Lambda, Step Functions,
EventBridge and a Python entry point (and the stored form of every kind), `ecs` the ECS task,
`glue`, `emr` and `batch` the Glue job, EMR Serverless job run and AWS Batch job, `role` the
role a target in another account is fired with.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from observability.triggers.base import MAX_TRIGGER_BYTES, Trigger
from observability.triggers.targets import (
    CustomTrigger,
    EventBridgeTrigger,
    LambdaTrigger,
    SqsTrigger,
    StepFunctionsTrigger,
    trigger_from_dict,
)

if TYPE_CHECKING:
    from observability.triggers.batch import (
        BATCH_RETRY_STRATEGY,
        BatchJobTrigger,
        batch_overrides,
    )
    from observability.triggers.ecs import (
        ECS_LAUNCH_TYPES,
        MAX_ECS_OVERRIDES_CHARS,
        EcsTaskTrigger,
        ecs_environment,
        ecs_overrides,
        overrides_chars,
    )
    from observability.triggers.emr import EmrServerlessTrigger, emr_configuration
    from observability.triggers.glue import GlueJobTrigger, glue_arguments

__all__ = [
    "BATCH_RETRY_STRATEGY",
    "ECS_LAUNCH_TYPES",
    "MAX_ECS_OVERRIDES_CHARS",
    "MAX_TRIGGER_BYTES",
    "BatchJobTrigger",
    "CustomTrigger",
    "EcsTaskTrigger",
    "EmrServerlessTrigger",
    "EventBridgeTrigger",
    "GlueJobTrigger",
    "LambdaTrigger",
    "SqsTrigger",
    "StepFunctionsTrigger",
    "Trigger",
    "batch_overrides",
    "ecs_environment",
    "ecs_overrides",
    "emr_configuration",
    "glue_arguments",
    "overrides_chars",
    "trigger_from_dict",
]

# The engines' modules load on first use: a pipeline that names none never pays for them.
_LAZY = {
    "BATCH_RETRY_STRATEGY": "batch",
    "BatchJobTrigger": "batch",
    "batch_overrides": "batch",
    "ECS_LAUNCH_TYPES": "ecs",
    "MAX_ECS_OVERRIDES_CHARS": "ecs",
    "EcsTaskTrigger": "ecs",
    "ecs_environment": "ecs",
    "ecs_overrides": "ecs",
    "overrides_chars": "ecs",
    "EmrServerlessTrigger": "emr",
    "emr_configuration": "emr",
    "GlueJobTrigger": "glue",
    "glue_arguments": "glue",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'observability.triggers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"observability.triggers.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
