"""How to re-run one batch, stored with it by the producer and fired by the remediator.

These are plain, validated data. Firing them (boto3 calls) is the remediator's job.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from observability.errors import InvalidInput

__all__ = [
    "MAX_TRIGGER_BYTES",
    "CustomTrigger",
    "EcsTaskTrigger",
    "EventBridgeTrigger",
    "LambdaTrigger",
    "SqsTrigger",
    "StepFunctionsTrigger",
    "Trigger",
    "trigger_from_dict",
]

# Well inside DynamoDB's 400 KB item and every target's 256 KB message or payload limit.
MAX_TRIGGER_BYTES = 64 * 1024


def _json_size(field_name: str, value: Any) -> int:
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and targets would reject them.
        return len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(field_name, f"must be JSON-serialisable ({exc})") from None


def _required(field_name: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field_name, "is required and must be a non-empty string")


@dataclass(frozen=True)
class Trigger:
    """Base of every trigger kind; `kind` names it in the stored JSON."""

    kind: ClassVar[str] = ""
    payload_field: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if self.payload_field:
            size = _json_size(f"trigger.{self.payload_field}", getattr(self, self.payload_field))
            if size > MAX_TRIGGER_BYTES:
                raise InvalidInput(
                    f"trigger.{self.payload_field}",
                    f"is {size} bytes as JSON; the limit is {MAX_TRIGGER_BYTES} bytes",
                )
        total = _json_size("trigger", self.to_dict())
        if total > MAX_TRIGGER_BYTES:
            raise InvalidInput(
                "trigger", f"is {total} bytes as JSON; the limit is {MAX_TRIGGER_BYTES} bytes"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)


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

    def __post_init__(self) -> None:
        _required("trigger.queue_url", self.queue_url)
        if self.queue_url.endswith(".fifo") and not self.message_group_id:
            raise InvalidInput("trigger.message_group_id", "is required for a FIFO queue")
        super().__post_init__()


@dataclass(frozen=True)
class LambdaTrigger(Trigger):
    """Invoke a function asynchronously (InvocationType Event): `payload` plus the batch fields."""

    kind: ClassVar[str] = "lambda"
    payload_field: ClassVar[str] = "payload"
    function_name: str = ""
    payload: Any = None

    def __post_init__(self) -> None:
        _required("trigger.function_name", self.function_name)
        super().__post_init__()


@dataclass(frozen=True)
class StepFunctionsTrigger(Trigger):
    """Start an execution named from job, batch and attempt: a repeated start is a no-op."""

    kind: ClassVar[str] = "stepfunctions"
    payload_field: ClassVar[str] = "input"
    state_machine_arn: str = ""
    input: Any = None

    def __post_init__(self) -> None:
        _required("trigger.state_machine_arn", self.state_machine_arn)
        super().__post_init__()


@dataclass(frozen=True)
class EventBridgeTrigger(Trigger):
    """Put one event (`detail` plus the batch fields) on a bus."""

    kind: ClassVar[str] = "eventbridge"
    payload_field: ClassVar[str] = "detail"
    source: str = ""
    detail_type: str = "BatchRetryRequested"
    detail: Any = None
    event_bus_name: str = "default"

    def __post_init__(self) -> None:
        _required("trigger.source", self.source)
        super().__post_init__()


@dataclass(frozen=True)
class EcsTaskTrigger(Trigger):
    """RunTask with the batch fields as environment overrides of one container."""

    kind: ClassVar[str] = "ecs"
    payload_field: ClassVar[str] = "environment"
    cluster: str = ""
    task_definition: str = ""
    container_name: str = ""
    command: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    launch_type: str = "FARGATE"
    subnets: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)
    assign_public_ip: bool = False

    def __post_init__(self) -> None:
        _required("trigger.cluster", self.cluster)
        _required("trigger.task_definition", self.task_definition)
        _required("trigger.container_name", self.container_name)
        super().__post_init__()


@dataclass(frozen=True)
class CustomTrigger(Trigger):
    """A trigger registered by name in the `remediator.triggers` entry-point group."""

    kind: ClassVar[str] = "custom"
    payload_field: ClassVar[str] = "params"
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _required("trigger.name", self.name)
        super().__post_init__()


_KINDS: dict[str, type[Trigger]] = {
    cls.kind: cls
    for cls in (
        SqsTrigger,
        LambdaTrigger,
        StepFunctionsTrigger,
        EventBridgeTrigger,
        EcsTaskTrigger,
        CustomTrigger,
    )
}


def trigger_from_dict(data: dict[str, Any]) -> Trigger:
    """Rebuild a stored trigger; unknown kinds or fields raise InvalidInput."""
    kind = data.get("kind")
    cls = _KINDS.get(str(kind))
    if cls is None:
        raise InvalidInput("trigger.kind", f"unknown kind {kind!r}; known: {sorted(_KINDS)}")
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names - {"kind"}
    if unknown:
        raise InvalidInput("trigger", f"unknown fields for kind {kind!r}: {sorted(unknown)}")
    return cls(**{k: v for k, v in data.items() if k != "kind"})
