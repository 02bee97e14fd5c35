"""The producer library with AWS unreachable: what `batch()` does, and what is left behind.

The trail talks to moto through the fault proxy with short botocore retries; every check of
what was written goes to moto directly, after the endpoint is back.
"""

from __future__ import annotations

from typing import Any

import pytest

from observability import AuditTrail, Status
from observability.clients import AwsClients
from observability.errors import BatchAlreadyRunning, StoreUnavailable
from observability.models.keys import job_pk, state_prefix
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from tests.conftest import REGION, new_id
from tests.integration.harness import Stack
from tests.proxy import FaultProxy, Request


def proxied_trail(stack: Stack, proxy: FaultProxy) -> AuditTrail:
    """A producer through the proxy: two attempts per call, short timeouts, the stack's clock."""
    clients = AwsClients(
        region=REGION, endpoint_url=proxy.url, max_attempts=2, connect_timeout=1, read_timeout=2
    )
    shared = Settings(
        **stack.settings.model_dump(include=set(Settings.model_fields)), _env_file=None
    )
    return AuditTrail(shared, clients=clients, clock=stack.clock, metrics=Metrics(enabled=False))


def items(stack: Stack, job: str) -> list[dict[str, Any]]:
    """Every item of a job's partition, read from moto directly."""
    reply = stack.clients.dynamodb().query(
        TableName=stack.settings.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": job_pk(job)}},
        ConsistentRead=True,
    )
    return list(reply["Items"])


def assert_whole(stack: Stack, job: str) -> None:
    """No batch item without the event of its current version (nothing half-written)."""
    found = items(stack, job)
    states = [item for item in found if item["sk"]["S"].startswith(state_prefix())]
    assert states, "nothing was written"
    for item in states:
        versions = {int(e["M"]["version"]["N"]) for e in item["events"]["L"]}
        assert int(item["version"]["N"]) in versions, item


def state_write(request: Request) -> bool:
    return request.target.endswith((".PutItem", ".UpdateItem")) and b"STATE#" in request.body


def test_batch_raises_store_unavailable_before_the_work_when_the_endpoint_is_down(
    stack: Stack, proxy: FaultProxy
):
    trail = proxied_trail(stack, proxy)
    job = new_id()
    proxy.cut()
    ran: list[str] = []
    with pytest.raises(StoreUnavailable), trail.batch(job, "b1", trigger=stack.trigger("b1")):
        ran.append("b1")
    with pytest.raises(StoreUnavailable):
        trail.pending(job, ["b1", "b2"])
    assert ran == []

    proxy.restore()
    assert items(stack, job) == []
    # Once the endpoint is back, the same call simply works.
    with trail.batch(job, "b1", trigger=stack.trigger("b1")):
        ran.append("b1")
    assert ran == ["b1"]
    assert trail.get(job, "b1").status is Status.SUCCESS


def test_started_write_cut_before_its_reply_is_whole_and_later_retried(
    stack: Stack, proxy: FaultProxy
):
    """moto commits STARTED but the reply never arrives: the body does not run, the record is
    whole (state and event), and the run goes stale and is retried like any dead run."""
    trail = proxied_trail(stack, proxy)
    job = new_id()
    proxy.cut_when(state_write, after_forward=True)
    ran: list[str] = []
    with pytest.raises(StoreUnavailable), trail.batch(job, "b1", trigger=stack.trigger("b1")):
        ran.append("b1")
    assert ran == []

    proxy.restore()
    assert_whole(stack, job)
    assert stack.trail.get(job, "b1").status is Status.STARTED
    # Another process cannot tell this ghost from a live run until it goes stale: it waits.
    # (The process that wrote it knows it never ran: tests/fault/test_lost_replies.py.)
    with pytest.raises(BatchAlreadyRunning):
        stack.producer().batch(job, "b1", trigger=stack.trigger("b1")).__enter__()
    stack.clock.advance(stack.settings.stale_after_seconds + 1)
    stack.service.run_once()
    assert [(m["batch_id"], m["attempt"]) for m in stack.work()] == [("b1", "2")]
    assert [e.event.value for e in stack.trail.history(job, "b1")] == [
        "STARTED",
        "STALE",
        "RETRY_TRIGGERED",
    ]


def test_cut_between_started_and_failed_keeps_the_users_error_and_the_run_is_retried(
    stack: Stack, proxy: FaultProxy
):
    trail = proxied_trail(stack, proxy)
    job = new_id()
    own_error = pytest.raises(ValueError, match="the pipeline's own error")
    with own_error as raised, trail.batch(job, "b1", trigger=stack.trigger("b1")):
        proxy.cut()
        raise ValueError("the pipeline's own error")
    notes = getattr(raised.value, "__notes__", [])
    # The endpoint is gone, so the item cannot be read back: the outcome is unknown.
    assert any("whether the failure was recorded is unknown" in note for note in notes), notes

    proxy.restore()
    assert_whole(stack, job)
    assert stack.trail.get(job, "b1").status is Status.STARTED
    # Not stale yet: the remediator leaves a run that may still be alive alone.
    stack.service.run_once()
    assert stack.work() == []
    stack.clock.advance(stack.settings.stale_after_seconds + 1)
    stack.service.run_once()
    assert [(m["batch_id"], m["attempt"]) for m in stack.work()] == [("b1", "2")]
    history = stack.trail.history(job, "b1")
    assert [e.event.value for e in history] == ["STARTED", "STALE", "RETRY_TRIGGERED"]
    assert history[1].error_type == "Stale"


def test_cut_before_the_success_write_raises_after_the_work_and_the_run_is_retried(
    stack: Stack, proxy: FaultProxy
):
    """The work ran but SUCCESS was not recorded: the caller is told, and the batch will run
    again once stale. Work wrapped in `batch()` must be safe to repeat."""
    trail = proxied_trail(stack, proxy)
    job = new_id()
    ran: list[str] = []
    with pytest.raises(StoreUnavailable), trail.batch(job, "b1", trigger=stack.trigger("b1")):
        ran.append("b1")
        proxy.cut()
    assert ran == ["b1"]

    proxy.restore()
    assert_whole(stack, job)
    stack.clock.advance(stack.settings.stale_after_seconds + 1)
    stack.service.run_once()
    assert [(m["batch_id"], m["attempt"]) for m in stack.work()] == [("b1", "2")]


def test_publish_cut_after_the_failed_write_is_noted_and_the_sweep_still_retries(
    stack: Stack, proxy: FaultProxy
):
    trail = proxied_trail(stack, proxy)
    job = new_id()
    proxy.cut_when(lambda r: b"Action=Publish&" in r.body, after_forward=False)  # SNS: query API
    with pytest.raises(RuntimeError) as raised, trail.batch(job, "b1", trigger=stack.trigger("b1")):
        raise RuntimeError("boom")
    notes = getattr(raised.value, "__notes__", [])
    assert any("the signal was not published" in note for note in notes), notes

    proxy.restore()
    assert_whole(stack, job)
    state = stack.trail.get(job, "b1")
    assert state.status is Status.FAILED
    summary = stack.service.run_once()
    assert summary.signals == 0  # no signal was ever sent: the sweep found it
    assert [(m["batch_id"], m["attempt"]) for m in stack.work()] == [("b1", "2")]
