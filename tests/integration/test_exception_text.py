"""The pipeline's own exception always wins, whatever its text: FAILED is written and signalled."""

from __future__ import annotations

import io
import json
import logging
import os
from typing import Any

import pytest

from observability import AuditTrail, SqsTrigger, Status
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from tests.conftest import Clock, drain, new_id

# Retryable batches (a failure without a trigger is exhausted at once, not signalled).
WORK = SqsTrigger(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/work", body={})


def make_trail(settings: Settings, clients: Any, clock: Clock) -> AuditTrail:
    return AuditTrail(settings, clients=clients, clock=clock, metrics=Metrics(stream=io.StringIO()))


class StrRaises(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


class StrNotText(Exception):
    def __str__(self) -> Any:
        return 42


# A path read from disk with undecodable bytes, as os.fsdecode gives it: "caf\udce9.csv".
SURROGATE_PATH = os.fsdecode(b"/data/caf\xe9.csv")


def test_a_lone_surrogate_in_the_message_is_recorded_and_signalled(
    settings, clients, clock, resources, monkeypatch
):
    # The failure's log line carries the surrogate; pytest-xdist cannot ship such a captured
    # log between processes, so this test's log stays quiet (the log is not under test here).
    monkeypatch.setattr(logging.getLogger("observability"), "disabled", True)
    trail = make_trail(settings, clients, clock)
    job = new_id()
    error = OSError(f"cannot read {SURROGATE_PATH}")
    with pytest.raises(OSError, match="cannot read") as raised, trail.batch(job, "b", trigger=WORK):
        raise error
    assert raised.value is error
    state = trail.get(job, "b")
    assert state is not None
    assert state.status is Status.FAILED
    assert state.error_message == "cannot read /data/caf\ufffd.csv"
    [signal] = drain(clients.sqs(), resources.queue_url)
    body = json.loads(signal["Body"])
    assert (body["batch_id"], body["error_type"]) == ("b", "OSError")
    assert body["error_message"] == "cannot read /data/caf\ufffd.csv"


@pytest.mark.parametrize("kind", [StrRaises, StrNotText])
def test_an_exception_without_readable_text_still_wins_and_is_recorded(
    settings, clients, clock, resources, kind
):
    trail = make_trail(settings, clients, clock)
    job = new_id()
    error = kind()
    with pytest.raises(kind) as raised, trail.batch(job, "b", trigger=WORK):
        raise error
    assert raised.value is error
    state = trail.get(job, "b")
    assert state is not None
    assert state.status is Status.FAILED
    assert state.error_type == kind.__name__
    assert kind.__name__ in (state.error_message or "")
    [signal] = drain(clients.sqs(), resources.queue_url)
    assert json.loads(signal["Body"])["error_type"] == kind.__name__
