"""Exceptions of alert routing; all derive from RemediatorError, so callers catch one root."""

from __future__ import annotations

from remediator.errors import RemediatorError
from remediator.messages import MalformedSignal  # one type for every unreadable signal

__all__ = [
    "AlertConfigError",
    "AlertError",
    "DeliveryFailed",
    "DeliveryRejected",
    "DestinationUnavailable",
    "MalformedSignal",
]


class AlertError(RemediatorError):
    """Root of the errors raised while routing an alert."""


class AlertConfigError(AlertError):
    """A setting is missing, ambiguous or out of range; the message names the variable."""


class DestinationUnavailable(AlertError):
    """A webhook URL or routing key could not be read from SSM or Secrets Manager."""


class DeliveryFailed(AlertError):
    """A destination did not accept the message after the bounded retries."""


class DeliveryRejected(DeliveryFailed):
    """A destination refused the message for good (a 4xx other than 429): not retried."""
