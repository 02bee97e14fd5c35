"""Which rule governs an error, from which layer, and the delays its next attempts draw. Pure.

The layers are the ones a failure is judged by (observability.retry.judge): the batch's own
policy, the job's, then the settings of the process that recorded the batch. The delays are
the rule's own bounds (`RetryRule.delay_bound`, tenacity's), so what is shown here is what
the producer and the remediator draw from.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from observability.errors import InvalidInput
from observability.models import iso
from observability.retry import RetryPolicy, decide_rule
from observability.retry.actions import adjust, told
from observability.retry.backoff import RetryRule
from observability.retry.match import ErrorFacts

__all__ = [
    "Delay",
    "ErrorSpec",
    "GiveUp",
    "Layer",
    "Match",
    "delays",
    "give_up",
    "match",
    "names_of",
    "parse_error",
    "runs_with",
]

_CODE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
_TYPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class Layer(StrEnum):
    """Where the rule that governs a failure comes from, first match wins in this order."""

    BATCH = "batch"  # the policy the pipeline gave the batch
    JOB = "job"  # `remediator policy set`
    SETTINGS = "settings"  # REMEDIATOR_* of the process that recorded the batch
    CODE = "code"  # NonRetryableError: never retried, whatever the policies say
    UNKNOWN = "unknown"  # the recorded rule is no longer in any layer


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """An error as a person types it: `Type: message` (the message is optional), and the
    code it carries (`--code`); for a run AWS stopped, its exit code and stop reason."""

    type: str
    message: str = ""
    code: str | None = None
    exit_code: int | None = None
    reason: str | None = None

    def facts(self) -> ErrorFacts:
        """The error as rules see it (a built-in type brings its bases: `names_of`)."""
        return ErrorFacts(
            names_of(self.type), self.message, self.code, self.exit_code, self.reason or None
        )


def parse_error(
    text: str, code: str | None = None, *, exit_code: int | None = None, reason: str | None = None
) -> ErrorSpec:
    """`TimeoutError: read timed out` -> ErrorSpec; ValueError with one line on what is wrong."""
    kind, _, message = text.partition(":")
    kind = kind.strip()
    if not _TYPE.match(kind):
        raise ValueError(
            f"--error {text!r}: expected 'Type: message', Type an exception class name "
            "(TimeoutError, botocore.exceptions.ReadTimeoutError)"
        )
    if code is not None and not _CODE.match(code):
        raise ValueError(f"--code {code!r}: expected 1 to 64 of A-Z a-z 0-9 _ . : / -")
    return ErrorSpec(kind, message.strip(), code, exit_code, reason)


def names_of(error_type: str) -> tuple[str, ...]:
    """The names a rule can match the error by. A built-in exception brings its bases, as the
    raised exception would (`TimeoutError` is also an `OSError`); another class only its
    own name (and its dotted one): its bases are not known here."""
    short = error_type.rpartition(".")[2]
    found = getattr(builtins, short, None) if short == error_type else None
    if isinstance(found, type) and issubclass(found, BaseException):
        return tuple(
            name
            for kind in found.__mro__
            if kind is not object
            for name in (kind.__name__, f"builtins.{kind.__name__}")
        )
    return (short, error_type) if short != error_type else (short,)


@dataclass(frozen=True, slots=True)
class Match:
    """The rule that governs an error (None: never retried), its layer, and by which name."""

    rule: RetryRule | None
    layer: Layer
    matched: str = ""  # the error name a rule or never list named ("" for a default rule)

    @property
    def name(self) -> str:
        return self.rule.name if self.rule else "never"


def match(
    names: Sequence[str] | ErrorFacts,
    *,
    batch: RetryPolicy | None,
    job: RetryPolicy | None,
    settings: RetryPolicy | None,
    fallback: RetryRule,
    recorded: str | None = None,
) -> Match:
    """The rule the layers give the error (its facts, or its class names). With `recorded`
    (the rule name a failure was judged by, which governs it even if a policy changed
    since), that rule: found by the error when it leads to it, else by its name in the
    first layer that has it."""
    layers = ((Layer.BATCH, batch), (Layer.JOB, job), (Layer.SETTINGS, settings))
    decision = decide_rule(names, *((str(k), p) for k, p in layers), fallback=fallback)
    found = Match(decision.rule, Layer(decision.source), decision.matched)
    if recorded is None or found.name == recorded:
        return found
    if recorded == "never":
        return Match(None, Layer.UNKNOWN)
    for layer, policy in layers:
        rule = policy.find(recorded) if policy else None
        if rule is not None:
            return Match(rule, layer)
    if fallback.name == recorded:
        return Match(fallback, Layer.SETTINGS)
    return Match(None, Layer.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Delay:
    """The wait before episode attempt `attempt`, counted from the failure of the one before:
    drawn uniformly in [low, high] with full jitter, exactly `high` without."""

    attempt: int
    low: float
    high: float

    def as_dict(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "low_seconds": self.low, "high_seconds": self.high}


def delays(rule: RetryRule, after: int, cap: int) -> list[Delay]:
    """The delays of episode attempts `after + 1` to `cap` (each after the one before fails)."""
    out = []
    for failed in range(max(after, 1), cap):
        high = rule.delay_bound(failed)
        out.append(Delay(failed + 1, 0.0 if rule.jitter == "full" else high, high))
    return out


@dataclass(frozen=True, slots=True)
class GiveUp:
    """When automatic retries end: after episode attempt `cap`, or at `deadline` (the rule's
    maximum age from the first failure), whichever comes first. `latest` is when the last
    retry starts at the latest if every run fails at once (the upper bounds added up)."""

    cap: int
    deadline: str | None = None
    max_age_seconds: float | None = None
    latest: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_attempts": self.cap,
            "max_age_seconds": self.max_age_seconds,
            "deadline": self.deadline,
            "last_retry_by": self.latest,
        }


def give_up(
    rule: RetryRule,
    cap: int,
    *,
    first_failed: datetime | None,
    last_failed: datetime | None,
    pending: Sequence[Delay],
    deadline: str | None = None,
) -> GiveUp:
    """The end of the episode: the recorded `deadline` if any, else the rule's maximum age
    from `first_failed`; `latest` from `last_failed` and the delays still to come."""
    if deadline is None and rule.max_age_seconds and first_failed:
        deadline = iso(first_failed + timedelta(seconds=rule.max_age_seconds))
    latest = None
    if last_failed is not None and pending:
        latest = iso(last_failed + timedelta(seconds=sum(d.high for d in pending)))
        if deadline is not None:
            latest = min(latest, deadline)
    return GiveUp(cap, deadline, rule.max_age_seconds, latest)


def runs_with(rule: RetryRule, trigger: dict[str, Any] | None, attempts: range) -> list[str]:
    """What each of `attempts` (episode attempts) runs with under the rule's overrides:
    `attempt 3: memory 8192 (x2) from rule oom`. With the trigger known, as the service will
    build it (a patch that would break the target's limits says so); else the overrides."""
    overrides = rule.overrides
    if overrides is None:
        return []
    out = []
    for attempt in attempts:
        if trigger:
            try:
                said = adjust(trigger, rule.name, overrides, attempt).ran_with
            except InvalidInput as exc:
                said = f"refused: {exc}"
        else:
            said = told(rule.name, overrides, attempt)
        if said:
            out.append(f"attempt {attempt}: {said}")
    return out
