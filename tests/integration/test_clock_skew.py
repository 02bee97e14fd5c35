"""Clock skew, on the moto server: a producer whose clock is 10 minutes behind (or ahead)
measures its offset from the `Date` header of the responses it already gets, and writes
corrected times. Without that, its live, heartbeating run would be declared stale."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from observability import AuditTrail, SqsTrigger
from observability.clock import SkewClock
from observability.models import from_iso
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from tests.conftest import new_id

WORK = SqsTrigger(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/work", body={})


@pytest.mark.parametrize("skew_minutes", [-10, 10])
def test_a_skewed_producer_writes_the_endpoints_time(
    settings: Settings, clients: Any, skew_minutes: int, caplog: pytest.LogCaptureFixture
):
    emf = io.StringIO()
    metrics = Metrics(stream=emf)
    skewed_on = SkewClock(
        lambda: datetime.now(UTC) + timedelta(minutes=skew_minutes),
        on_skew=lambda s: metrics.emit(None, {"ClockSkewSeconds": s}),
    )
    trail = AuditTrail(settings, clients=clients, clock=skewed_on, metrics=metrics)
    job = new_id()
    with caplog.at_level(logging.WARNING, logger="observability"):
        trail.connect()  # a first response: its Date header measures the offset
        with trail.batch(job, "b", trigger=WORK) as run:
            run.heartbeat(force=True)
            state = trail.get(job, "b")
    assert state is not None
    real = datetime.now(UTC)
    for stamp in (state.started_at, state.heartbeat_at):
        assert stamp is not None
        assert abs((from_iso(stamp) - real).total_seconds()) < 5, stamp
    assert abs(skewed_on.offset_seconds + skew_minutes * 60) < 3
    warnings = [r.getMessage() for r in caplog.records if "clock is" in r.getMessage()]
    assert len(warnings) == 1
    assert ("behind" if skew_minutes < 0 else "ahead of") in warnings[0]
    skews = [json.loads(line)["ClockSkewSeconds"] for line in emf.getvalue().splitlines()
             if "ClockSkewSeconds" in line]  # fmt: skip
    assert len(skews) == 1
    assert abs(skews[0] + skew_minutes * 60) < 3


def test_a_clock_within_the_headers_resolution_is_left_alone(settings: Settings, clients: Any):
    clock = SkewClock()
    trail = AuditTrail(settings, clients=clients, clock=clock, metrics=Metrics(enabled=False))
    trail.connect()
    assert clock.offset_seconds == 0.0
