"""Builds a remediator in-process against the moto server, and a worker that re-runs batches."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from observability import AuditTrail, SqsTrigger
from observability.clients import AwsClients
from observability.metrics import Metrics
from observability.settings import Settings
from remediator.consumer import SignalConsumer
from remediator.remediation import Remediator
from remediator.service import Service
from remediator.settings import RemediatorSettings
from tests.conftest import REGION, Clock


def count_calls(clients: AwsClients) -> Counter[str]:
    """Count API calls per operation with botocore's own event hooks (once per call)."""
    calls: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    for service in ("dynamodb", "sns", "sqs"):
        clients.client(service).meta.events.register("before-call", hook)
    return calls


def raw_items(clients: AwsClients, table: str) -> list[dict[str, Any]]:
    """Every item the pipelines and the remediator wrote (not the table's own META record)."""
    items = clients.dynamodb().scan(TableName=table, ConsistentRead=True)["Items"]
    return [item for item in items if item["pk"]["S"] != "TABLE"]


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`remediator ARGS` as a person runs it: a subprocess, with `env` over this one's."""
    return subprocess.run(
        [sys.executable, "-m", "remediator", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_cli(endpoint: str, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`remediator ARGS` configured for `settings` on `endpoint`."""
    return cli(
        *args,
        AWS_ENDPOINT_URL=endpoint,
        REMEDIATOR_TABLE_NAME=settings.table_name,
        REMEDIATOR_TOPIC_ARN=settings.topic_arn or "",
        REMEDIATOR_QUEUE_URL=settings.queue_url or "",
    )


class Stack:
    """Producer, remediator and a work queue sharing one table, topic and clock."""

    def __init__(
        self,
        settings_kwargs: dict[str, Any],
        clients: AwsClients,
        endpoint: str,
        clock: Clock,
        **overrides: Any,
    ) -> None:
        base: dict[str, Any] = {"backoff_base_seconds": 0, "health_port": 0, "poll_wait_seconds": 1}
        self.settings = RemediatorSettings(**{**settings_kwargs, **base, **overrides})
        self.clients = clients
        self.clock = clock
        self.endpoint = endpoint
        self.emf = io.StringIO()
        self.producer_emf = io.StringIO()
        self.work_queue = clients.sqs().create_queue(QueueName=f"work-{uuid.uuid4().hex[:8]}")[
            "QueueUrl"
        ]
        self.trail = self.producer()
        self.remediator = self.make_remediator()
        self.service = self.make_service(self.remediator)

    def producer(self, **kw: Any) -> AuditTrail:
        shared = Settings(
            **self.settings.model_dump(include=set(Settings.model_fields)), _env_file=None
        )
        return AuditTrail(
            shared,
            clients=self.clients,
            clock=self.clock,
            metrics=Metrics(stream=self.producer_emf),
            **kw,
        )

    def make_remediator(self, replica: str = "replica-1", **overrides: Any) -> Remediator:
        settings = self.settings.model_copy(update={"replica_id": replica, **overrides})
        return Remediator(
            settings,
            clients=self.clients,
            trigger_clients=AwsClients(region=REGION, endpoint_url=self.endpoint, max_attempts=1),
            metrics=Metrics(stream=self.emf),
            clock=self.clock,
            sleep=lambda _: None,
        )

    def make_service(self, remediator: Remediator) -> Service:
        consumer = SignalConsumer(
            self.clients,
            remediator.settings.queue_url or "",
            wait_seconds=1,
            visibility_timeout=remediator.settings.visibility_timeout_seconds,
            drain_wait_seconds=0,
        )
        return Service(remediator, consumer)

    def trigger(self, batch_id: str) -> SqsTrigger:
        return SqsTrigger(queue_url=self.work_queue, body={"batch": batch_id})

    def fail(self, job: str, batch: str, error: type[BaseException] = RuntimeError) -> None:
        try:
            with self.trail.batch(job, batch, trigger=self.trigger(batch)):
                raise error(f"{batch} failed")
        except error:
            pass

    def work(self, wait: int = 0) -> list[dict[str, Any]]:
        """Every trigger message waiting on the work queue (received and deleted)."""
        from tests.conftest import drain

        return [
            {
                "body": json.loads(m["Body"]),
                **{k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()},
            }
            for m in drain(self.clients.sqs(), self.work_queue, wait=wait)
        ]

    def rerun(
        self, messages: list[dict[str, Any]], job: str, behave: Callable[[str], None]
    ) -> None:
        """A worker: re-run each triggered batch through the producer library."""
        for message in messages:
            batch = message["batch_id"]
            try:
                with self.trail.batch(job, batch, trigger=self.trigger(batch)) as run:
                    assert run.attempt == int(message["attempt"])
                    behave(batch)
            except RuntimeError:
                pass

    def metric_total(self, name: str, *, producer: bool = False) -> float:
        stream = self.producer_emf if producer else self.emf
        return sum(json.loads(line).get(name, 0) for line in stream.getvalue().splitlines() if line)
