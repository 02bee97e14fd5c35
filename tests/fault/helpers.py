"""Helpers of the fault suite: polling with deadlines, producers, `remediator run` processes."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from observability import AuditTrail, Status
from observability.clients import AwsClients
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from observability.triggers import Trigger
from tests.integration.harness import Stack


def wait_for(
    condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.05
) -> Any:
    """Poll until `condition()` is truthy; fail naming `what` once `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def producer(stack: Stack, clients: AwsClients | None = None) -> AuditTrail:
    """A producer on the stack's table and topic, on the real clock (services run on it)."""
    shared = Settings(
        **stack.settings.model_dump(include=set(Settings.model_fields)), _env_file=None
    )
    return AuditTrail(shared, clients=clients or stack.clients, metrics=Metrics(enabled=False))


def fail(trail: AuditTrail, job: str, batch: str, trigger: Trigger) -> None:
    """Run one batch that fails (retryably): FAILED is recorded and signalled."""
    with contextlib.suppress(RuntimeError), trail.batch(job, batch, trigger=trigger):
        raise RuntimeError(f"{batch} failed")


def recorded(stack: Stack, job: str, batches: list[str]) -> bool:
    """Every batch re-triggered and its trigger recorded: RETRYING with no claim left on it.

    A claim already makes a batch RETRYING; only the record hands its lease back.
    """
    found = {s.batch_id: s for s in stack.trail.states(job)}
    return all(
        b in found and found[b].status is Status.RETRYING and not found[b].lease_owner
        for b in batches
    )


def health(port: int) -> dict[str, Any] | None:
    """The /healthz answer of a service, or None when it does not answer (or is unhealthy)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
            data: dict[str, Any] = json.loads(reply.read())
            return data
    except OSError:
        return None


def service_env(stack: Stack, endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of `remediator run`, fast intervals, pointed at `endpoint`."""
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "REMEDIATOR_TABLE_NAME": stack.settings.table_name,
        "REMEDIATOR_TOPIC_ARN": stack.settings.topic_arn or "",
        "REMEDIATOR_QUEUE_URL": stack.settings.queue_url or "",
        "REMEDIATOR_BACKOFF_BASE_SECONDS": "0",
        "REMEDIATOR_METRICS_ENABLED": "false",
        "REMEDIATOR_POLL_WAIT_SECONDS": "1",
        "REMEDIATOR_SWEEP_INTERVAL_SECONDS": "0.5",
        "REMEDIATOR_HEALTH_PORT": "0",
        **extra,
    }


class Services:
    """Starts `remediator run` processes; kills whatever is left of them at teardown.

    Logs go to files, not pipes: a full pipe would stall a busy service.
    """

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        log = self._logs / f"service-{len(self.procs)}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "remediator", "run", *args],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.procs.append((proc, log))
        return proc

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        path = next(log for p, log in self.procs if p is proc)
        return path.read_text(errors="replace")

    def kill_all(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
