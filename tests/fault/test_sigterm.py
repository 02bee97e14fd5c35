"""SIGTERM while the service is busy and every AWS call is slow: exit 0, well within 10 s."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime

from observability import Status
from tests.conftest import new_id
from tests.fault.helpers import (
    Services,
    fail,
    free_port,
    health,
    producer,
    service_env,
    wait_for,
)
from tests.integration.harness import Stack
from tests.proxy import FaultProxy

LATENCY_SECONDS = 0.1


def test_sigterm_with_slow_calls_in_flight_exits_0_and_leaves_no_claim(
    stack: Stack, proxy: FaultProxy, services: Services
):
    job = new_id()
    batches = [f"b{n:03d}" for n in range(40)]
    direct = producer(stack)
    for batch in batches:
        fail(direct, job, batch, stack.trigger(batch))
    proxy.latency = LATENCY_SECONDS  # every call slow: SIGTERM lands mid-batch, not between
    port = free_port()
    env = service_env(
        stack,
        proxy.url,
        REMEDIATOR_POLL_WAIT_SECONDS="20",  # production's long poll, in flight at the signal
        REMEDIATOR_HEALTH_PORT=str(port),
        REMEDIATOR_LEASE_SECONDS="60",
        REMEDIATOR_TRIGGER_TIMEOUT_SECONDS="5",
    )
    proc = services.start(env)
    wait_for(lambda: (health(port) or {}).get("status") == "ok", timeout=30, what="healthy")
    sqs = stack.clients.sqs()

    def busy() -> bool:
        # Some batches already triggered, and a trigger on its way to the work queue now.
        triggered = sqs.get_queue_attributes(
            QueueUrl=stack.work_queue, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        return int(triggered) >= 3 and proxy.pending["AmazonSQS.SendMessage"] > 0

    wait_for(busy, timeout=60, what="a trigger in flight", every=0.002)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0, services.log(proc)
    assert time.monotonic() - sent < 10
    log = services.log(proc)
    assert "Traceback" not in log

    # The batch in hand was finished, not abandoned: no claim is left behind.
    states = {s.batch_id: s for s in stack.trail.states(job)}
    assert set(states) == set(batches)
    assert [s.batch_id for s in states.values() if s.lease_owner] == []
    assert all(s.status in (Status.FAILED, Status.RETRYING) for s in states.values())
    handled = sorted(b for b, s in states.items() if s.status is Status.RETRYING)
    assert 3 <= len(handled) < len(batches)

    # Another pass finishes the job, and no attempt was triggered twice.
    stack.clock.now = datetime.now(UTC)
    stack.service.run_once()
    attempts = sorted((m["batch_id"], m["attempt"]) for m in stack.work())
    assert attempts == [(b, "2") for b in batches]


def _handles(pid: int, signum: int) -> bool:
    """Whether the process has a handler of its own for `signum` (Linux: SigCgt in /proc)."""
    from pathlib import Path

    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def _wait_until_handling(proc: subprocess.Popen[bytes], signum: int) -> None:
    """Until the command's first instruction has run: no code can handle a signal earlier,
    and on a loaded machine the interpreter may take seconds to get there."""
    deadline = time.monotonic() + 60
    while not _handles(proc.pid, signum):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else proc.returncode
        assert time.monotonic() < deadline, "the command never installed its SIGTERM handler"
        time.sleep(0.005)


def test_sigterm_while_the_command_is_still_starting_exits_0(stack: Stack):
    """ECS may stop a task in its first second, while Python is still importing: the
    handler is the command's first instruction, so it is a clean stop, not a kill (143).
    The signal goes once the handler is provably installed, then at later points of the
    start (the imports take a good part of a second)."""
    import os
    import sys
    from pathlib import Path

    console = str(Path(sys.executable).with_name("remediator"))
    env = service_env(stack, stack.endpoint)
    codes = {}
    for delay in (0.0, 0.05, 0.3):
        for name, command in (
            ("console", [console, "run"]),
            ("module", [sys.executable, "-m", "remediator", "run"]),
        ):
            proc = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            try:
                _wait_until_handling(proc, signal.SIGTERM)
                time.sleep(delay)  # a point of the start, not a wait for an outcome
                proc.send_signal(signal.SIGTERM)
                codes[(name, delay)] = proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
            assert os.path.exists(console)
    assert codes == dict.fromkeys(codes, 0), codes
