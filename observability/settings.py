"""Configuration from the environment (prefix REMEDIATOR_, `.env` supported).

Errors name the environment variable, its value and the limit, never a field path. The
fields are read by `observability.envconfig`, not pydantic: a pipeline's cold start pays
for every import.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, TypeVar

from observability.envconfig import EnvSettings, SettingsError, rule, setting
from observability.errors import ConfigError

__all__ = [
    "DEFAULT_HEARTBEAT_SECONDS",
    "ENV_PREFIX",
    "MISSED_BEATS",
    "Settings",
    "env_name",
    "heartbeat_defaults",
    "load_settings",
]

ENV_PREFIX = "REMEDIATOR_"
RETENTION_MARGIN_SECONDS = 86_400.0
DEFAULT_HEARTBEAT_SECONDS = 60.0
# A run is dead after this many beats missed in a row (the default stale window).
MISSED_BEATS = 3
UNBEATEN_STALE_SECONDS = 3600.0
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


def _table_name(value: str) -> str:
    if not _TABLE_NAME.match(value):
        raise ValueError("must be 3 to 255 characters of A-Z a-z 0-9 _ . -")
    return value


def _topic_arn(value: str) -> str:
    if not value.startswith("arn:"):
        raise ValueError("must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
    return value


class Settings(EnvSettings):
    """Settings shared by the producer library and the remediator."""

    model_config: ClassVar[dict[str, Any]] = {"env_prefix": ENV_PREFIX, "env_file": ".env"}

    table_name: str = setting("pipeline-audit", check=_table_name)
    topic_arn: str | None = setting(None, check=_topic_arn)
    queue_url: str | None = None
    max_attempts: int = setting(3, ge=1, le=100)
    backoff_base_seconds: float = setting(60.0, ge=0, le=86_400)
    backoff_max_seconds: float = setting(3600.0, ge=0, le=7 * 86_400)
    max_age_seconds: float | None = setting(None, ge=1, le=365 * 86_400)
    # 0 turns the automatic heartbeat off (the job opts out: its runs are stale after
    # REMEDIATOR_STALE_AFTER_SECONDS, an hour unless set, with no beat between).
    heartbeat_seconds: float = setting(DEFAULT_HEARTBEAT_SECONDS, ge=0, le=86_400)
    stale_after_seconds: float = setting(
        MISSED_BEATS * DEFAULT_HEARTBEAT_SECONDS, ge=1, le=7 * 86_400
    )
    ttl_days: int = setting(90, ge=1, le=3650)
    retry_shards: int = setting(8, ge=1, le=64)
    non_retryable_errors: tuple[str, ...] = ()
    policy_cache_seconds: float = setting(60.0, ge=0, le=3600)
    metrics_enabled: bool = True
    metrics_namespace: str = setting("SelfHealingPipelines", min_length=1, max_length=255)
    # Settings(region=...) works as well as AWS_REGION.
    region: str | None = setting(None, aliases=("AWS_REGION", "AWS_DEFAULT_REGION"))

    @classmethod
    def _prepare(cls, given: dict[str, Any]) -> dict[str, Any]:
        """Each of the two from the other when only one is set (see `heartbeat_defaults`)."""
        beat, window = heartbeat_defaults(
            given.get("heartbeat_seconds"), given.get("stale_after_seconds")
        )
        return {**given, "heartbeat_seconds": beat, "stale_after_seconds": window}

    @rule
    def _window_spans_beats(self) -> None:
        if self.heartbeat_seconds and self.stale_after_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                f"{env_name('stale_after_seconds')} ({self.stale_after_seconds:g}) must be at "
                f"least twice {env_name('heartbeat_seconds')} ({self.heartbeat_seconds:g}): "
                "a live run would be taken for dead between two beats"
            )

    @rule
    def _retention_outlasts_retries(self) -> None:
        # An item that expires before its retry is due, or before a dead run's stale deadline,
        # is work lost in silence: the retention must outlast both, with a day to spare.
        needed = self.backoff_max_seconds + self.stale_after_seconds + RETENTION_MARGIN_SECONDS
        if self.ttl_days * 86_400 < needed:
            raise ValueError(
                f"{env_name('ttl_days')} ({self.ttl_days}) must outlast "
                f"{env_name('backoff_max_seconds')} ({self.backoff_max_seconds:g} s) plus "
                f"{env_name('stale_after_seconds')} ({self.stale_after_seconds:g} s) plus a day: "
                f"at least {math.ceil(needed / 86_400)} days"
            )

    @rule
    def _backoff_order(self) -> None:
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ValueError(
                f"{env_name('backoff_max_seconds')} ({self.backoff_max_seconds:g}) must be at "
                f"least {env_name('backoff_base_seconds')} ({self.backoff_base_seconds:g})"
            )


def heartbeat_defaults(beat: Any, window: Any) -> tuple[Any, Any]:
    """(heartbeat interval, stale window) from what was given of them. Neither: 60 s and
    `MISSED_BEATS` of them. A window alone: beats a third of it apart, at most a minute. An
    interval alone: the window is `MISSED_BEATS` of it, or an hour when the beat is off (0).
    Values that are not numbers are handed on as they are, for the field to name."""

    def number(value: Any) -> float | None:
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            return None

    b, w = number(beat), number(window)
    if (beat not in (None, "") and b is None) or (window not in (None, "") and w is None):
        return beat, window
    if b is None:
        b = DEFAULT_HEARTBEAT_SECONDS if w is None else min(DEFAULT_HEARTBEAT_SECONDS, w / 3)
    if w is None:
        w = MISSED_BEATS * b if b > 0 else UNBEATEN_STALE_SECONDS
    # What was given goes on as given: an error then names the value as it was set.
    return (b if beat in (None, "") else beat), (w if window in (None, "") else window)


def env_name(field: str) -> str:
    if field == "region":
        return "AWS_REGION"
    return f"{ENV_PREFIX}{field.upper()}"


S = TypeVar("S", bound=Settings)


def load_settings(cls: type[S] = Settings, **overrides: Any) -> S:  # type: ignore[assignment]
    """Settings from the environment and overrides, or ConfigError naming the variable."""
    try:
        return cls(**overrides)
    except SettingsError as exc:
        problems = []
        for err in exc.errors():
            loc = err.get("loc") or ()
            if loc:
                problems.append(f"{env_name(str(loc[0]))}={err.get('input')!r}: {err['msg']}")
            else:
                problems.append(err["msg"])
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
