"""The triggers of the other targets (SQS, Lambda, Step Functions, EventBridge, a Python
entry point), and the stored form of every kind."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from observability.errors import InvalidInput
from observability.triggers.base import Trigger, _required, _shaped, _within

__all__ = [
    "CustomTrigger",
    "EventBridgeTrigger",
    "LambdaTrigger",
    "SqsTrigger",
    "StepFunctionsTrigger",
    "trigger_from_dict",
]

# SendMessage: MessageGroupId is 1-128 alphanumeric and punctuation characters (no space).
_FIFO_ID = re.compile(r"[!-~]{1,128}")
# Invoke's FunctionName (the botocore model's pattern, 1-256 characters).
_FUNCTION_NAME = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
# A state machine (or its version or alias): executions are named under it.
_STATE_MACHINE_ARN = re.compile(r"arn:[\w-]+:states:[\w-]+:\d{12}:stateMachine:[^:\s]+(:[^:\s]+)?")
# PutEvents' EventBusName (the botocore model's pattern, 1-1600 characters).
_EVENT_BUS = re.compile(
    r"(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[\.\-_A-Za-z0-9]+"
)


@dataclass(frozen=True)
class SqsTrigger(Trigger):
    """Send `body` (as JSON) to a work queue, with job_id, batch_id, attempt, trace_id attributes.

    For a FIFO queue give `message_group_id`; the deduplication id is then `job#batch#attempt`,
    so a repeated trigger of the same attempt is dropped by SQS itself.
    """

    kind: ClassVar[str] = "sqs"
    payload_field: ClassVar[str] = "body"
    queue_url: str = ""
    body: Any = None
    message_group_id: str | None = None

    def _validate(self) -> None:
        _required("trigger.queue_url", self.queue_url)
        if self.queue_url.endswith(".fifo") and not self.message_group_id:
            raise InvalidInput("trigger.message_group_id", "is required for a FIFO queue")
        if self.message_group_id is not None:
            _within("trigger.message_group_id", self.message_group_id, 128)
            _shaped(
                "trigger.message_group_id",
                self.message_group_id,
                _FIFO_ID,
                "ASCII letters, digits or punctuation (no spaces, no accents)",
            )


@dataclass(frozen=True)
class LambdaTrigger(Trigger):
    """Invoke a function asynchronously (InvocationType Event): `payload` plus the batch fields."""

    kind: ClassVar[str] = "lambda"
    payload_field: ClassVar[str] = "payload"
    function_name: str = ""
    payload: Any = None

    def _validate(self) -> None:
        _required("trigger.function_name", self.function_name)
        _within("trigger.function_name", self.function_name, 256)
        _shaped(
            "trigger.function_name",
            self.function_name,
            _FUNCTION_NAME,
            "a function name, ARN or partial ARN (letters, digits, '-', '_', '.')",
        )


@dataclass(frozen=True)
class StepFunctionsTrigger(Trigger):
    """Start an execution named from job, batch, attempt and the batch's run: a repeated
    start of the same attempt is a no-op, and no other batch or run shares the name."""

    kind: ClassVar[str] = "stepfunctions"
    payload_field: ClassVar[str] = "input"
    state_machine_arn: str = ""
    input: Any = None

    def _validate(self) -> None:
        _required("trigger.state_machine_arn", self.state_machine_arn)
        _within("trigger.state_machine_arn", self.state_machine_arn, 256)
        _shaped(
            "trigger.state_machine_arn",
            self.state_machine_arn,
            _STATE_MACHINE_ARN,
            "a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)",
        )


@dataclass(frozen=True)
class EventBridgeTrigger(Trigger):
    """Put one event (`detail` plus the batch fields) on a bus."""

    kind: ClassVar[str] = "eventbridge"
    payload_field: ClassVar[str] = "detail"
    source: str = ""
    detail_type: str = "BatchRetryRequested"
    detail: Any = None
    event_bus_name: str = "default"

    def _validate(self) -> None:
        _required("trigger.source", self.source)
        _required("trigger.detail_type", self.detail_type)
        _required("trigger.event_bus_name", self.event_bus_name)
        _within("trigger.event_bus_name", self.event_bus_name, 1600)
        _shaped(
            "trigger.event_bus_name",
            self.event_bus_name,
            _EVENT_BUS,
            "an event bus name or ARN (letters, digits, '.', '-', '_')",
        )


@dataclass(frozen=True)
class CustomTrigger(Trigger):
    """A trigger registered by name in the `remediator.triggers` entry-point group."""

    kind: ClassVar[str] = "custom"
    payload_field: ClassVar[str] = "params"
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def _validate(self) -> None:
        _required("trigger.name", self.name)


_KINDS: dict[str, type[Trigger]] = {
    cls.kind: cls
    for cls in (
        SqsTrigger,
        LambdaTrigger,
        StepFunctionsTrigger,
        EventBridgeTrigger,
        CustomTrigger,
    )
}
# The engines' kinds, each imported with the first trigger of its kind: a pipeline that
# never names one never loads its module (a cold start pays for every import).
_ENGINE_KINDS = {
    "ecs": ("observability.triggers.ecs", "EcsTaskTrigger"),
    "glue": ("observability.triggers.glue", "GlueJobTrigger"),
    "emrserverless": ("observability.triggers.emr", "EmrServerlessTrigger"),
    "batch": ("observability.triggers.batch", "BatchJobTrigger"),
}


def trigger_class(kind: str) -> type[Trigger] | None:
    """The class of a stored trigger's kind, or None for a kind no version wrote."""
    found = _KINDS.get(kind)
    if found is None and kind in _ENGINE_KINDS:
        module, name = _ENGINE_KINDS[kind]
        found = _KINDS[kind] = getattr(importlib.import_module(module), name)
    return found


def trigger_from_dict(data: dict[str, Any]) -> Trigger:
    """Rebuild a stored trigger; unknown kinds or fields raise InvalidInput."""
    kind = data.get("kind")
    cls = trigger_class(str(kind))
    if cls is None:
        known = sorted({*_KINDS, *_ENGINE_KINDS})
        raise InvalidInput("trigger.kind", f"unknown kind {kind!r}; known: {known}")
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names - {"kind"}
    if unknown:
        raise InvalidInput("trigger", f"unknown fields for kind {kind!r}: {sorted(unknown)}")
    return cls(**{k: v for k, v in data.items() if k != "kind"})
