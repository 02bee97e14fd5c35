"""kill -9 of a replica between its claim and its trigger; a second replica takes over."""

from __future__ import annotations

import uuid

import pytest

from observability import SqsTrigger
from observability.errors import ConfigError
from observability.settings import load_settings
from remediator.settings import RemediatorSettings
from tests.conftest import MOTO_ARN, drain, new_id
from tests.fault.helpers import Services, fail, producer, service_env, wait_for
from tests.integration.harness import Stack
from tests.proxy import FaultProxy, Request

LEASE_SECONDS = 5


def queue_depth(stack: Stack, url: str) -> int:
    attributes = stack.clients.sqs().get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def test_replica_killed_between_claim_and_trigger_is_taken_over_once(
    stack: Stack, proxy: FaultProxy, services: Services
):
    sqs = stack.clients.sqs()
    fifo = sqs.create_queue(
        QueueName=f"work-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    job = new_id()
    trigger = SqsTrigger(queue_url=fifo, body={"batch": "b1"}, message_group_id=job)

    def to_work_queue(request: Request) -> bool:
        return request.target == "AmazonSQS.SendMessage" and request.json().get("QueueUrl") == fifo

    # Replica 1 reaches AWS through the proxy, which never forwards its trigger.
    stalled = proxy.hold(to_work_queue)
    common = {
        "REMEDIATOR_LEASE_SECONDS": str(LEASE_SECONDS),
        "REMEDIATOR_TRIGGER_TIMEOUT_SECONDS": "2",  # below the lease
        "REMEDIATOR_VISIBILITY_TIMEOUT_SECONDS": "10",
    }
    first = services.start(
        service_env(stack, proxy.url, REMEDIATOR_REPLICA_ID="replica-1", **common)
    )
    fail(producer(stack), job, "b1", trigger)

    def claimed_not_triggered() -> bool:
        state = stack.trail.get(job, "b1")
        return (
            stalled.arrived.is_set()
            and state is not None
            and state.lease_owner == "replica-1"
            and queue_depth(stack, fifo) == 0
        )

    wait_for(claimed_not_triggered, timeout=30, what="replica-1 to claim and stall")
    first.kill()  # SIGKILL: no handler runs, nothing is released
    assert first.wait(timeout=10) == -9
    state = stack.trail.get(job, "b1")
    assert state.lease_owner == "replica-1"
    assert queue_depth(stack, fifo) == 0
    lease_until = state.lease_expires_at

    second = services.start(
        service_env(stack, stack.endpoint, REMEDIATOR_REPLICA_ID="replica-2", **common)
    )

    def retriggered() -> bool:
        return any(e.event.value == "RETRY_TRIGGERED" for e in stack.trail.history(job, "b1"))

    # The sweep finds the batch when replica-1's lease runs out, not before.
    wait_for(retriggered, timeout=LEASE_SECONDS + 30, what="replica-2 to take over")
    history = stack.trail.history(job, "b1")
    triggered = [e for e in history if e.event.value == "RETRY_TRIGGERED"]
    # The service records its AWS identity as the actor, its replica beside it.
    assert [(e.actor, e.detail["replica"], e.attempt) for e in triggered] == [
        (MOTO_ARN, "replica-2", 2)
    ]
    assert triggered[0].at >= lease_until
    assert [e.event.value for e in history] == ["STARTED", "FAILED", "RETRY_TRIGGERED"]

    # Even if the stalled request went out now, the FIFO queue's deduplication id
    # (job#batch#attempt) keeps the target at one message.
    stalled.release()
    wait_for(stalled.forwarded.is_set, timeout=10, what="the stalled trigger to be forwarded")
    delivered = drain(sqs, fifo)
    assert len(delivered) == 1
    attributes = {k: v["StringValue"] for k, v in delivered[0]["MessageAttributes"].items()}
    assert (attributes["batch_id"], attributes["attempt"]) == ("b1", "2")
    assert second.poll() is None, services.log(second)


def test_a_lease_shorter_than_the_trigger_timeout_is_refused():
    with pytest.raises(ConfigError, match="REMEDIATOR_LEASE_SECONDS"):
        load_settings(
            RemediatorSettings, lease_seconds=5, trigger_timeout_seconds=30, _env_file=None
        )
