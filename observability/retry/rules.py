"""Retry rules that travel with a batch, per error, like Step Functions' `Retry`. Pure.

A `RetryPolicy` is an ordered list of `RetryRule`s, names that are never retried, and an
optional default rule. An error is matched by the names of its class and every base class
(a subclass matches), as `Name` or `module.Name`, and by its message and code where a rule
gives them (observability.retry.match); the first rule that matches wins.

Three layers decide, first match wins: the batch's own policy, the job's (set by an
operator with `remediator policy set`), then the settings of the process that recorded the
batch (REMEDIATOR_MAX_ATTEMPTS, ...), stored with the batch when it started. So the
producer and the remediator always decide a batch from the same stored policy, whatever
their own environments say.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from observability.errors import InvalidInput, NonRetryableError
from observability.models.records import iso
from observability.retry.backoff import (
    Exhaust,
    Governed,
    RetryAt,
    RetryRule,
    Verdict,
    _error_name,
)
from observability.triggers import Trigger

if TYPE_CHECKING:
    from observability.retry.match import ErrorFacts
    from observability.settings import Settings

__all__ = [
    "MAX_POLICY_BYTES",
    "Decision",
    "RetryPolicy",
    "StoredRetry",
    "decide_rule",
    "error_names",
    "judge",
]

# Stored in the batch's item (and the job's): small enough to keep an item's writes cheap.
MAX_POLICY_BYTES = 4096
MAX_RULES = 20


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a batch's failures are retried: see the module docstring."""

    rules: tuple[RetryRule, ...] = ()
    never: tuple[str, ...] = ()
    default: RetryRule | None = None

    def __post_init__(self) -> None:
        raw: object = self.rules
        rules = tuple(raw) if isinstance(raw, list | tuple) else None
        if rules is None or not all(isinstance(r, RetryRule) for r in rules):
            raise InvalidInput("retry.rules", "must be a list of RetryRule")
        if len(rules) > MAX_RULES:
            raise InvalidInput("retry.rules", f"has {len(rules)} rules; the limit is {MAX_RULES}")
        for rule in rules:
            if not rule.matches_any:
                raise InvalidInput(
                    f"retry rule {rule.name!r}.errors",
                    "must name at least one error, message or code (a rule for every error "
                    "is `default`)",
                )
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise InvalidInput("retry.rules", f"rule names must be unique: {names}")
        object.__setattr__(self, "rules", rules)
        raw_never: object = self.never
        never = (raw_never,) if isinstance(raw_never, str | type) else raw_never
        if not isinstance(never, tuple | list):
            raise InvalidInput("retry.never", "must be a list of exception class names")
        object.__setattr__(self, "never", tuple(_error_name("retry.never", n) for n in never))
        if self.default is not None and not isinstance(self.default, RetryRule):
            raise InvalidInput("retry.default", "must be a RetryRule")
        size = len(self.to_json().encode("utf-8"))
        if size > MAX_POLICY_BYTES:
            raise InvalidInput(
                "retry", f"is {size} bytes as JSON; the limit is {MAX_POLICY_BYTES} bytes"
            )

    def check_trigger(self, trigger: dict[str, Any] | Trigger) -> None:
        """InvalidInput, naming the rule, when a rule's overrides would take `trigger` past
        its target's limits (checked where a policy and its trigger meet, before any write;
        a policy without overrides costs nothing here)."""
        for rule in (*self.rules, *((self.default,) if self.default else ())):
            if rule.overrides is not None:
                from observability.retry.actions import adjust

                stored = trigger.to_dict() if isinstance(trigger, Trigger) else trigger
                adjust(stored, rule.name, rule.overrides, rule.overrides.from_attempt)

    def find(self, name: str) -> RetryRule | None:
        if self.default is not None and self.default.name == name:
            return self.default
        return next((r for r in self.rules if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.rules:
            out["rules"] = [r.to_dict() for r in self.rules]
        if self.never:
            out["never"] = list(self.never)
        if self.default is not None:
            out["default"] = self.default.to_dict()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> RetryPolicy:
        if not isinstance(data, dict):
            raise InvalidInput("retry", "must be an object with rules, never and default")
        unknown = sorted(set(data) - {"rules", "never", "default"})
        if unknown:
            raise InvalidInput("retry", f"unknown fields {unknown}; known: default, never, rules")
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, list):
            raise InvalidInput("retry.rules", "must be a list")
        never = data.get("never", [])
        if not isinstance(never, list):
            raise InvalidInput("retry.never", "must be a list of exception class names")
        default = data.get("default")
        return cls(
            rules=tuple(RetryRule.from_dict(r, "retry.rules[]") for r in raw_rules),
            never=tuple(never),
            default=RetryRule.from_dict(default, "retry.default") if default else None,
        )

    @classmethod
    def from_json(cls, text: str) -> RetryPolicy:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidInput("retry", f"is not JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_settings(cls, settings: Settings, never: Iterable[str] = ()) -> RetryPolicy:
        """The recording process's defaults, as a policy: its settings' rule and never list."""
        return cls(
            default=RetryRule.from_settings(settings),
            never=(*settings.non_retryable_errors, *never),
        )


def error_names(exc: BaseException) -> tuple[str, ...]:
    """`Name` and `module.Name` of the error's class and of each base class, nearest first."""
    names: list[str] = []
    for kind in type(exc).__mro__:
        if kind is object:
            continue
        name = str(getattr(kind, "__name__", ""))
        module = str(getattr(kind, "__module__", ""))
        names += [name, f"{module}.{getattr(kind, '__qualname__', name)}"]
    return tuple(names)


@dataclass(frozen=True, slots=True)
class Decision:
    """The rule that governs a failure (None: never retried), and where it came from."""

    rule: RetryRule | None
    source: str
    matched: str = ""  # how the error matched (`RuntimeError, code X`; "" for a default rule)

    @property
    def name(self) -> str:
        return self.rule.name if self.rule else "never"


@dataclass(frozen=True, slots=True)
class StoredRetry:
    """What a batch's item stores: its own policy (if it brought one) and the recording
    process's defaults, so that any process decides it the same way."""

    own: RetryPolicy | None
    env: RetryPolicy = field(default_factory=RetryPolicy)

    def to_json(self) -> str:
        # Defaults that are the contract's own are left out (every batch's item holds this):
        # no `env` when no setting changes them (stored policies always named `env` before,
        # so its absence reads as those defaults), else only the default rule's values that
        # differ from the contract's (a rule reads a missing value as the contract's).
        data: dict[str, Any] = {}
        if self.env != _CONTRACT_DEFAULTS:
            env = self.env.to_dict()
            if "default" in env:
                # Its name too, when "default": only an empty rule keeps it (an empty
                # object would read as no default rule).
                env["default"] = {
                    k: v for k, v in env["default"].items() if _CONTRACT_RULE.get(k, _ABSENT) != v
                } or {"name": env["default"]["name"]}
            data["env"] = env
        if self.own is not None:
            data["own"] = self.own.to_dict()
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> StoredRetry | None:
        if not text:
            return None
        data = json.loads(text)
        own = data.get("own")
        env = data.get("env")
        return cls(
            own=RetryPolicy.from_dict(own) if own is not None else None,
            env=RetryPolicy.from_dict(env) if env is not None else _CONTRACT_DEFAULTS,
        )


# The recording process's defaults when no setting changes them: one default rule of the
# contract's values (3 attempts, 60 s base, 3600 s cap, full jitter), no never list.
_CONTRACT_DEFAULTS = RetryPolicy(default=RetryRule())
_CONTRACT_RULE = RetryRule().to_dict()
_ABSENT = object()


def decide_rule(
    error: Sequence[str] | ErrorFacts,
    *layers: tuple[str, RetryPolicy | None],
    fallback: RetryRule,
) -> Decision:
    """The first matching rule across `layers` (name, policy), in order; each layer's rules,
    then its never list. No match: the first layer's default rule, else `fallback`. `error`
    is the error's facts, or only its class names."""
    # Loaded with the first failure: a batch that succeeds never matches a rule.
    from observability.retry.match import ErrorFacts, matches

    facts = error if isinstance(error, ErrorFacts) else ErrorFacts(tuple(error))
    if NonRetryableError.__name__ in facts.names:
        return Decision(None, "code", NonRetryableError.__name__)
    wanted = set(facts.names)
    for source, policy in layers:
        if policy is None:
            continue
        for rule in policy.rules:
            hit = matches(rule, facts)
            if hit is not None:
                return Decision(rule, source, hit)
        hit = next((e for e in policy.never if e in wanted), None)
        if hit is not None:
            return Decision(None, source, hit)
    for source, policy in layers:
        if policy is not None and policy.default is not None:
            return Decision(policy.default, source)
    return Decision(fallback, "settings")


def judge(
    *,
    stored: str | None,
    names: Sequence[str] | ErrorFacts,
    job: RetryPolicy | None,
    fallback: RetryRule,
    attempt: int,
    attempt_floor: int,
    first_failed_at: datetime | None,
    cap_override: int | None,
    has_trigger: bool,
    now: datetime,
    rng: random.Random,
) -> tuple[Verdict, Governed]:
    """Where failed attempt `attempt` leaves its batch, by the rule that governs the error.

    `stored` is the batch's stored policy (`StoredRetry` JSON); `fallback` the deciding
    process's settings, for a batch recorded without one. A replay's `cap_override`
    replaces the rule's cap for that episode. `names` is the error's facts (or only its
    class names). A quarantine rule exhausts at once (`quarantined`); a rule's `wait_until`
    moves the retry to that time of day when its backoff ends sooner.
    """
    kept = StoredRetry.from_json(stored)
    decision = decide_rule(
        names,
        ("batch", kept.own if kept else None),
        ("job", job),
        ("settings", kept.env if kept else None),
        fallback=fallback,
    )
    episode = attempt - attempt_floor
    rule = decision.rule
    if rule is None:
        why = f"{decision.matched} is never retried ({decision.source} policy)"
        return Exhaust("non_retryable"), Governed("never", 0, episode, None, why)
    cap = cap_override or rule.max_attempts
    if rule.quarantine:
        why = f'rule "{rule.name}": quarantined, never retried'
        return Exhaust("quarantined"), Governed(rule.name, episode, episode, None, why)
    first = first_failed_at or now
    deadline = (
        iso(first + timedelta(seconds=rule.max_age_seconds)) if rule.max_age_seconds else None
    )
    if not has_trigger:
        why = "no trigger: nothing can re-run it (give the batch or its job a trigger)"
        return Exhaust("no_trigger"), Governed(rule.name, cap, episode, deadline, why)
    governing = replace(rule, max_attempts=cap) if cap != rule.max_attempts else rule
    verdict = governing.after_failure(
        attempt=attempt,
        retryable=True,
        now=now,
        rng=rng,
        age_seconds=max(0.0, (now - first).total_seconds()),
        attempt_floor=attempt_floor,
    )
    if isinstance(verdict, RetryAt) and rule.wait_until is not None:
        verdict = RetryAt(max(verdict.at, rule.wait_until.next_after(now)), verdict.attempt)
    if isinstance(verdict, Exhaust) and verdict.reason == "max_age":
        why = f'rule "{rule.name}": older than {rule.max_age_seconds:g} s'
    else:
        why = f'rule "{rule.name}": {episode} of {cap} attempts'
    return verdict, Governed(rule.name, cap, episode, deadline, why)
