"""The signal queue: long polls, batch deletes that check each entry, visibility control."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from observability.models.traceids import TRACEPARENT
from remediator.errors import RemediatorError

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["QueueUnavailable", "Received", "SignalConsumer"]

log = logging.getLogger("remediator.consumer")
_BATCH = 10


class QueueUnavailable(RemediatorError):
    """The signal queue could not be read or written."""


@dataclass(frozen=True, slots=True)
class Received:
    message_id: str
    receipt: str
    body: str
    receive_count: int
    # The failed run's trace context (an SNS message attribute, kept by raw delivery), and
    # when SQS took the message and this replica got it: the signal's time in the queue.
    traceparent: str | None = None
    sent_at_ms: int | None = None
    received_at_ns: int = 0


def _string_attribute(message: Any, name: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name, {}).get("StringValue")
    return value if isinstance(value, str) else None


def _sent_at(message: Any) -> int | None:
    value = message.get("Attributes", {}).get("SentTimestamp")
    return int(value) if isinstance(value, str) and value.isdigit() else None


class SignalConsumer:
    """Receives up to 10 signals per long poll (20 s); deletes only what was handled."""

    def __init__(
        self,
        clients: AwsClients,
        queue_url: str,
        *,
        wait_seconds: int = 20,
        visibility_timeout: int = 120,
        drain_wait_seconds: int = 1,
    ) -> None:
        self._clients = clients
        self.queue_url = queue_url
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout
        self.drain_wait_seconds = drain_wait_seconds

    @property
    def clients(self) -> AwsClients:
        return self._clients

    def _sqs(self) -> Any:
        return self._clients.client("sqs")

    def receive(self, wait_seconds: int | None = None) -> list[Received]:
        try:
            reply = self._sqs().receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=_BATCH,
                WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
                VisibilityTimeout=self.visibility_timeout,
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                MessageAttributeNames=["All"],
            )
        except (ClientError, BotoCoreError) as exc:
            raise QueueUnavailable(f"ReceiveMessage from {self.queue_url} failed: {exc}") from exc
        received_at = time.time_ns()
        return [
            Received(
                message_id=m["MessageId"],
                receipt=m["ReceiptHandle"],
                body=m.get("Body", ""),
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
                traceparent=_string_attribute(m, TRACEPARENT),
                sent_at_ms=_sent_at(m),
                received_at_ns=received_at,
            )
            for m in reply.get("Messages", [])
        ]

    def _batched(self, operation: str, entries: list[dict[str, Any]]) -> list[str]:
        """Run a *Batch call in chunks of 10; returns the ids of entries that failed."""
        failed: list[str] = []
        for start in range(0, len(entries), _BATCH):
            chunk = entries[start : start + _BATCH]
            try:
                reply = getattr(self._sqs(), operation)(QueueUrl=self.queue_url, Entries=chunk)
            except (ClientError, BotoCoreError) as exc:
                log.warning("%s failed for %d messages: %s", operation, len(chunk), exc)
                failed += [e["Id"] for e in chunk]
                continue
            for entry in reply.get("Failed", []):
                log.warning("%s refused %s: %s", operation, entry.get("Id"), entry.get("Message"))
                failed.append(str(entry.get("Id")))
        return failed

    def delete(self, messages: Sequence[Received]) -> list[str]:
        """Delete handled messages; returns ids SQS refused (they will be seen again)."""
        entries = [{"Id": str(i), "ReceiptHandle": m.receipt} for i, m in enumerate(messages)]
        failed = self._batched("delete_message_batch", entries)
        return [messages[int(i)].message_id for i in failed]

    def set_visibility(self, messages: Sequence[Received], seconds: int) -> list[str]:
        """Extend (slow work) or release (0: shutting down) messages still held."""
        entries = [
            {"Id": str(i), "ReceiptHandle": m.receipt, "VisibilityTimeout": seconds}
            for i, m in enumerate(messages)
        ]
        failed = self._batched("change_message_visibility_batch", entries)
        return [messages[int(i)].message_id for i in failed]
