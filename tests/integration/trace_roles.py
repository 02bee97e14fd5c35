"""One part of the story in a process of its own, traced with the SDK's in-memory exporter.

    python -m tests.integration.trace_roles producer|remediator|worker

Configured like a real deployment, from the environment (REMEDIATOR_*, AWS_ENDPOINT_URL;
TRACE_TEST_JOB, TRACE_TEST_WORK_QUEUE, TRACE_TEST_STATE_MACHINE for the story). The
process installs the SDK as an application would (`trace.set_tracer_provider`), plays its
part, then prints every span it recorded, one JSON object per line, on stdout.
"""

from __future__ import annotations

import io
import json
import os
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from observability import (
    AuditTrail,
    SqsTrigger,
    StepFunctionsTrigger,
    Trigger,
    context_from,
    load_settings,
)
from observability.clients import AwsClients
from observability.telemetry.metrics import Metrics
from remediator.remediation import Remediator
from remediator.service import Service
from remediator.service.consumer import SignalConsumer
from remediator.settings import RemediatorSettings
from tests.integration.recorded import Recorded

JOB = os.environ.get("TRACE_TEST_JOB", "")
QUIET = Metrics(enabled=False, stream=io.StringIO())


def _triggers() -> dict[str, Trigger]:
    return {
        "sqs": SqsTrigger(queue_url=os.environ["TRACE_TEST_WORK_QUEUE"], body={"m": 1}),
        "stepfunctions": StepFunctionsTrigger(
            state_machine_arn=os.environ["TRACE_TEST_STATE_MACHINE"], input={"m": 1}
        ),
    }


def producer(clients: AwsClients) -> None:
    """The pipeline: both batches fail on their first run."""
    trail = AuditTrail(clients=clients, actor="pipeline", metrics=QUIET)
    for batch, trigger in _triggers().items():
        try:
            with trail.batch(JOB, batch, trigger=trigger):
                raise TimeoutError("warehouse connection timed out")
        except TimeoutError:
            pass


def remediator(clients: AwsClients) -> None:
    """`remediator run --once`: hears both signals and re-triggers both batches."""
    settings = load_settings(RemediatorSettings)
    service = Service(
        Remediator(settings, clients=clients, metrics=QUIET),
        SignalConsumer(clients, settings.queue_url or "", wait_seconds=1, drain_wait_seconds=1),
    )
    summary = service.run_once()
    assert summary.outcomes == {"triggered": 2}, summary


def worker(clients: AwsClients) -> None:
    """Re-runs each batch from what its trigger delivered, in the context it carried."""
    trail = AuditTrail(clients=clients, actor="worker", metrics=QUIET)
    sqs, sfn = clients.sqs(), clients.client("stepfunctions")
    reply = sqs.receive_message(
        QueueUrl=os.environ["TRACE_TEST_WORK_QUEUE"],
        MessageAttributeNames=["All"],
        WaitTimeSeconds=1,
    )
    [message] = reply["Messages"]
    [execution] = sfn.list_executions(stateMachineArn=os.environ["TRACE_TEST_STATE_MACHINE"])[
        "executions"
    ]
    document = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    for batch, carrier in (("sqs", message), ("stepfunctions", document)):
        with trail.batch(JOB, batch, parent=context_from(carrier)) as run:
            assert run.attempt == 2


def main(role: str) -> int:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": role}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    clients = AwsClients(endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    {"producer": producer, "remediator": remediator, "worker": worker}[role](clients)
    for span in exporter.get_finished_spans():
        sys.stdout.write(Recorded.of(span).as_json() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
