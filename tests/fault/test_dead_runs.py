"""Dead runs found in minutes: a running batch heartbeats by itself; one killed with kill -9
is STALE and re-triggered within 3 heartbeat intervals; a short batch pays no extra write."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from observability import AuditTrail, Status
from observability.models import from_iso
from observability.settings import MISSED_BEATS, Settings
from observability.telemetry.metrics import Metrics
from tests.conftest import new_id
from tests.fault.helpers import service_env, wait_for
from tests.integration.harness import Stack, count_calls, receive_all

BEAT = 1.0  # seconds: short settings instead of waiting for the default minute

_RUN_FOREVER = """
import sys, time
from observability import AuditTrail, SqsTrigger
trail = AuditTrail()
with trail.batch(sys.argv[1], "b1", trigger=SqsTrigger(queue_url=sys.argv[2], body={})):
    print("started", flush=True)
    time.sleep(600)
"""


def short_trail(stack: Stack, beat: float, **kw: Any) -> AuditTrail:
    shared = stack.settings.model_dump(include=set(Settings.model_fields))
    shared.update(heartbeat_seconds=beat, stale_after_seconds=max(1.0, MISSED_BEATS * beat))
    settings = Settings(**shared, _env_file=None)
    return AuditTrail(settings, clients=stack.clients, metrics=Metrics(stream=io.StringIO()), **kw)


def test_a_run_killed_mid_batch_is_stale_and_retriggered_within_three_beats(stack: Stack):
    job = new_id()
    env = service_env(stack, stack.endpoint, REMEDIATOR_HEARTBEAT_SECONDS=str(BEAT))
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN_FOREVER, job, stack.work_queue],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        first = stack.trail.get(job, "b1")
        assert first is not None

        def beaten() -> bool:
            now = stack.trail.get(job, "b1")
            return now is not None and now.heartbeat_at != first.heartbeat_at

        wait_for(beaten, timeout=10 * BEAT, what="the automatic heartbeat")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    killed = datetime.now(UTC)
    # At the kill, the run is alive (its last beat is less than one interval old) ...
    stack.clock.now = killed
    assert stack.service.run_once().outcomes.get("stale") is None
    # ... three intervals later it is dead, marked STALE and re-triggered.
    stack.clock.now = killed + timedelta(seconds=MISSED_BEATS * BEAT + 0.01)
    summary = stack.service.run_once()
    assert summary.outcomes.get("stale") == 1
    events = [e.event.value for e in stack.trail.history(job, "b1")]
    assert events == ["STARTED", "STALE", "RETRY_TRIGGERED"]
    assert len(receive_all(stack.clients, stack.work_queue)) == 1


def test_a_batch_shorter_than_one_beat_pays_no_extra_write(stack: Stack):
    trail = short_trail(stack, 5.0)
    calls = count_calls(stack.clients)
    job = new_id()
    with trail.batch(job, "warm", trigger=stack.trigger("warm")):
        pass
    calls.clear()
    for batch in ("a", "b", "c"):
        with trail.batch(job, batch, trigger=stack.trigger(batch)):
            pass
    assert calls == {"PutItem": 6}


def test_a_long_batch_beats_by_itself_and_still_succeeds(stack: Stack):
    trail = short_trail(stack, 0.3)
    calls = count_calls(stack.clients)
    job = new_id()
    with trail.batch(job, "long", trigger=stack.trigger("long")) as run:
        started = from_iso(run.state.heartbeat_at or "")
        wait_for(lambda: calls["UpdateItem"] >= 2, timeout=10, what="two automatic beats")
        beating = trail.get(job, "long")
        assert beating is not None
        assert from_iso(beating.heartbeat_at or "") >= started
    state = trail.get(job, "long")
    assert state is not None
    assert state.status is Status.SUCCESS
    assert state.heartbeat_at is None  # a heartbeat means something only while STARTED


def test_heartbeat_after_the_batch_ended_is_no_error(stack: Stack):
    job = new_id()
    with stack.trail.batch(job, "b", trigger=stack.trigger("b")) as run:
        pass
    calls = count_calls(stack.clients)
    assert run.heartbeat(force=True) is False
    assert calls == {}


def test_the_no_trigger_warning_is_once_per_job_from_32_threads(
    stack: Stack, caplog: pytest.LogCaptureFixture
):
    job = new_id()
    trail = stack.producer()
    barrier = threading.Barrier(32)

    def one(i: int) -> None:
        barrier.wait()
        with contextlib.suppress(RuntimeError), trail.batch(job, f"b{i}"):
            raise RuntimeError("boom")

    with caplog.at_level(logging.WARNING, logger="observability"):
        threads = [threading.Thread(target=one, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len([r for r in caplog.records if "have no trigger" in r.getMessage()]) == 1


def test_no_never_retried_warning_when_the_stored_item_has_a_trigger(
    stack: Stack, caplog: pytest.LogCaptureFixture
):
    job = new_id()
    with stack.trail.batch(job, "b", trigger=stack.trigger("b")):
        pass
    again = stack.producer()
    with (
        caplog.at_level(logging.WARNING, logger="observability"),
        contextlib.suppress(RuntimeError),
        again.batch(job, "b"),
    ):
        raise RuntimeError("boom")
    assert not [r for r in caplog.records if "never retried" in r.getMessage()]
    failed = again.get(job, "b")
    assert failed is not None
    assert failed.next_retry_at is not None  # retried by the trigger its first run stored
