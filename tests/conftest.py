"""Shared fixtures: one moto server per session (real HTTP on loopback), fresh names per test."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.strict.checker import REPORT_ENV, StrictAws

REGION = "us-east-1"
# What moto's sts:GetCallerIdentity answers: the identity every operator action records.
MOTO_ARN = "arn:aws:sts::123456789012:user/moto"

# Tests must never see a developer's real configuration or credentials.
for _name in list(os.environ):
    if _name.startswith(("REMEDIATOR_", "OTEL_", "PIPELINE_")) or _name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "TRACEPARENT",
    ):
        del os.environ[_name]
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION=REGION,
    AWS_REGION=REGION,
)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free loopback port, started by the suite itself: moto's app, with
    DynamoDB's requests served one at a time (moto's conditional writes are not atomic under
    concurrent requests; DynamoDB's are), as the demo serves it."""
    from remediator.stack.local import LocalServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = LocalServer()
    yield server.endpoint
    server.stop()


_STRICT_SITE = Path(__file__).parent / "strict" / "site"
_REPO = Path(__file__).parent.parent


@pytest.fixture
def strict_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[StrictAws]:
    """Every AWS request of the test, and every EMF document, checked as AWS would check them
    (tests/strict). In this process a breaking call raises StrictAwsViolation at once; the
    subprocesses the test starts (CLI, service, demo: they inherit the environment) report
    theirs to a file. Either way the test fails, naming the rule and its source.
    """
    import botocore.client

    import observability.telemetry.metrics

    checker = StrictAws()
    checker.subprocess_report = str(tmp_path / "strict-aws.jsonl")
    base = botocore.client.BaseClient
    monkeypatch.setattr(base, "_make_api_call", checker.wrap_api_call(base._make_api_call))
    monkeypatch.setattr(
        observability.telemetry.metrics,
        "emf_record",
        checker.wrap_emf(observability.telemetry.metrics.emf_record),
    )
    monkeypatch.setattr(
        observability.telemetry.metrics,
        "emf_line",
        checker.wrap_emf_line(observability.telemetry.metrics.emf_line),
    )
    monkeypatch.setenv(REPORT_ENV, checker.subprocess_report)
    paths = [str(_STRICT_SITE), str(_REPO), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    yield checker
    found = checker.take()
    if found:
        listing = "\n".join(f"  {v}" for v in found)
        pytest.fail(f"requests AWS would refuse (tests/strict):\n{listing}", pytrace=False)


@pytest.fixture
def clients(moto_endpoint: str) -> Any:
    from observability.clients import AwsClients

    return AwsClients(region=REGION, endpoint_url=moto_endpoint)


@pytest.fixture
def resources(clients: Any) -> Any:
    """Table, topic, queues and subscriptions under names no other test uses."""
    from remediator.stack.provision import bootstrap

    return bootstrap(clients, f"audit-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def settings_kwargs(resources: Any) -> dict[str, Any]:
    return {
        "table_name": resources.table_name,
        "topic_arn": resources.topic_arn,
        "queue_url": resources.queue_url,
        "region": REGION,
        "_env_file": None,
    }


@pytest.fixture
def settings(settings_kwargs: dict[str, Any]) -> Any:
    from observability.settings import Settings

    return Settings(**settings_kwargs)


class Clock:
    """A settable clock: tests move time instead of sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def drain(sqs: Any, queue_url: str, *, wait: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    """Every message now on a queue (received and deleted), with attributes."""
    out: list[dict[str, Any]] = []
    while len(out) < limit:
        reply = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        messages = reply.get("Messages", [])
        if not messages:
            break
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        out.extend(messages)
        wait = 0
    return out


def new_id(prefix: str = "job") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
