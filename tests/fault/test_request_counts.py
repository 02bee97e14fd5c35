"""HTTP requests per attempt, counted at the proxy: botocore's settings mean what the code says.

botocore's `max_attempts` in a Config counts retries, not attempts; `AWS_MAX_ATTEMPTS`
counts attempts. The trigger clients must make exactly one request per tenacity attempt,
so that a trigger whose reply was lost is not sent twice by botocore behind our back.
"""

from __future__ import annotations

import time
import uuid

import pytest
from botocore.exceptions import ClientError

from observability.clients import AwsClients
from observability.models.keys import BatchKey
from observability.triggers import SqsTrigger
from remediator.errors import TriggerError
from remediator.triggers import TriggerContext, fire
from tests.awserrors import dynamodb_error, sqs_error
from tests.conftest import REGION
from tests.proxy import FaultProxy, call

CTX = TriggerContext(BatchKey("ingest-sales", "2024-05"), attempt=2, trace_id="t-1")


def trigger_clients(proxy: FaultProxy, *, read_timeout: float = 5.0) -> AwsClients:
    base = AwsClients(region=REGION, endpoint_url=proxy.url)
    return base.derive(max_attempts=1, read_timeout=read_timeout)


def queue(proxy: FaultProxy) -> str:
    sqs = AwsClients(region=REGION, endpoint_url=proxy.url).sqs()
    return sqs.create_queue(QueueName=f"work-{uuid.uuid4().hex[:8]}")["QueueUrl"]


def test_trigger_clients_send_one_request_per_attempt(proxy: FaultProxy):
    url = queue(proxy)
    failing = proxy.inject(
        call("sqs", "SendMessage"),
        **sqs_error("InternalError", "We encountered an internal error.", status=500),
    )
    with pytest.raises(TriggerError, match="InternalError"):
        fire(
            trigger_clients(proxy),
            SqsTrigger(queue_url=url, body={}).to_dict(),
            CTX,
            attempts=3,
            sleep=lambda _: None,
        )
    assert len(failing.hits) == 3
    assert [r.sdk_attempt for r in failing.hits] == [(1, 1)] * 3


def test_a_read_timeout_on_a_trigger_is_not_resent_by_botocore(proxy: FaultProxy):
    url = queue(proxy)
    held = proxy.hold(call("sqs", "SendMessage"))  # accepted, never answered: a read timeout
    started = time.monotonic()
    try:
        with pytest.raises(TriggerError, match="timeout"):
            fire(
                trigger_clients(proxy, read_timeout=0.2),
                SqsTrigger(queue_url=url, body={}).to_dict(),
                CTX,
                attempts=2,
                sleep=lambda _: None,
            )
        assert len(held.held) == 2
        # Each attempt lasts one read timeout (0.2 s), not the long poll's 30 s, nor two.
        assert time.monotonic() - started < 5
    finally:
        held.release()


def test_aws_max_attempts_counts_attempts_not_retries(proxy: FaultProxy, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    clients = AwsClients(region=REGION, endpoint_url=proxy.url)
    throttled = proxy.inject(
        call("dynamodb", "DescribeTable"),
        **dynamodb_error("ProvisionedThroughputExceededException", "Rate exceeded"),
    )
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        clients.dynamodb().describe_table(TableName="any")
    assert len(throttled.hits) == 2
    assert throttled.hits[-1].sdk_attempt == (2, 2)
