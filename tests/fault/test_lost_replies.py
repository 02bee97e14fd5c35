"""Every reply to an outcome's write lost: the item is read back, and the caller is told
what the table holds (recorded, or unknown), never "not recorded" for a write that landed."""

from __future__ import annotations

import io
from typing import Any

import pytest

from observability import AuditTrail, SqsTrigger, Status
from observability.clients import AwsClients
from observability.errors import OutcomeUnknown
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from tests.conftest import REGION, new_id
from tests.proxy import FaultProxy, Request

WORK = SqsTrigger(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/work", body={})


class Boom(Exception):
    pass


def writes_status(status: str) -> Any:
    def match(request: Request) -> bool:
        if request.target not in ("DynamoDB_20120810.PutItem", "DynamoDB_20120810.UpdateItem"):
            return False
        body = request.json()
        item = body.get("Item") or body.get("ExpressionAttributeValues") or {}
        found = item.get("status") or item.get(":set_status") or {}
        return bool(found.get("S") == status)

    return match


def gets(request: Request) -> bool:
    return request.target == "DynamoDB_20120810.GetItem"


@pytest.fixture
def trail(settings_kwargs: dict[str, Any], proxy: FaultProxy) -> AuditTrail:
    # One attempt a call: botocore does not retry, so no backoff is waited for.
    through = AwsClients(region=REGION, endpoint_url=proxy.url, max_attempts=1)
    return AuditTrail(
        Settings(**settings_kwargs), clients=through, metrics=Metrics(stream=io.StringIO())
    )


def test_a_lost_reply_to_success_returns_normally(trail: AuditTrail, proxy: FaultProxy):
    job = new_id()
    proxy.drop_reply(writes_status("SUCCESS"), times=10)
    with trail.batch(job, "b", trigger=WORK):
        pass
    assert len(proxy.dropped) == 1
    state = trail.get(job, "b")
    assert state is not None
    assert state.status is Status.SUCCESS


def test_a_lost_reply_to_failed_says_it_was_recorded(trail: AuditTrail, proxy: FaultProxy):
    job = new_id()
    proxy.drop_reply(writes_status("FAILED"), times=10)
    with pytest.raises(Boom) as raised, trail.batch(job, "b", trigger=WORK):
        raise Boom("x")
    assert len(proxy.dropped) == 1
    notes = " ".join(getattr(raised.value, "__notes__", []))
    assert "the failure was recorded" in notes
    assert "not recorded" not in notes
    state = trail.get(job, "b")
    assert state is not None
    assert state.status is Status.FAILED


def test_an_unreadable_outcome_is_unknown_not_unrecorded(trail: AuditTrail, proxy: FaultProxy):
    job = new_id()
    with trail.batch(job, "warm", trigger=WORK):
        pass  # the table's shape is read: from here on, a batch makes no GetItem
    proxy.drop_reply(writes_status("SUCCESS"), times=10)
    proxy.drop_reply(gets, times=10)
    with pytest.raises(OutcomeUnknown, match="unknown"), trail.batch(job, "b", trigger=WORK):
        pass
    proxy.drop_reply(writes_status("FAILED"), times=10)
    with pytest.raises(Boom) as raised, trail.batch(job, "c", trigger=WORK):
        raise Boom("x")
    notes = " ".join(getattr(raised.value, "__notes__", []))
    assert "is unknown" in notes
    assert "was not recorded" not in notes


def test_a_start_whose_outcome_is_unknown_is_released_by_its_own_process(
    trail: AuditTrail, proxy: FaultProxy
):
    job = new_id()
    with trail.batch(job, "warm", trigger=WORK):
        pass
    proxy.drop_reply(writes_status("STARTED"), times=1)
    proxy.drop_reply(gets, times=2)  # both tries of the read-back
    ran = []
    with pytest.raises(OutcomeUnknown, match="STARTED may have been recorded"):  # noqa: SIM117
        with trail.batch(job, "b", trigger=WORK):
            ran.append(1)
    assert ran == []
    stuck = trail.get(job, "b")
    assert stuck is not None
    assert stuck.status is Status.STARTED  # it landed: another process would wait for it
    with trail.batch(job, "b", trigger=WORK) as run:  # this one knows it never ran
        ran.append(run.attempt)
    assert ran == [2]
