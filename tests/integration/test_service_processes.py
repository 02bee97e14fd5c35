"""The remediator as separate processes: three replicas at once, and SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from observability import Status
from tests.conftest import Clock, drain, new_id
from tests.integration.harness import Stack
from tests.proxy import FaultProxy


def service_env(stack: Stack, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": stack.endpoint,
        "REMEDIATOR_TABLE_NAME": stack.settings.table_name,
        "REMEDIATOR_TOPIC_ARN": stack.settings.topic_arn or "",
        "REMEDIATOR_QUEUE_URL": stack.settings.queue_url or "",
        "REMEDIATOR_BACKOFF_BASE_SECONDS": "0",
        "REMEDIATOR_METRICS_ENABLED": "false",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def test_three_replicas_and_duplicated_signals_trigger_each_attempt_once(
    stack: Stack, resources: Any
):
    job = new_id()
    batches = [f"b{n:02d}" for n in range(50)]
    for batch in batches:
        stack.fail(job, batch)
    sqs = stack.clients.sqs()
    signals = drain(sqs, resources.queue_url)
    assert len(signals) == 50
    for message in signals + signals:  # every signal delivered twice
        sqs.send_message(QueueUrl=resources.queue_url, MessageBody=message["Body"])
    # Through a proxy that passes one DynamoDB call at a time: moto checks a condition and
    # writes without a lock, so two racing claims could both win there; DynamoDB is atomic.
    proxy = FaultProxy(stack.endpoint).start()
    env = {**service_env(stack), "AWS_ENDPOINT_URL": proxy.url}
    replicas = [
        subprocess.Popen(
            [sys.executable, "-m", "remediator", "run", "--once", "--output", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        summaries = [json.loads(p.communicate(timeout=120)[0]) for p in replicas]
    finally:
        proxy.stop()
    assert [p.returncode for p in replicas] == [0, 0, 0]
    triggered = stack.work()
    pairs = [(m["batch_id"], m["attempt"]) for m in triggered]
    assert sorted(pairs) == [(b, "2") for b in batches]
    assert sum(s["outcomes"].get("triggered", 0) for s in summaries) == 50
    for batch in batches:
        kinds = [e.event.value for e in stack.trail.history(job, batch)]
        assert kinds.count("RETRY_TRIGGERED") == 1


def test_sigterm_during_an_idle_long_poll_exits_0_within_10_s(stack: Stack):
    port = free_port()
    env = service_env(
        stack,
        REMEDIATOR_POLL_WAIT_SECONDS="20",
        REMEDIATOR_HEALTH_PORT=str(port),
        REMEDIATOR_SWEEP_INTERVAL_SECONDS="5",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "remediator", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert json.loads(r.read())["status"] == "ok"
                    break
            except OSError:
                assert time.monotonic() < deadline, "the service never became healthy"
                time.sleep(0.1)
        time.sleep(1.0)  # now inside its 20 s long poll
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - sent < 10
    finally:
        proc.kill()


def test_sigterm_under_load_exits_0_and_leaves_only_expiring_leases(stack: Stack, resources: Any):
    job = new_id()
    batches = [f"b{n:03d}" for n in range(60)]
    for batch in batches:
        stack.fail(job, batch)
    proxy = FaultProxy(stack.endpoint).start()  # DynamoDB's atomic conditions (see above)
    env = {
        **service_env(stack, REMEDIATOR_POLL_WAIT_SECONDS="20", REMEDIATOR_HEALTH_PORT="0"),
        "AWS_ENDPOINT_URL": proxy.url,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "remediator", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        sqs = stack.clients.sqs()
        deadline = time.monotonic() + 60
        while not sqs.receive_message(
            QueueUrl=stack.work_queue, WaitTimeSeconds=1, VisibilityTimeout=0
        ).get("Messages"):
            assert time.monotonic() < deadline, "nothing was ever triggered"
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - sent < 10
    finally:
        proc.kill()
        proxy.stop()
    states = {s.batch_id: s for s in stack.trail.states(job)}
    assert set(states) == set(batches)
    for state in states.values():
        if state.lease_owner:
            assert state.lease_expires_at
        assert state.status in (Status.FAILED, Status.RETRYING)
    # A later pass finishes the job, and nothing was triggered twice.
    stack.clock.advance(stack.settings.lease_seconds + 1)
    stack.service.run_once()
    attempts = [(m["batch_id"], m["attempt"]) for m in stack.work()]
    assert sorted(attempts) == [(b, "2") for b in batches]
