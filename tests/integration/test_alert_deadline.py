"""The alert router keeps its Lambda deadline when Slack and PagerDuty hang.

Webhook servers on loopback accept the connection and never answer (or answer the first
requests, then hang). A reply after the deadline would be lost and the whole batch come
back, so the router must return in time, with the records it could not deliver reported
as batch item failures and the delivered ones not.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from remediator.alerts import AlertRouter, AlertSettings, handler, use_router
from tests.integration.test_alerts import ROUTING_KEY, signal

BUDGET = 2.0  # seconds the fake invocation has left
MARGIN = 0.5


@dataclass
class HangingServer:
    """Accepts connections; answers the first `answered` requests with 200, then hangs."""

    answered: int = 0
    requests: int = 0
    connections: list[socket.socket] = field(default_factory=list)
    url: str = ""

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            self.requests += 1
            if self.requests <= self.answered:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                conn.close()
            # Otherwise: read nothing, answer nothing, keep it open.


@pytest.fixture
def hanging() -> Iterator[Any]:
    listeners: list[socket.socket] = []
    servers: list[HangingServer] = []

    def start(answered: int = 0) -> HangingServer:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        server = HangingServer(
            answered=answered, url=f"http://127.0.0.1:{listener.getsockname()[1]}"
        )
        threading.Thread(target=server.serve, args=(listener,), daemon=True).start()
        listeners.append(listener)
        servers.append(server)
        return server

    yield start
    for listener in listeners:
        listener.close()
    for server in servers:
        for conn in server.connections:
            conn.close()


class LambdaContext:
    """The part of Lambda's context the router reads: the time left, on the real clock."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.ends - time.monotonic()) * 1000))


def records(n: int) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"m{i}", "body": signal("EXHAUSTED", f"job-{i}", "b").body()}
            for i in range(n)
        ]
    }


def failed(reply: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in reply["batchItemFailures"]]


@pytest.fixture
def route(hanging: Any) -> Iterator[Any]:
    """Installs a router whose destinations are hanging servers; returns them."""

    def build(slack_answers: int = 0, pagerduty_answers: int = 0) -> tuple[Any, Any]:
        slack, pagerduty = hanging(slack_answers), hanging(pagerduty_answers)
        settings = AlertSettings(
            slack_webhook_url=slack.url + "/hook",
            pagerduty_routing_key=ROUTING_KEY,
            pagerduty_url=pagerduty.url + "/v2/enqueue",
            alert_http_timeout_seconds=1.0,
            alert_deadline_margin_seconds=MARGIN,
            _env_file=None,
        )
        use_router(AlertRouter(settings, sleep=lambda _: None))
        return slack, pagerduty

    yield build
    use_router(None)


def test_both_destinations_hanging_the_reply_comes_before_the_deadline(route: Any):
    slack, pagerduty = route()
    event = records(6)
    started = time.monotonic()

    reply = handler(event, LambdaContext(BUDGET))

    elapsed = time.monotonic() - started
    assert elapsed < BUDGET - MARGIN / 2, f"replied after {elapsed:.2f} s of {BUDGET} s"
    assert failed(reply) == [f"m{i}" for i in range(6)]
    # The first record's attempts used the time; the rest were handed back untried.
    assert pagerduty.requests >= 1
    assert pagerduty.requests + slack.requests <= 6


def test_delivered_records_are_not_reported_and_the_rest_are(route: Any):
    # Slack and PagerDuty answer the first two alerts, then hang.
    slack, pagerduty = route(slack_answers=2, pagerduty_answers=2)
    started = time.monotonic()

    reply = handler(records(5), LambdaContext(BUDGET))

    assert time.monotonic() - started < BUDGET - MARGIN / 2
    assert failed(reply) == ["m2", "m3", "m4"]
    assert (slack.requests, pagerduty.requests) >= (2, 2)


def test_no_context_means_no_deadline_and_a_spent_budget_means_nothing_tried(route: Any):
    slack, pagerduty = route(slack_answers=10, pagerduty_answers=10)
    assert failed(handler(records(2), None)) == []
    assert (slack.requests, pagerduty.requests) == (2, 2)

    reply = handler(records(3), LambdaContext(MARGIN / 2))  # less than the margin left

    assert failed(reply) == ["m0", "m1", "m2"]
    assert (slack.requests, pagerduty.requests) == (2, 2), "nothing was tried"
