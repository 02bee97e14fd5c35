"""DynamoDB throttling (HTTP 400 ProvisionedThroughputExceededException) under the remediator.

No crash, no lost and no duplicate trigger: each failed batch gets exactly one trigger for
attempt 2, whether botocore's retries absorb the throttling or it outlasts them and the
batch is handled in a later cycle.
"""

from __future__ import annotations

import signal

from observability import Status
from observability.clients import AwsClients
from observability.telemetry.metrics import Metrics
from remediator.remediation import Remediator
from tests.conftest import REGION, new_id
from tests.fault.helpers import Services, fail, producer, recorded, service_env, wait_for
from tests.integration.harness import Stack
from tests.proxy import FaultProxy, Request

SEED = 20240611


def test_throttled_dynamodb_loses_and_duplicates_no_trigger(
    stack: Stack, proxy: FaultProxy, services: Services
):
    env = service_env(
        stack,
        proxy.url,
        # The lease must outlast a trigger and its record write, botocore's retries of a
        # throttled write included (seconds each): else the same attempt is triggered again.
        REMEDIATOR_LEASE_SECONDS="60",
        REMEDIATOR_TRIGGER_TIMEOUT_SECONDS="3",
        REMEDIATOR_VISIBILITY_TIMEOUT_SECONDS="10",
        # Without the fleet budget a retry is two DynamoDB calls, not three: a shorter test.
        REMEDIATOR_BUDGET_PER_MINUTE="0",
        # Fewer botocore retries (the standard variable, which the clients honour): a call
        # that outlasts them does so in seconds, not in the quarter minute of the default.
        AWS_MAX_ATTEMPTS="3",
    )
    direct = producer(stack)
    job = new_id()

    # 1. 30% of DynamoDB calls throttled; botocore's last attempt gets through.
    proxy.throttle(0.3, seed=SEED, spare_last_attempt=True)
    proc = services.start(env)
    first = [f"a{n:02d}" for n in range(16)]
    for batch in first:
        fail(direct, job, batch, stack.trigger(batch))
    wait_for(lambda: recorded(stack, job, first), timeout=60, what="the throttled retries")
    assert proxy.counts["throttled"] > 0

    # 2. Throttling that outlasts botocore's retries: every DynamoDB call refused until
    #    a call has failed on its last attempt. It starts once the service is idle, so no
    #    claimed batch is waiting for its record write (that case is the test below).
    proxy.throttle(1.0, seed=SEED)
    second = [f"b{n:02d}" for n in range(8)]
    for batch in second:
        fail(direct, job, batch, stack.trigger(batch))
    wait_for(
        lambda: proxy.counts["throttled_last_attempt"] >= 1 or proc.poll() is not None,
        timeout=40,
        what="calls to run out of retries",
    )
    assert proc.poll() is None, services.log(proc)
    assert not any(
        s.status is Status.RETRYING for s in stack.trail.states(job) if s.batch_id in second
    )
    proxy.stop_throttling()
    wait_for(lambda: recorded(stack, job, second), timeout=60, what="recovery")
    assert "ProvisionedThroughputExceededException" in services.log(proc)

    assert proc.poll() is None, services.log(proc)
    triggered = sorted((m["batch_id"], m["attempt"]) for m in stack.work())
    assert triggered == [(b, "2") for b in sorted(first + second)]
    log = services.log(proc)
    assert "Traceback" not in log
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


def test_trigger_whose_record_write_is_throttled_out_is_not_fired_twice(
    stack: Stack, proxy: FaultProxy
):
    """The record of a sent trigger is throttled beyond botocore's retries, then throttling
    stops: the batch must not be triggered a second time for the same attempt."""
    proxied = AwsClients(region=REGION, endpoint_url=proxy.url, max_attempts=2)
    remediator = Remediator(
        stack.settings.model_copy(update={"replica_id": "replica-1"}),
        clients=proxied,
        trigger_clients=AwsClients(region=REGION, endpoint_url=stack.endpoint, max_attempts=1),
        metrics=Metrics(enabled=False),
        clock=stack.clock,
        sleep=lambda _: None,
    )
    service = stack.make_service(remediator)

    def record_write(request: Request) -> bool:
        return request.target.endswith(".UpdateItem") and b"RETRY_TRIGGERED" in request.body

    job = new_id()
    stack.fail(job, "b1")
    proxy.throttle(1.0, seed=SEED, match=record_write)
    service.run_once()
    proxy.stop_throttling()
    stack.clock.advance(stack.settings.lease_seconds + 1)
    service.run_once()

    assert [(m["batch_id"], m["attempt"]) for m in stack.work()] == [("b1", "2")]
