"""/healthz means "stuck", not "busy": slow re-triggers keep the service healthy.

The target is slow on the health clock: a botocore hook on the trigger client's SendMessage
advances it 40 s per send (so nothing sleeps), and samples /healthz's verdict while the send
is in flight. ECS replaces a task whose health check fails, so a task that is merely working
through slow targets must stay healthy, and one stuck in a single call must not.
"""

from __future__ import annotations

from typing import Any

import pytest

from remediator.service import Service
from remediator.service.consumer import SignalConsumer
from remediator.service.health import Heartbeats
from tests.conftest import Clock, new_id
from tests.integration.harness import Stack, receive_signals

MAX_SILENCE = 90.0


class HealthClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def slow_target(stack: Stack, health: HealthClock, beats: Heartbeats, seconds: float) -> list[bool]:
    """Every re-trigger's SendMessage takes `seconds`; returns /healthz's verdict during each."""
    verdicts: list[bool] = []

    def send(**_: Any) -> None:
        health.now += seconds
        verdicts.append(beats.report()[0])

    sqs = stack.remediator.trigger_clients.client("sqs")
    sqs.meta.events.register("before-send.sqs.SendMessage", send)
    return verdicts


def service_with(stack: Stack, health: HealthClock, visibility: int = 600) -> tuple[Service, Any]:
    beats = Heartbeats(MAX_SILENCE, clock=health)
    consumer = SignalConsumer(
        stack.clients, stack.settings.queue_url or "", visibility_timeout=visibility
    )
    return Service(stack.remediator, consumer, beats=beats), consumer


def test_ten_slow_signals_in_one_turn_keep_the_poll_loop_healthy(stack: Stack):
    health = HealthClock()
    service, consumer = service_with(stack, health)
    verdicts = slow_target(stack, health, service.beats, seconds=40)
    job = new_id()
    for n in range(10):
        stack.fail(job, f"b{n}")
    messages = receive_signals(consumer, 10)
    service.beats.tick("poll")  # the loop's tick before its turn

    assert service.process(messages) == 10

    # 400 s of work in one turn, 40 s per signal: never silent for 90 s.
    assert verdicts == [True] * 10
    assert len(stack.work()) == 10


def test_a_long_sweep_of_slow_batches_keeps_the_sweep_loop_healthy(stack: Stack):
    health = HealthClock()
    service, consumer = service_with(stack, health)
    job = new_id()
    for n in range(5):
        stack.fail(job, f"b{n}")
    consumer.set_visibility(receive_signals(consumer, 5), 600)  # signals lost: the sweep finds them
    verdicts = slow_target(stack, health, service.beats, seconds=40)
    service.beats.tick("sweep")

    service._sweep_turn()

    assert verdicts == [True] * 5
    assert len(stack.work()) == 5


def test_a_target_stuck_in_one_call_still_fails_health(stack: Stack):
    health = HealthClock()
    service, consumer = service_with(stack, health)
    verdicts = slow_target(stack, health, service.beats, seconds=MAX_SILENCE + 30)
    stack.fail(new_id(), "b")
    service.beats.tick("poll")

    service.process(receive_signals(consumer, 1))

    assert verdicts == [False]
