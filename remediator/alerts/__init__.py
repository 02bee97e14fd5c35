"""Alert routing: EXHAUSTED, CIRCUIT_OPEN, DEADLINE_MISSED, TOO_SLOW and RECOVERED signals to
Slack and PagerDuty.

Deployed as a Lambda function on the alerts queue, handler `remediator.alerts.handler`.
"""

from remediator.alerts.entry import default_router, handler, use_router
from remediator.alerts.errors import (
    AlertConfigError,
    AlertError,
    DeliveryFailed,
    DeliveryRejected,
    DestinationUnavailable,
    MalformedSignal,
)
from remediator.alerts.router import AlertRouter, BatchResponse
from remediator.alerts.settings import PAGERDUTY_EVENTS_URL, AlertSettings, load_alert_settings
from remediator.alerts.transport import JsonPoster

__all__ = [
    "PAGERDUTY_EVENTS_URL",
    "AlertConfigError",
    "AlertError",
    "AlertRouter",
    "AlertSettings",
    "BatchResponse",
    "DeliveryFailed",
    "DeliveryRejected",
    "DestinationUnavailable",
    "JsonPoster",
    "MalformedSignal",
    "default_router",
    "handler",
    "load_alert_settings",
    "use_router",
]
