"""The ECS task trigger: RunTask of one container, and the overrides one run carries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from observability.errors import InvalidInput
from observability.models.keys import MAX_ID_BYTES
from observability.models.traceids import TRACEPARENT_ENV
from observability.triggers.base import Trigger, _required

__all__ = [
    "ECS_LAUNCH_TYPES",
    "MAX_ECS_OVERRIDES_CHARS",
    "EcsTaskTrigger",
    "ecs_environment",
    "ecs_overrides",
    "overrides_chars",
]

# RunTask: "A total of 8192 characters are allowed for overrides", JSON formatting included.
MAX_ECS_OVERRIDES_CHARS = 8192
ECS_LAUNCH_TYPES = ("EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES")
# awsvpcConfiguration: at most 16 subnets and 5 security groups.
_MAX_SUBNETS = 16
_MAX_SECURITY_GROUPS = 5
# The longest batch fields a RunTask carries, as JSON on the wire: ids of MAX_ID_BYTES of
# UTF-8 whose every character is escaped ("\ud83d\ude00" is 12 characters for 4 bytes), the
# trace id (a 32-character run id; 64 allowed), and a 10-digit attempt.
_WIDEST_ID = "\U0001f600" * (MAX_ID_BYTES // 4)
_WIDEST_FIELDS = {"job_id": _WIDEST_ID, "batch_id": _WIDEST_ID, "attempt": "9" * 10}
_WIDEST_TRACE = "t" * 64
_WIDEST_TRACEPARENT = f"00-{'f' * 32}-{'f' * 16}-01"


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
