"""How to re-run one batch, stored with it by the producer and fired by the remediator.

These are plain, validated data. Firing them (boto3 calls) is the remediator's job. A
trigger is checked in full when it is built, types included, against every limit the target
documents: a trigger that AWS would refuse is refused here, before anything is written,
naming the field and the limit.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from types import UnionType
from typing import Any, ClassVar, NoReturn

from observability.errors import InvalidInput
from observability.models.keys import MAX_ID_BYTES
from observability.models.traceids import TRACEPARENT_ENV

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

# Well inside DynamoDB's 400 KB item and every target's 256 KB message or payload limit.
MAX_TRIGGER_BYTES = 64 * 1024
# RunTask: "A total of 8192 characters are allowed for overrides", JSON formatting included.
MAX_ECS_OVERRIDES_CHARS = 8192
ECS_LAUNCH_TYPES = ("EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES")
# awsvpcConfiguration: at most 16 subnets and 5 security groups.
_MAX_SUBNETS = 16
_MAX_SECURITY_GROUPS = 5
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
# The longest batch fields a RunTask carries, as JSON on the wire: ids of MAX_ID_BYTES of
# UTF-8 whose every character is escaped ("\ud83d\ude00" is 12 characters for 4 bytes), the
# trace id (a 32-character run id; 64 allowed), and a 10-digit attempt.
_WIDEST_ID = "\U0001f600" * (MAX_ID_BYTES // 4)
_WIDEST_FIELDS = {"job_id": _WIDEST_ID, "batch_id": _WIDEST_ID, "attempt": "9" * 10}
_WIDEST_TRACE = "t" * 64
_WIDEST_TRACEPARENT = f"00-{'f' * 32}-{'f' * 16}-01"


def _json_size(field_name: str, value: Any) -> int:
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and targets would reject them.
        return len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(field_name, f"must be JSON-serialisable ({exc})") from None


def _canonical(value: Any) -> str:
    """The stored form: compact, keys sorted, no NaN (TypeError/ValueError when not JSON)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)


def _required(field_name: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field_name, "is required and must be a non-empty string")


def _within(field_name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidInput(field_name, f"is {len(value)} characters; the limit is {limit}")


def _shaped(field_name: str, value: str, pattern: re.Pattern[str], what: str) -> None:
    if not pattern.fullmatch(value):
        shown = value if len(value) <= 80 else f"{value[:77]}..."
        raise InvalidInput(field_name, f"must be {what}, got {shown!r}")


_SINGULAR = {str: "string", bool: "boolean", type(None): "None"}


def _noun(hint: Any) -> str:
    """`str` -> 'string', `list[str]` -> 'list of strings', `Any` -> 'JSON value'."""
    if hint is Any:
        return "JSON value"
    origin = typing.get_origin(hint)
    if origin is list:
        return f"list of {_noun(typing.get_args(hint)[0])}s"
    if origin is dict:
        key, value = typing.get_args(hint)
        return f"mapping of {_noun(key)}s to {_noun(value)}s"
    return _SINGULAR.get(hint, getattr(hint, "__name__", str(hint)))


def _type_name(hint: Any) -> str:
    """`str | None` -> 'a string or None', `list[str]` -> 'a list of strings', ..."""
    if typing.get_origin(hint) in (UnionType, typing.Union):
        return " or ".join(_type_name(arg) for arg in typing.get_args(hint))
    noun = _noun(hint)
    return noun if noun == "None" else f"a {noun}"


def _conforms(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (UnionType, typing.Union):
        return any(_conforms(value, arg) for arg in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_conforms(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(
            _conforms(k, key) and _conforms(v, item) for k, v in value.items()
        )
    if hint is type(None):
        return value is None
    return isinstance(value, hint)


def _container(hint: Any, value: Any) -> Any:
    """The `list[...]` or `dict[...]` of `hint` (a union perhaps) that `value` is a kind of."""
    union = typing.get_origin(hint) in (UnionType, typing.Union)
    for option in typing.get_args(hint) if union else (hint,):
        origin = typing.get_origin(option)
        if (origin is list and isinstance(value, list)) or (
            origin is dict and isinstance(value, dict)
        ):
            return option
    return None


def _plain_types(hint: Any) -> tuple[type, ...] | None:
    """The classes a value of `hint` may be when `hint` is plain (`str`, `str | None`): an
    isinstance check then says all that `_conforms` would; None for containers and `Any`."""
    union = typing.get_origin(hint) in (UnionType, typing.Union)
    options = typing.get_args(hint) if union else (hint,)
    if all(isinstance(o, type) and o is not Any and typing.get_origin(o) is None for o in options):
        return tuple(options)
    return None


# Per trigger class: each field's name, type hint and plain classes (built once: every
# batch builds a trigger).
_FIELDS: dict[type[Trigger], tuple[tuple[str, Any, tuple[type, ...] | None], ...]] = {}


def _fields_of(cls: type[Trigger]) -> tuple[tuple[str, Any, tuple[type, ...] | None], ...]:
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = tuple((f.name, hints[f.name], _plain_types(hints[f.name])) for f in fields(cls))
        _FIELDS[cls] = found
    return found


def _check_types(trigger: Trigger) -> None:
    """Every field has the type it declares; the first that does not is named (item included)."""
    for field_name, hint, plain in _fields_of(type(trigger)):
        value = getattr(trigger, field_name)
        if isinstance(value, plain) if plain is not None else _conforms(value, hint):
            continue
        name = f"trigger.{field_name}"
        container = _container(hint, value)
        if isinstance(value, dict) and container is not None:
            key_hint, item_hint = typing.get_args(container)
            for key, item in value.items():
                if not _conforms(key, key_hint):
                    raise InvalidInput(
                        name, f"keys must be {_noun(key_hint)}s, got {type(key).__name__} {key!r}"
                    )
                if not _conforms(item, item_hint):
                    raise InvalidInput(
                        f"{name}[{key!r}]",
                        f"must be {_type_name(item_hint)}, got {type(item).__name__}",
                    )
        if isinstance(value, list) and container is not None:
            (item_hint,) = typing.get_args(container)
            for index, item in enumerate(value):
                if not _conforms(item, item_hint):
                    raise InvalidInput(
                        f"{name}[{index}]",
                        f"must be {_type_name(item_hint)}, got {type(item).__name__}",
                    )
        raise InvalidInput(name, f"must be {_type_name(hint)}, got {type(value).__name__}")


@dataclass(frozen=True)
class Trigger:
    """Base of every trigger kind; `kind` names it in the stored JSON."""

    kind: ClassVar[str] = ""
    payload_field: ClassVar[str] = ""

    def __post_init__(self) -> None:
        _check_types(self)
        self._validate()
        # The fields as they are: asdict's deep copy is for callers who may change the dict.
        shallow = {"kind": self.kind}
        shallow.update((name, getattr(self, name)) for name, _, _ in _fields_of(type(self)))
        try:
            text = _canonical(shallow)
        except TypeError:
            # A value JSON knows only once asdict has turned it into a dict (a dataclass).
            text = self._canonical_copy()
        except ValueError:
            text = ""
        if not text or len(text.encode("utf-8")) > MAX_TRIGGER_BYTES:
            self._refuse()
        # Kept: a batch writes its trigger as this text, and it is computed once.
        object.__setattr__(self, "_json", text)

    def _canonical_copy(self) -> str:
        try:
            return _canonical(self.to_dict())
        except (TypeError, ValueError):
            return ""

    def _refuse(self) -> NoReturn:
        """The error that names the field at fault: the payload, else the whole trigger."""
        if self.payload_field:
            size = _json_size(f"trigger.{self.payload_field}", getattr(self, self.payload_field))
            if size > MAX_TRIGGER_BYTES:
                raise InvalidInput(
                    f"trigger.{self.payload_field}",
                    f"is {size} bytes as JSON; the limit is {MAX_TRIGGER_BYTES} bytes",
                )
        total = _json_size("trigger", self.to_dict())
        raise InvalidInput(
            "trigger", f"is {total} bytes as JSON; the limit is {MAX_TRIGGER_BYTES} bytes"
        )

    def _validate(self) -> None:
        """The kind's own rules (required fields, the target's limits); types are checked."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    def to_json(self) -> str:
        return str(self.__dict__["_json"])


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

    def _validate(self) -> None:
        _required("trigger.cluster", self.cluster)
        _required("trigger.task_definition", self.task_definition)
        _required("trigger.container_name", self.container_name)
        if self.launch_type not in ECS_LAUNCH_TYPES:
            raise InvalidInput(
                "trigger.launch_type",
                f"must be one of {list(ECS_LAUNCH_TYPES)}, got {self.launch_type!r}",
            )
        if self.launch_type == "FARGATE" and not self.subnets:
            # Fargate tasks use awsvpc networking: RunTask without subnets always fails.
            raise InvalidInput(
                "trigger.subnets",
                "is required for launch_type FARGATE (awsvpc networking): add "
                "subnets=[...] (and security_groups=[...]) of the VPC the task runs in",
            )
        if self.security_groups and not self.subnets:
            raise InvalidInput("trigger.security_groups", "need subnets=[...] as well")
        if len(self.subnets) > _MAX_SUBNETS:
            raise InvalidInput(
                "trigger.subnets", f"has {len(self.subnets)} subnets; the limit is {_MAX_SUBNETS}"
            )
        if len(self.security_groups) > _MAX_SECURITY_GROUPS:
            raise InvalidInput(
                "trigger.security_groups",
                f"has {len(self.security_groups)} groups; the limit is {_MAX_SECURITY_GROUPS}",
            )
        for name in self.environment:
            _required("trigger.environment (a variable name)", name)
        widest = ecs_overrides(
            self, ecs_environment(self, _WIDEST_FIELDS, _WIDEST_TRACE, _WIDEST_TRACEPARENT)
        )
        size = overrides_chars(widest)
        if size > MAX_ECS_OVERRIDES_CHARS:
            raise InvalidInput(
                "trigger.environment",
                f"makes RunTask overrides of up to {size} characters (as JSON, with the "
                "container name, the command and the PIPELINE_* batch variables); the limit "
                f"is {MAX_ECS_OVERRIDES_CHARS}",
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


def ecs_environment(
    spec: EcsTaskTrigger,
    batch: Mapping[str, Any],
    trace_id: str | None,
    traceparent: str | None = None,
) -> dict[str, str]:
    """The container's environment for one run: the trigger's, then the batch's PIPELINE_*,
    and the W3C trace context (TRACEPARENT) the re-run joins."""
    environment = {
        **spec.environment,
        "PIPELINE_JOB_ID": str(batch["job_id"]),
        "PIPELINE_BATCH_ID": str(batch["batch_id"]),
        "PIPELINE_ATTEMPT": str(batch["attempt"]),
        "PIPELINE_TRACE_ID": trace_id or "",
    }
    if traceparent:
        environment[TRACEPARENT_ENV] = traceparent
    return environment


def ecs_overrides(spec: EcsTaskTrigger, environment: Mapping[str, str]) -> dict[str, Any]:
    """RunTask's `overrides` for one run of the trigger's container."""
    override: dict[str, Any] = {
        "name": spec.container_name,
        "environment": [{"name": k, "value": v} for k, v in environment.items()],
    }
    if spec.command:
        override["command"] = spec.command
    return {"containerOverrides": [override]}


def overrides_chars(overrides: Mapping[str, Any]) -> int:
    """Characters of `overrides` as botocore puts them on the wire (JSON, ASCII escapes)."""
    return len(json.dumps(overrides))


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
