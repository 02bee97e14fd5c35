"""The Slack webhook URL and PagerDuty routing key: from settings, SSM or Secrets Manager.

An indirection is read once per process (a Lambda cold start) and kept: warm invocations
make no call. A failed read is not kept, so the next invocation tries again. A
destination that is not configured at all is logged once and then skipped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from observability.logger import get_logger
from remediator.alerts.errors import DestinationUnavailable
from remediator.alerts.settings import AlertSettings, check_http_url

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient

    from observability.clients import AwsClients

__all__ = ["PAGERDUTY", "SLACK", "Destinations"]

SLACK = "Slack"
PAGERDUTY = "PagerDuty"
# Keys tried, in order, when a routing-key secret holds JSON rather than the bare key.
_SECRET_KEYS = ("routing_key", "integration_key", "pagerduty_routing_key")

log = get_logger(__name__)


def _code(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


class _Cached:
    """A value computed on first success and kept; failures are raised and not kept."""

    def __init__(self, compute: Callable[[], str | None]) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._done = False
        self._value: str | None = None

    def get(self) -> str | None:
        if self._done:
            return self._value
        with self._lock:
            if not self._done:
                self._value = self._compute()
                self._done = True
            return self._value


class Destinations:
    """Resolves each destination's secret at most once per process."""

    def __init__(self, settings: AlertSettings, clients: Callable[[], AwsClients]) -> None:
        self._settings = settings
        self._clients = clients
        self._slack = _Cached(self._slack_url)
        self._pagerduty = _Cached(self._routing_key)

    def slack_url(self) -> str | None:
        """The webhook URL, or None when Slack is not configured."""
        return self._slack.get()

    def pagerduty_routing_key(self) -> str | None:
        """The routing key, or None when PagerDuty is not configured."""
        return self._pagerduty.get()

    def _slack_url(self) -> str | None:
        settings = self._settings
        if settings.slack_webhook_url is not None:
            return settings.slack_webhook_url.get_secret_value()
        name = settings.slack_webhook_ssm_parameter
        if name is None:
            log.warning(
                "Slack is not configured (set REMEDIATOR_SLACK_WEBHOOK_URL or "
                "REMEDIATOR_SLACK_WEBHOOK_SSM_PARAMETER): Slack messages are skipped"
            )
            return None
        ssm: SSMClient = self._clients().client("ssm")
        try:
            value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        except (ClientError, BotoCoreError) as exc:
            raise DestinationUnavailable(
                f"SSM parameter {name!r} could not be read: {_code(exc)}"
            ) from None
        try:
            return check_http_url(value)
        except ValueError as exc:
            raise DestinationUnavailable(f"SSM parameter {name!r}: {exc}") from None

    def _routing_key(self) -> str | None:
        settings = self._settings
        if settings.pagerduty_routing_key is not None:
            return settings.pagerduty_routing_key.get_secret_value()
        arn = settings.pagerduty_routing_key_secret_arn
        if arn is None:
            log.warning(
                "PagerDuty is not configured (set REMEDIATOR_PAGERDUTY_ROUTING_KEY or "
                "REMEDIATOR_PAGERDUTY_ROUTING_KEY_SECRET_ARN): pages are skipped"
            )
            return None
        secrets: SecretsManagerClient = self._clients().client("secretsmanager")
        try:
            text = secrets.get_secret_value(SecretId=arn).get("SecretString")
        except (ClientError, BotoCoreError) as exc:
            raise DestinationUnavailable(
                f"secret {arn!r} could not be read: {_code(exc)}"
            ) from None
        key = _routing_key_from(text)
        if key is None:
            raise DestinationUnavailable(
                f"secret {arn!r} holds no routing key: expected the key itself or a JSON "
                f"object with one of {', '.join(_SECRET_KEYS)}"
            )
        return key


def _routing_key_from(text: str | None) -> str | None:
    """The bare key, or the key inside a JSON object (the console's key/value secrets)."""
    if not text or not text.strip():
        return None
    text = text.strip()
    if not text.startswith("{"):
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for name in _SECRET_KEYS:
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
