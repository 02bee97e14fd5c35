"""What a rule does beyond retrying with backoff: change the trigger from an attempt on
(`Overrides`), wait for a time of day (`WaitUntil`). Pure.

Overrides apply from episode attempt `from_attempt` on: `patch`, a JSON merge patch (RFC
7396) on the trigger's payload (an SQS body, a Lambda payload, a Step Functions input, an
EventBridge detail; an ECS task's environment), and `ecs`, the task's cpu and memory
multiplied per attempt (`"memory": "x2"`: twice on the first overridden attempt, four times
on the next) up to a ceiling. What they make must stay within the target's limits: a
patched trigger is rebuilt (every trigger check runs again), and every size the factors
reach is one Fargate runs; both are checked where the rule is set, not when it fires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from observability.errors import InvalidInput
from observability.triggers import trigger_from_dict
from observability.triggers.sizes import fargate_size_problem

__all__ = [
    "Adjusted",
    "EcsScale",
    "Overrides",
    "WaitUntil",
    "adjust",
    "merge_patch",
    "told",
]

_FACTOR = re.compile(r"^x(\d+(?:\.\d+)?)$")
_MAX_FACTOR = 16.0
_WAIT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d) (\S{1,64})$")
# Every overridden attempt a rule can reach (attempt caps are at most 100) is checked.
_MAX_STEPS = 100


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: an object patch merges key by key (null removes the key); anything else
    replaces the target whole."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _factor(where: str, value: object) -> float:
    found = _FACTOR.match(value) if isinstance(value, str) else None
    factor = float(found.group(1)) if found else 0.0
    if not 1.0 <= factor <= _MAX_FACTOR:
        raise InvalidInput(where, f'must be a factor "x1" to "x{_MAX_FACTOR:g}", got {value!r}')
    return factor


def _size(where: str, data: object, *, required: bool) -> dict[str, int]:
    if data is None and not required:
        return {}
    if not isinstance(data, dict) or not set(data) <= {"cpu", "memory"}:
        raise InvalidInput(where, "must be an object of cpu (units) and memory (MiB)")
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InvalidInput(f"{where}.{name}", f"must be a positive integer, got {value!r}")
    if required and set(data) != {"cpu", "memory"}:
        raise InvalidInput(where, "must give both cpu and memory: the task definition's size")
    return dict(data)


@dataclass(frozen=True, slots=True)
class EcsScale:
    """An ECS task's size per attempt: `size` (the task definition's) times the factors,
    each capped at its ceiling."""

    cpu: int
    memory: int
    cpu_factor: float = 1.0
    memory_factor: float = 1.0
    ceiling: tuple[tuple[str, int], ...] = ()

    def at_step(self, step: int) -> tuple[int, int]:
        """(cpu, memory) of the `step`-th overridden attempt (1: the first)."""
        top = dict(self.ceiling)
        cpu = min(int(self.cpu * self.cpu_factor**step), top.get("cpu", self.cpu))
        memory = min(int(self.memory * self.memory_factor**step), top.get("memory", self.memory))
        return cpu, memory

    def capped(self, step: int) -> bool:
        """Whether a ceiling holds a size of the `step`-th overridden attempt down."""
        top = dict(self.ceiling)
        return any(
            base * factor**step > top[name]
            for name, base, factor in (
                ("cpu", self.cpu, self.cpu_factor), ("memory", self.memory, self.memory_factor),
            )
            if name in top
        )  # fmt: skip

    @classmethod
    def from_dict(cls, where: str, data: object) -> EcsScale:
        if not isinstance(data, dict):
            raise InvalidInput(where, "must be an object: size, cpu, memory, ceiling")
        unknown = sorted(set(data) - {"size", "cpu", "memory", "ceiling"})
        if unknown:
            known = "ceiling, cpu, memory, size"
            raise InvalidInput(where, f"unknown fields {unknown}; known: {known}")
        size = _size(f"{where}.size", data.get("size"), required=True)
        ceiling = _size(f"{where}.ceiling", data.get("ceiling"), required=False)
        factors = {}
        for name in ("cpu", "memory"):
            factors[name] = _factor(f"{where}.{name}", data[name]) if name in data else 1.0
            if factors[name] > 1.0 and name not in ceiling:
                raise InvalidInput(f"{where}.ceiling.{name}", f"is required with a {name} factor")
        scale = cls(
            size["cpu"], size["memory"], factors["cpu"], factors["memory"],
            tuple(sorted(ceiling.items())),
        )  # fmt: skip
        for step in range(_MAX_STEPS + 1):
            cpu, memory = scale.at_step(step)
            problem = fargate_size_problem(cpu, memory)
            if problem is not None:
                what = "the size" if step == 0 else f"overridden attempt {step}"
                raise InvalidInput(where, f"{what} would run {problem}")
        return scale

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": {"cpu": self.cpu, "memory": self.memory}}
        if self.cpu_factor != 1.0:
            out["cpu"] = f"x{self.cpu_factor:g}"
        if self.memory_factor != 1.0:
            out["memory"] = f"x{self.memory_factor:g}"
        if self.ceiling:
            out["ceiling"] = dict(self.ceiling)
        return out


@dataclass(frozen=True, slots=True)
class Overrides:
    """How a rule changes the trigger from episode attempt `from_attempt` on."""

    from_attempt: int = 2
    patch: Any = None
    ecs: EcsScale | None = None

    def step(self, episode_attempt: int) -> int:
        """Which overridden attempt `episode_attempt` is (0: not overridden)."""
        return max(0, episode_attempt - self.from_attempt + 1)

    @classmethod
    def from_dict(cls, where: str, data: object) -> Overrides:
        if isinstance(data, Overrides):
            return data
        if not isinstance(data, dict):
            raise InvalidInput(where, "must be an object: from_attempt, patch, ecs")
        unknown = sorted(set(data) - {"from_attempt", "patch", "ecs"})
        if unknown:
            raise InvalidInput(where, f"unknown fields {unknown}; known: ecs, from_attempt, patch")
        start = data.get("from_attempt", 2)
        if isinstance(start, bool) or not isinstance(start, int) or not 2 <= start <= 100:
            raise InvalidInput(f"{where}.from_attempt", f"must be 2 to 100, got {start!r}")
        if data.get("patch") is None and data.get("ecs") is None:
            raise InvalidInput(where, "must give a patch, ecs, or both")
        ecs = EcsScale.from_dict(f"{where}.ecs", data["ecs"]) if data.get("ecs") else None
        return cls(start, data.get("patch"), ecs)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"from_attempt": self.from_attempt}
        if self.patch is not None:
            out["patch"] = self.patch
        if self.ecs is not None:
            out["ecs"] = self.ecs.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class Adjusted:
    """A trigger as one attempt runs it: the stored one with the rule's overrides, the ECS
    task size (cpu, memory) if one is set, and one line for its history event."""

    trigger: dict[str, Any]
    task_size: tuple[int, int] | None = None
    ran_with: str = ""


def adjust(
    trigger: dict[str, Any], rule: str, overrides: Overrides | None, episode_attempt: int
) -> Adjusted:
    """`trigger` as episode attempt `episode_attempt` runs it under rule `rule`'s overrides.
    InvalidInput (naming the rule) when the patched trigger breaks its target's limits."""
    step = overrides.step(episode_attempt) if overrides else 0
    if overrides is None or step == 0:
        return Adjusted(trigger)
    out = trigger
    field = type(trigger_from_dict(trigger)).payload_field
    if overrides.patch is not None:
        out = {**trigger, field: merge_patch(trigger.get(field), overrides.patch)}
        try:
            trigger_from_dict(out)
        except InvalidInput as exc:
            raise InvalidInput(f"retry rule {rule!r}.overrides.patch", f"makes {exc}") from None
    ecs = overrides.ecs is not None and trigger.get("kind") == "ecs"
    size = overrides.ecs.at_step(step) if overrides.ecs is not None and ecs else None
    return Adjusted(out, size, told(rule, overrides, episode_attempt, field=field, ecs=ecs))


def told(
    rule: str, overrides: Overrides, episode_attempt: int, *, field: str = "payload",
    ecs: bool = True,
) -> str:  # fmt: skip
    """What episode attempt `episode_attempt` runs with, for people: `memory 8192 (x2 from
    rule oom)` ("" when the overrides do not apply to it). `field` is what a patch changes;
    `ecs` whether the trigger is an ECS task's (else its sizes are not said)."""
    step = overrides.step(episode_attempt)
    if step == 0:
        return ""
    said = [f"{field} patched (from rule {rule})"] if overrides.patch is not None else []
    scale = overrides.ecs
    if scale is not None and ecs:
        cpu, memory = scale.at_step(step)
        top = f", at its ceiling, from rule {rule}" if scale.capped(step) else f" from rule {rule}"
        if scale.cpu_factor != 1.0:
            said.append(f"cpu {cpu} (x{scale.cpu_factor:g}{top})")
        if scale.memory_factor != 1.0:
            said.append(f"memory {memory} (x{scale.memory_factor:g}{top})")
    return ", ".join(said)


@dataclass(frozen=True, slots=True)
class WaitUntil:
    """A time of day in a time zone (`00:00 America/Los_Angeles`): a retry waits for its
    next occurrence (a quota that resets at midnight there), or its backoff if later."""

    hour: int
    minute: int
    zone: str

    @classmethod
    def parse(cls, where: str, text: object) -> WaitUntil:
        if isinstance(text, WaitUntil):
            return text
        found = _WAIT.match(text) if isinstance(text, str) else None
        if found is None:
            raise InvalidInput(where, f'must be "HH:MM Zone" (00:00 Europe/Paris), got {text!r}')
        try:
            ZoneInfo(found.group(3))
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(where, f"names no known time zone: {found.group(3)!r}") from None
        return cls(int(found.group(1)), int(found.group(2)), found.group(3))

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d} {self.zone}"

    def next_after(self, now: datetime) -> datetime:
        """The first moment after `now` when the zone's clock shows the time (UTC)."""
        zone = ZoneInfo(self.zone)
        local = now.astimezone(zone)
        at = datetime.combine(local.date(), time(self.hour, self.minute), tzinfo=zone)
        if at <= local:
            at = datetime.combine(
                local.date() + timedelta(days=1), time(self.hour, self.minute), tzinfo=zone
            )
        return at.astimezone(now.tzinfo)
