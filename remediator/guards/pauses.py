"""Pauses set by a person: a job's, or a trigger target's, all in one item (`TABLE`/`PAUSES`).

Each pause is one attribute of the item, named by its scope (`JOB#<job>`, `TARGET#<key>`),
whose value is a map: who (the STS ARN, the declared operator beside it), when, why, until.
A resume marks the entry resumed (who, when) rather than deleting it, so the item keeps the
last word on every scope. Pure: the item's reading and the matching; the watch re-reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from observability.models import Plain, iso, plain_item
from remediator.triggers.names import target_key, target_keys

__all__ = ["JOB", "TARGET", "Pause", "PauseSet", "scope_attribute"]

JOB, TARGET = "job", "target"


def scope_attribute(scope: str, name: str) -> str:
    """The item attribute that holds the pause of a job or of a target (by its key)."""
    return f"JOB#{name}" if scope == JOB else f"TARGET#{target_key(name)}"


def _text(data: Mapping[str, Plain], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Pause:
    """One pause, as written by `remediator pause` (and marked by `resume`)."""

    scope: str  # JOB or TARGET
    name: str  # the job id, or the target as the person named it
    reason: str
    actor: str  # the caller's STS ARN
    at: str
    operator: str | None = None  # declared with --operator, beside the ARN
    until: str | None = None
    resumed_at: str | None = None
    resumed_by: str | None = None
    resumed_operator: str | None = None

    @property
    def attribute(self) -> str:
        return scope_attribute(self.scope, self.name)

    def active(self, now: datetime) -> bool:
        return self.resumed_at is None and (self.until is None or self.until > iso(now))

    def value(self) -> dict[str, Plain]:
        """The map stored under `attribute` (no empty fields)."""
        return {k: v for k, v in self.as_dict().items() if v is not None}

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "name": self.name,
            "reason": self.reason,
            "actor": self.actor,
            "operator": self.operator,
            "at": self.at,
            "until": self.until,
            "resumed_at": self.resumed_at,
            "resumed_by": self.resumed_by,
            "resumed_operator": self.resumed_operator,
        }

    @classmethod
    def from_plain(cls, data: Mapping[str, Plain]) -> Pause | None:
        scope, name = _text(data, "scope"), _text(data, "name")
        if scope not in (JOB, TARGET) or name is None:
            return None  # not a pause this version knows: ignored, never fatal
        return cls(
            scope=scope,
            name=name,
            reason=_text(data, "reason") or "",
            actor=_text(data, "actor") or "",
            at=_text(data, "at") or "",
            operator=_text(data, "operator"),
            until=_text(data, "until"),
            resumed_at=_text(data, "resumed_at"),
            resumed_by=_text(data, "resumed_by"),
            resumed_operator=_text(data, "resumed_operator"),
        )


@dataclass(frozen=True, slots=True)
class PauseSet:
    """Every pause in the item, by its attribute."""

    pauses: Mapping[str, Pause] = field(default_factory=dict)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> PauseSet:
        found = {}
        for name, value in plain_item(item).items():
            if name.startswith(("JOB#", "TARGET#")) and isinstance(value, dict):
                pause = Pause.from_plain(value)
                if pause is not None:
                    found[name] = pause
        return cls(found)

    def active(self, now: datetime) -> list[Pause]:
        return [p for p in self.pauses.values() if p.active(now)]

    def job(self, job_id: str, now: datetime) -> Pause | None:
        pause = self.pauses.get(scope_attribute(JOB, job_id))
        return pause if pause is not None and pause.active(now) else None

    def targets_paused(self, now: datetime) -> bool:
        return any(p.scope == TARGET for p in self.active(now))

    def target(self, trigger: dict[str, Any] | None, now: datetime) -> Pause | None:
        """The active pause of the target `trigger` fires at, if any."""
        for key in sorted(target_keys(trigger)):
            pause = self.pauses.get(f"TARGET#{key}")
            if pause is not None and pause.active(now):
                return pause
        return None

    def holding(self, job_id: str, trigger: dict[str, Any] | None, now: datetime) -> Pause | None:
        """The pause that holds a batch of `job_id` firing `trigger`: its job's first."""
        return self.job(job_id, now) or self.target(trigger, now)
