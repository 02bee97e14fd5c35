"""Where alerts go, from the environment (prefix REMEDIATOR_, `.env` supported). Pure.

Each destination is given directly (URL, routing key) or through an indirection
(SSM parameter, Secrets Manager secret) that is read at run time; never both.
"""

from __future__ import annotations

from typing import Self
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from remediator.alerts.errors import AlertConfigError

__all__ = ["PAGERDUTY_EVENTS_URL", "AlertSettings", "check_http_url", "load_alert_settings"]

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_PREFIX = "REMEDIATOR_"


def check_http_url(value: str) -> str:
    """The URL itself, if it is http(s) with a host; the error never repeats it (it is a secret)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host (value not shown)")
    return value.strip()


class AlertSettings(BaseSettings):
    """Destinations of alerts and the bounds of each HTTP delivery."""

    model_config = SettingsConfigDict(
        env_prefix=_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    slack_webhook_url: SecretStr | None = None
    slack_webhook_ssm_parameter: str | None = Field(None, min_length=1, max_length=2048)
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_routing_key_secret_arn: str | None = Field(None, min_length=1, max_length=2048)
    pagerduty_url: str = PAGERDUTY_EVENTS_URL
    alert_http_timeout_seconds: float = Field(5.0, gt=0, le=30)
    alert_http_max_attempts: int = Field(3, ge=1, le=10)
    alert_http_max_seconds: float = Field(20.0, gt=0, le=120)
    # Kept free before the Lambda function's deadline to return the partial batch response.
    alert_deadline_margin_seconds: float = Field(2.0, ge=0, le=30)
    region: str | None = Field(
        None, validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )

    @field_validator("slack_webhook_url", "pagerduty_routing_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # An empty variable (common in templates) means "not configured", not "empty secret".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("slack_webhook_url")
    @classmethod
    def _slack_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        return SecretStr(check_http_url(value.get_secret_value()))

    @field_validator("pagerduty_url")
    @classmethod
    def _pagerduty_url(cls, value: str) -> str:
        return check_http_url(value)

    @model_validator(mode="after")
    def _one_source_each(self) -> Self:
        pairs = (
            ("slack_webhook_url", "slack_webhook_ssm_parameter"),
            ("pagerduty_routing_key", "pagerduty_routing_key_secret_arn"),
        )
        for direct, indirect in pairs:
            if getattr(self, direct) is not None and getattr(self, indirect) is not None:
                raise ValueError(
                    f"set {_env_name(direct)} or {_env_name(indirect)}, not both: "
                    "which one is meant is ambiguous"
                )
        return self


def _env_name(field: str) -> str:
    return "AWS_REGION" if field == "region" else f"{_PREFIX}{field.upper()}"


def load_alert_settings(**overrides: object) -> AlertSettings:
    """Settings from the environment and overrides, or AlertConfigError naming the variable.

    Input values are left out of the message: some of them are secrets.
    """
    try:
        return AlertSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = err.get("loc") or ()
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{_env_name(str(loc[0]))}: {message}" if loc else message)
        raise AlertConfigError("invalid alert configuration: " + "; ".join(problems)) from None
