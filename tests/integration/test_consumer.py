"""The signal queue's promises: slow work keeps its messages, shutdown hands them back,
and a batch delete reports the entries SQS refused."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from remediator.service import Service
from remediator.service.consumer import Received, SignalConsumer
from tests.conftest import Clock, new_id
from tests.integration.harness import Stack, receive_signals


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def visibility_changes(clients: Any) -> list[list[dict[str, Any]]]:
    """The entries of every ChangeMessageVisibilityBatch, recorded with botocore's hooks."""
    seen: list[list[dict[str, Any]]] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        seen.append(params["Entries"])

    clients.sqs().meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibilityBatch", hook
    )
    return seen


class SlowWork:
    """Monotonic time in which handling each signal takes 40 s (the real work is unchanged)."""

    def __init__(self, remediator: Any) -> None:
        self.now = 0.0
        handle = remediator.handle_signal

        def slow(signal: Any) -> Any:
            self.now += 40.0
            return handle(signal)

        remediator.handle_signal = slow

    def __call__(self) -> float:
        return self.now


def test_slow_work_keeps_extending_what_is_still_held(stack: Stack, resources: Any):
    job = new_id()
    for n in range(4):
        stack.fail(job, f"b{n}")
    consumer = SignalConsumer(stack.clients, resources.queue_url, visibility_timeout=60)
    service = Service(stack.remediator, consumer, monotonic=SlowWork(stack.remediator))
    changes = visibility_changes(stack.clients)
    messages = receive_signals(consumer, 4)
    assert service.process(messages) == 4
    # More than half the 60 s timeout passes with each message: every time, the messages
    # not yet handled are held for another 60 s.
    assert [len(entries) for entries in changes] == [3, 2, 1]
    assert all(e["VisibilityTimeout"] == 60 for entries in changes for e in entries)
    assert len(stack.work()) == 4


def test_shutdown_hands_unhandled_messages_straight_back(stack: Stack, resources: Any):
    job = new_id()
    for n in range(3):
        stack.fail(job, f"b{n}")
    consumer = SignalConsumer(stack.clients, resources.queue_url, visibility_timeout=300)
    service = Service(stack.remediator, consumer)
    messages = receive_signals(consumer, 3)
    stack.remediator.stopping.set()
    assert service.process(messages) == 0
    # Visible again at once, not after the 300 s timeout; nothing was triggered.
    assert len(receive_signals(consumer, 3)) == 3
    assert stack.work() == []


def test_batch_delete_reports_the_entries_sqs_refused(stack: Stack, resources: Any):
    stack.fail(new_id(), "b1")
    consumer = SignalConsumer(stack.clients, resources.queue_url)
    [real] = receive_signals(consumer, 1)
    bogus = Received(message_id="m-bogus", receipt="not-a-receipt", body="{}", receive_count=1)
    assert consumer.delete([real, bogus]) == ["m-bogus"]
    assert consumer.receive(wait_seconds=0) == []  # the real one is gone
    calls: Counter[str] = Counter()
    stack.clients.sqs().meta.events.register(
        "before-call", lambda model, **_: calls.update([model.name])
    )
    many = [Received(f"m{n}", f"r{n}", "{}", 1) for n in range(23)]
    assert len(consumer.delete(many)) == 23
    assert calls["DeleteMessageBatch"] == 3  # ten entries per call at most
