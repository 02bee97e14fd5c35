"""`remediator jobs` through the real CLI: what it shows, and what it reads (issue 25, item 6)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.jobs import SHARDS, fill
from observability import NonRetryableError
from remediator.stack.provision import bootstrap
from tests.conftest import Clock, new_id
from tests.counting import ReadCountingProxy
from tests.integration.harness import Stack, cli, run_cli


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def jobs_json(stack: Stack) -> dict[str, Any]:
    done = run_cli(stack.endpoint, stack.settings, "jobs", "--output", "json")
    assert done.returncode == 0, done.stderr
    return {j["job_id"]: j for j in json.loads(done.stdout)}


def test_jobs_shows_what_needs_attention_the_last_success_and_who_paused(stack: Stack):
    job = new_id()
    with stack.trail.batch(job, "ok", trigger=stack.trigger("ok")):
        pass
    stack.fail(job, "retrying")
    stack.fail(job, "given-up", NonRetryableError)
    with stack.trail.batch(job, "running", trigger=stack.trigger("running")):
        shown = jobs_json(stack)[job]
    assert shown["counts"] == {"failing": 1, "exhausted": 1, "running": 1, "stale": 0}
    assert shown["registered"] is True
    assert shown["last_success_at"] is not None
    assert shown["paused"] is None
    table = run_cli(stack.endpoint, stack.settings, "jobs")
    assert table.returncode == 0
    assert job in table.stdout


def test_jobs_over_50_jobs_of_2000_batches_reads_fewer_than_200_items(
    clients: Any, moto_endpoint: str
):
    table = f"audit-jobs-{uuid.uuid4().hex[:8]}"
    bootstrap(clients, table, shards=SHARDS)
    proxy = ReadCountingProxy(moto_endpoint).start()
    try:
        loaded = fill(clients, table, datetime.now(UTC), 50, 2_000)
        done = cli(
            "jobs", "--output", "json", AWS_ENDPOINT_URL=proxy.url, REMEDIATOR_TABLE_NAME=table
        )
        assert done.returncode == 0, done.stderr
        shown = {j["job_id"]: j["counts"] for j in json.loads(done.stdout)}
        assert shown == loaded["expected"]
        read = sum(proxy.read.values())
        # Counted at the endpoint: the registry, the due-index entries, the shape, the pauses.
        assert read == loaded["floor"] == 142, proxy.read
        assert read < 200
    finally:
        proxy.stop()
        clients.dynamodb().delete_table(TableName=table)  # 100,000 items slow moto for all
