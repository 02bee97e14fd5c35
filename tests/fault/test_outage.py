"""The endpoint goes away for 10 s under a running `remediator run`, then comes back."""

from __future__ import annotations

import time

from observability import Status
from observability.clients import AwsClients
from tests.conftest import REGION, new_id
from tests.fault.helpers import (
    Services,
    fail,
    free_port,
    health,
    producer,
    recorded,
    service_env,
    wait_for,
)
from tests.integration.harness import Stack
from tests.proxy import FaultProxy

OUTAGE_SECONDS = 10.0


def statuses(stack: Stack, job: str) -> dict[str, Status]:
    return {s.batch_id: s.status for s in stack.trail.states(job)}


def test_service_survives_a_10_s_outage_and_retries_every_failure_once(
    stack: Stack, proxy: FaultProxy, services: Services
):
    port = free_port()
    env = service_env(
        stack,
        proxy.url,
        REMEDIATOR_HEALTH_PORT=str(port),
        REMEDIATOR_LEASE_SECONDS="60",
        REMEDIATOR_TRIGGER_TIMEOUT_SECONDS="3",
        REMEDIATOR_VISIBILITY_TIMEOUT_SECONDS="10",
    )
    proc = services.start(env)
    wait_for(lambda: (health(port) or {}).get("status") == "ok", timeout=30, what="healthy")

    job = new_id()
    before = [f"before-{n:02d}" for n in range(10)]
    during = [f"during-{n:02d}" for n in range(10)]
    through_proxy = producer(stack, AwsClients(region=REGION, endpoint_url=proxy.url))
    for batch in before:
        fail(through_proxy, job, batch, stack.trigger(batch))
    # Everything before the cut is triggered and recorded, so no write is in flight at it.
    wait_for(lambda: recorded(stack, job, before), timeout=30, what="the first retries")

    proxy.cut()
    cut_at = time.monotonic()
    direct = producer(stack)
    for batch in during:
        # Recorded and signalled while the service is cut off from both.
        fail(direct, job, batch, stack.trigger(batch))
    while time.monotonic() - cut_at < OUTAGE_SECONDS:
        assert proc.poll() is None, services.log(proc)
        time.sleep(0.2)  # the outage itself: a fixed stretch of time, not a wait for a result
    assert all(statuses(stack, job)[b] is Status.FAILED for b in during)
    proxy.restore()

    wait_for(lambda: recorded(stack, job, during), timeout=60, what="recovery")
    assert proc.poll() is None, services.log(proc)
    assert (health(port) or {}).get("status") == "ok"
    triggered = sorted((m["batch_id"], m["attempt"]) for m in stack.work())
    assert triggered == [(b, "2") for b in sorted(before + during)]
    for batch in before + during:
        events = [e.event.value for e in stack.trail.history(job, batch)]
        assert events.count("RETRY_TRIGGERED") == 1, (batch, events)
