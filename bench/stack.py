"""Producer and remediator objects wired to the bench endpoint, built as a deployment would.

Metrics stay on (their EMF lines cost what they cost in production) but go to /dev/null;
logging gets a do-nothing root handler so that failures are not formatted to stderr.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import IO, Any

from bench.endpoint import REGION
from observability import AuditTrail
from observability.clients import AwsClients
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from remediator.remediation import Remediator
from remediator.service import Service
from remediator.service.consumer import SignalConsumer
from remediator.settings import RemediatorSettings
from remediator.stack.provision import Resources, bootstrap

__all__ = [
    "make_clients",
    "make_consumer",
    "make_producer",
    "make_remediator",
    "new_resources",
    "quiet_logging",
    "work_queue",
]

_devnull: IO[str] | None = None

# Budget high enough never to stop a bench, but still taken: the call it costs is measured.
BUDGET_PER_MINUTE = 1_000_000


def quiet_logging() -> None:
    root = logging.getLogger()
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


def _sink() -> IO[str]:
    global _devnull
    if _devnull is None:
        _devnull = open(os.devnull, "w")  # noqa: SIM115 - held for the life of the process
    return _devnull


def make_clients(endpoint: str, **kwargs: Any) -> AwsClients:
    return AwsClients(region=REGION, endpoint_url=endpoint, **kwargs)


def new_resources(clients: AwsClients, label: str) -> Resources:
    """Table (with the due-index), topic, signal queue and subscription, under fresh names."""
    return bootstrap(clients, f"bench-{label}-{uuid.uuid4().hex[:8]}")


def work_queue(clients: AwsClients) -> str:
    """The queue re-triggers are sent to (an SqsTrigger target)."""
    return str(clients.sqs().create_queue(QueueName=f"work-{uuid.uuid4().hex[:8]}")["QueueUrl"])


def _settings(resources: Resources | None, **overrides: Any) -> dict[str, Any]:
    names: dict[str, Any] = {}
    if resources is not None:
        names = {
            "table_name": resources.table_name,
            "topic_arn": resources.topic_arn,
            "queue_url": resources.queue_url,
        }
    return {"region": REGION, "_env_file": None, **names, **overrides}


def make_producer(
    resources: Resources, clients: AwsClients, *, actor: str | None = None, **overrides: Any
) -> AuditTrail:
    settings = Settings(**_settings(resources, **overrides))
    return AuditTrail(settings, clients=clients, metrics=Metrics(stream=_sink()), actor=actor)


def make_remediator(
    resources: Resources | None, clients: AwsClients, endpoint: str, **overrides: Any
) -> Remediator:
    """A replica as `remediator run` builds one, with backoff 0 and an unbounded budget."""
    settings = RemediatorSettings(
        **_settings(
            resources,
            **{
                "backoff_base_seconds": 0,
                "budget_per_minute": BUDGET_PER_MINUTE,
                "replica_id": f"bench-{uuid.uuid4().hex[:6]}",
                **overrides,
            },
        )
    )
    return Remediator(
        settings,
        clients=clients,
        trigger_clients=make_clients(endpoint, max_attempts=1),
        metrics=Metrics(stream=_sink()),
    )


def make_consumer(remediator: Remediator, clients: AwsClients) -> tuple[SignalConsumer, Service]:
    settings = remediator.settings
    consumer = SignalConsumer(
        clients,
        settings.queue_url or "",
        wait_seconds=1,
        visibility_timeout=settings.visibility_timeout_seconds,
        drain_wait_seconds=0,
    )
    return consumer, Service(remediator, consumer)
