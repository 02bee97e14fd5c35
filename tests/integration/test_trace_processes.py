"""The done-when of traces: producer, remediator and worker as separate processes, each with
the SDK's in-memory exporter; their spans put together make one trace per batch, from the
failed run through SNS, SQS and the remediator to the healed run, for the SQS and the Step
Functions triggers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from observability import AuditTrail
from tests.conftest import new_id
from tests.infra.terraform import ROOT
from tests.integration.harness import Recorded, TriggerTargets, children, one


def play(role: str, env: dict[str, str]) -> list[Recorded]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.trace_roles", role],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{role}:\n{done.stdout}\n{done.stderr}"
    return [Recorded(**json.loads(line)) for line in done.stdout.splitlines() if line]


@pytest.fixture
def story(
    moto_endpoint: str, clients: Any, settings_kwargs: dict[str, Any]
) -> tuple[str, dict[str, str]]:
    targets = TriggerTargets(clients, clients)
    job = new_id()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "AWS_ENDPOINT_URL": moto_endpoint,
        "REMEDIATOR_TABLE_NAME": settings_kwargs["table_name"],
        "REMEDIATOR_TOPIC_ARN": settings_kwargs["topic_arn"],
        "REMEDIATOR_QUEUE_URL": settings_kwargs["queue_url"],
        "REMEDIATOR_BACKOFF_BASE_SECONDS": "0",  # due at once: the signal itself retries
        "REMEDIATOR_METRICS_ENABLED": "false",
        "REMEDIATOR_HEALTH_PORT": "0",
        "REMEDIATOR_REPLICA_ID": "replica-1",
        "TRACE_TEST_JOB": job,
        "TRACE_TEST_WORK_QUEUE": targets.work_queue,
        "TRACE_TEST_STATE_MACHINE": targets.machine,
    }
    return job, env


def test_one_trace_per_batch_across_producer_remediator_and_worker_processes(
    story: tuple[str, dict[str, str]], clients: Any, settings: Any
):
    job, env = story
    produced = play("producer", env)
    remediated = play("remediator", env)
    worked = play("worker", env)
    assert {s.service for s in produced} == {"producer"}
    assert {s.service for s in remediated} == {"remediator"}
    assert {s.service for s in worked} == {"worker"}
    everything = produced + remediated + worked
    trail = AuditTrail(settings, clients=clients)

    for batch, kind in (("sqs", "sqs"), ("stepfunctions", "stepfunctions")):
        state = trail.get(job, batch)
        assert state is not None
        assert (state.status.value, state.attempt) == ("SUCCESS", 2)
        spans = [s for s in everything if s.trace_id == state.trace_id]
        # Nothing of this batch went anywhere else: the trace id is the stored one.
        mine = [
            s
            for s in everything
            if s.attributes.get("pipeline.batch_id") == batch
            or s.attributes.get("remediator.trigger") == kind
        ]
        assert {s.trace_id for s in mine} == {state.trace_id}

        failed = one(spans, "batch run", **{"pipeline.attempt": 1})
        publish = one(spans, "SNS.Publish")
        queued = one(spans, "signal queued")
        fix = one(spans, "remediate")
        fired = one(spans, f"re-trigger {kind}")
        healed = one(spans, "batch run", **{"pipeline.attempt": 2})

        # producer: the run is the root; the publish its child.
        assert failed.parent_id is None
        assert (failed.service, publish.service) == ("producer", "producer")
        assert publish.parent_id == failed.span_id
        assert publish.kind == "PRODUCER"
        # SNS -> SQS -> remediator: the signal's wait and the remediation under the publish.
        assert (queued.service, fix.service) == ("remediator", "remediator")
        assert queued.parent_id == publish.span_id
        assert queued.start_ns <= queued.end_ns
        assert (fix.parent_id, fix.kind) == (publish.span_id, "CONSUMER")
        assert fix.attributes["remediator.outcome"] == "triggered"
        # decide, claim, fire, record: the claim and the record are the remediation's writes;
        # the record first archives the failed run's events (the item would pass 1 KB).
        steps = [(c.name, c.attributes.get("audit.events")) for c in children(spans, fix)]
        assert steps == [
            ("DynamoDB.UpdateItem", None),
            (f"re-trigger {kind}", None),
            ("DynamoDB.PutItem", None),  # the archive
            ("DynamoDB.PutItem", ["RETRY_TRIGGERED"]),  # over the item the claim returned
        ]
        assert fired.parent_id == fix.span_id
        # remediator -> worker: the healed run is the re-trigger's child.
        assert (healed.service, healed.parent_id, healed.kind) == (
            "worker",
            fired.span_id,
            "CONSUMER",
        )
        assert healed.attributes["pipeline.outcome"] == "SUCCESS"
        # A worker that never read the batch guesses it new (PutItem); the refusal hands
        # back the whole item, and STARTED is put over it: both writes are in the trace.
        writes = [
            (c.name, c.attributes.get("audit.events"), c.error)
            for c in children(spans, healed)
            if not c.attributes.get("audit.archive")  # older events moved out, when full
        ]
        assert writes == [
            ("DynamoDB.PutItem", ["STARTED"], True),
            ("DynamoDB.PutItem", ["STARTED"], False),
            ("DynamoDB.PutItem", ["SUCCESS"], False),
        ]
