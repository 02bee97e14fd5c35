"""Routes the alerts of one SQS batch to Slack and PagerDuty; reports the records that failed.

The reply is Lambda's partial batch response (the event source mapping needs
`ReportBatchItemFailures`), so SQS redelivers only the failed records and, after the queue's
maxReceiveCount, moves them to its dead-letter queue. One bad record never fails the others.

Each destination is tried even when the other fails, so one outage never silences both.
A record is failed if any configured destination failed; its redelivery is harmless for
PagerDuty (deduplicated on the batch) and may repeat a Slack message, which is better than
an alert nobody sees.

The invocation has a deadline (the Lambda context's remaining time). A reply that comes too
late is lost and the whole batch comes back, delivered records included, so the router keeps
a margin: no HTTP wait runs past the deadline, and the records it had no time for are
reported as failures, untried, for SQS to hand back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from observability.clients import default_clients
from observability.errors import ObservabilityError
from observability.logger import bind, get_logger
from observability.models.signals import ALERT_EVENTS, RECOVERED, Signal
from remediator.alerts.destinations import PAGERDUTY, SLACK, Destinations
from remediator.alerts.errors import AlertError, DeliveryFailed, MalformedSignal
from remediator.alerts.formats.pagerduty import dedup_key, resolve_event, trigger_event
from remediator.alerts.formats.slack import slack_message
from remediator.alerts.parse import parse_body
from remediator.alerts.settings import AlertSettings, load_alert_settings
from remediator.alerts.transport import JsonPoster

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["AlertRouter", "BatchItemFailure", "BatchResponse"]

log = get_logger(__name__)


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


@dataclass(frozen=True, slots=True)
class _Target:
    """A destination's secret as resolved for this invocation: value, None (skip) or error."""

    name: str
    secret: str | None = field(repr=False)
    error: Exception | None = None


class AlertRouter:
    """Turns SQS records carrying signals into Slack messages and PagerDuty events."""

    def __init__(
        self,
        settings: AlertSettings | None = None,
        *,
        clients: AwsClients | None = None,
        poster: JsonPoster | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or load_alert_settings()
        self._clients = clients
        self.destinations = Destinations(self.settings, self._aws)
        self.poster = poster or JsonPoster(
            timeout=self.settings.alert_http_timeout_seconds,
            max_attempts=self.settings.alert_http_max_attempts,
            max_seconds=self.settings.alert_http_max_seconds,
            sleep=sleep,
            monotonic=monotonic,
        )
        self._monotonic = monotonic

    def _aws(self) -> AwsClients:
        # Built on first need only: a router whose secrets are all direct never touches AWS.
        if self._clients is None:
            self._clients = default_clients(self.settings.region)
        return self._clients

    def deadline(self, context: Any) -> float | None:
        """When to stop (on the monotonic clock): the invocation's end less the margin."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:
            return None  # called outside Lambda: no deadline
        seconds = float(remaining()) / 1000.0
        return self._monotonic() + seconds - self.settings.alert_deadline_margin_seconds

    def handle(self, event: Mapping[str, Any], context: Any = None) -> BatchResponse:
        """Route every record; `context` is the Lambda context, whose deadline is kept."""
        deadline = self.deadline(context)
        records = event.get("Records") or []
        failures: list[BatchItemFailure] = []
        slack = self._resolve(SLACK, self.destinations.slack_url)
        pagerduty = self._resolve(PAGERDUTY, self.destinations.pagerduty_routing_key)
        untried = 0
        for record in records:
            message_id = record.get("messageId") if isinstance(record, Mapping) else None
            if not isinstance(message_id, str) or not message_id:
                # Without an id the record cannot be named in the reply; nothing else to do.
                log.error("SQS record without a messageId skipped")
                continue
            if deadline is not None and self._monotonic() >= deadline:
                untried += 1
                failures.append({"itemIdentifier": message_id})
                continue
            with bind(message_id=message_id):
                try:
                    done = self._process(record, slack, pagerduty, deadline)
                except Exception:
                    # A bug must cost one record, not the batch.
                    log.exception("alert routing failed unexpectedly")
                    done = False
            if not done:
                failures.append({"itemIdentifier": message_id})
        if untried:
            log.warning("deadline near: %d record(s) handed back to the queue untried", untried)
        log.info(
            "alert batch routed",
            extra={"records": len(records), "failed": len(failures), "untried": untried},
        )
        return {"batchItemFailures": failures}

    def _resolve(self, name: str, get: Callable[[], str | None]) -> _Target:
        try:
            return _Target(name, get())
        except (AlertError, ObservabilityError) as exc:
            # Every record fails for this destination; the next invocation reads it again.
            log.error("%s destination unavailable: %s", name, exc)
            return _Target(name, None, exc)

    def _process(
        self,
        record: Mapping[str, Any],
        slack: _Target,
        pagerduty: _Target,
        deadline: float | None = None,
    ) -> bool:
        """True when the record is done with (delivered, or not an alert)."""
        body = record.get("body")
        try:
            if not isinstance(body, str):
                raise MalformedSignal("body: missing or not a string")
            signal = parse_body(body)
        except MalformedSignal as exc:
            log.error("malformed alert record: %s", exc)
            return False
        with bind(job_id=signal.job_id, batch_id=signal.batch_id, alert_event=signal.event):
            if signal.event not in ALERT_EVENTS:
                # A subscription without the alert filter: not ours, and retrying won't help.
                log.info("not an alert event: ignored")
                return True
            return self._deliver(signal, slack, pagerduty, deadline)

    def _deliver(
        self, signal: Signal, slack: _Target, pagerduty: _Target, deadline: float | None = None
    ) -> bool:
        """Send to every configured destination; True when none of them failed."""
        ok = True
        for target in (pagerduty, slack):
            if target.error is not None:
                ok = False
            elif target.secret is not None:
                try:
                    if target.name == PAGERDUTY:
                        self._page(signal, target.secret, deadline)
                    else:
                        self.poster.post(
                            SLACK, target.secret, slack_message(signal), deadline=deadline
                        )
                except DeliveryFailed as exc:
                    log.error("%s delivery failed: %s", target.name, exc)
                    ok = False
        if ok:
            log.info("alert delivered", extra={"dedup_key": dedup_key(signal)})
        return ok

    def _page(self, signal: Signal, routing_key: str, deadline: float | None) -> None:
        if signal.event == RECOVERED:
            document = resolve_event(signal, routing_key)
        else:
            document = trigger_event(signal, routing_key)
        self.poster.post(PAGERDUTY, self.settings.pagerduty_url, document, deadline=deadline)
