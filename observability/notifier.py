"""Publishes failure signals and alerts on the SNS topic; knows nothing of who listens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from observability.errors import ConfigError, NotifierUnavailable
from observability.models.signals import Signal
from observability.models.traceids import TRACEPARENT
from observability.telemetry import tracing

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["Notifier"]


class Notifier:
    """Screams on a topic: one Publish per signal, the JSON body plus filterable attributes."""

    def __init__(self, clients: AwsClients, topic_arn: str | None) -> None:
        self._clients = clients
        self.topic_arn = topic_arn

    def require_topic(self) -> str:
        if not self.topic_arn:
            raise ConfigError(
                "REMEDIATOR_TOPIC_ARN is not set: it is required to publish failure signals "
                "(run `remediator bootstrap`, or pass publish_failures=False to AuditTrail)"
            )
        return self.topic_arn

    def publish(self, signal: Signal) -> str:
        """Publish and return the SNS message id.

        When traces are on, the publish is a span and the message carries its context as
        the `traceparent` attribute: raw delivery hands it to the remediator's queue.
        """
        topic = self.require_topic()
        attributes = signal.attributes()
        try:
            with tracing.aws_call(
                "SNS",
                "Publish",
                destination=topic,
                events=({"event": signal.event},),
                kind=tracing.SpanKind.PRODUCER,
            ) as span:
                if span is not None:
                    context = tracing.traceparent()
                    if context:
                        attributes[TRACEPARENT] = {"DataType": "String", "StringValue": context}
                reply = self._clients.sns().publish(
                    TopicArn=topic,
                    Message=signal.body(),
                    MessageAttributes=attributes,  # type: ignore[arg-type]
                )
        except (ClientError, BotoCoreError) as exc:
            raise NotifierUnavailable(f"Publish to {topic} failed: {exc}") from exc
        return reply["MessageId"]
