"""Configuration from the environment (prefix REMEDIATOR_, `.env` supported).

Errors name the environment variable, its value and the limit, never a pydantic field path.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Self, TypeVar

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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


class Settings(BaseSettings):
    """Settings shared by the producer library and the remediator."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        frozen=True,
        populate_by_name=True,  # Settings(region=...) works as well as AWS_REGION
    )

    table_name: str = "pipeline-audit"
    topic_arn: str | None = None
    queue_url: str | None = None
    max_attempts: int = Field(3, ge=1, le=100)
    backoff_base_seconds: float = Field(60.0, ge=0, le=86_400)
    backoff_max_seconds: float = Field(3600.0, ge=0, le=7 * 86_400)
    max_age_seconds: float | None = Field(None, ge=1, le=365 * 86_400)
    # 0 turns the automatic heartbeat off (the job opts out: its runs are stale after
    # REMEDIATOR_STALE_AFTER_SECONDS, an hour unless set, with no beat between).
    heartbeat_seconds: float = Field(None, ge=0, le=86_400)  # type: ignore[assignment]
    stale_after_seconds: float = Field(None, ge=1, le=7 * 86_400)  # type: ignore[assignment]
    ttl_days: int = Field(90, ge=1, le=3650)
    retry_shards: int = Field(8, ge=1, le=64)
    non_retryable_errors: Annotated[tuple[str, ...], NoDecode] = ()
    policy_cache_seconds: float = Field(60.0, ge=0, le=3600)
    metrics_enabled: bool = True
    metrics_namespace: str = Field("SelfHealingPipelines", min_length=1, max_length=255)
    region: str | None = Field(
        None, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )

    @field_validator("table_name")
    @classmethod
    def _table_name(cls, value: str) -> str:
        if not _TABLE_NAME.match(value):
            raise ValueError("must be 3 to 255 characters of A-Z a-z 0-9 _ . -")
        return value

    @field_validator("topic_arn", "queue_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("topic_arn")
    @classmethod
    def _topic_arn(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("arn:"):
            raise ValueError("must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        return value or None

    @field_validator("non_retryable_errors", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="before")
    @classmethod
    def _heartbeat_and_window(cls, data: Any) -> Any:
        """Each of the two from the other when only one is set (see `heartbeat_defaults`)."""
        if not isinstance(data, dict):
            return data
        beat, window = heartbeat_defaults(
            data.get("heartbeat_seconds"), data.get("stale_after_seconds")
        )
        return {**data, "heartbeat_seconds": beat, "stale_after_seconds": window}

    @model_validator(mode="after")
    def _window_spans_beats(self) -> Self:
        if self.heartbeat_seconds and self.stale_after_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                f"{env_name('stale_after_seconds')} ({self.stale_after_seconds:g}) must be at "
                f"least twice {env_name('heartbeat_seconds')} ({self.heartbeat_seconds:g}): "
                "a live run would be taken for dead between two beats"
            )
        return self

    @model_validator(mode="after")
    def _retention_outlasts_retries(self) -> Self:
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
        return self

    @model_validator(mode="after")
    def _backoff_order(self) -> Self:
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ValueError(
                f"{env_name('backoff_max_seconds')} ({self.backoff_max_seconds:g}) must be at "
                f"least {env_name('backoff_base_seconds')} ({self.backoff_base_seconds:g})"
            )
        return self


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
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = err.get("loc") or ()
            if loc:
                name = env_name(str(loc[0]))
                problems.append(f"{name}={err.get('input')!r}: {err['msg']}")
            else:
                problems.append(err["msg"].removeprefix("Value error, "))
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
