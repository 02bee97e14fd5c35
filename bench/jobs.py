"""Items read by `remediator jobs` over many jobs of many batches, against its floor.

The table holds `jobs` x `batches` batch items, mostly SUCCESS (no index keys), and per
job a few that need attention (FAILED, EXHAUSTED, running, stale), each in its due-index
partition; every job is registered (observability.audit.registry) and one is paused. The floor
is what `jobs` must read whatever the table's size: each registry item, each due-index
entry, the table's shape and the pauses item. Items are put with BatchWriteItem directly:
the figure is the reading, not the writing. One retry shard keeps moto's index queries
(each sorts the whole table) inside the bench's time; more shards add empty queries only.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.load import batch_write
from bench.report import Figure
from observability.clients import AwsClients
from observability.models import iso
from observability.models.keys import (
    BatchKey,
    exhausted_partition,
    failed_partition,
    live_partition,
    pauses_key,
    registry_key,
)
from remediator.ops.jobs import jobs as list_jobs
from remediator.stack.provision import bootstrap

__all__ = ["ATTENTION_PLAN", "fill", "run"]

SHARDS = 1
# Which batches of job n need attention: (status, index kind, due offset in s), when n % k == 0.
ATTENTION_PLAN = (
    (1, "FAILED", "failing", -1),
    (2, "EXHAUSTED", "exhausted", -60),
    (5, "STARTED", "running", 600),
    (10, "STARTED", "stale", -60),
)
_PARTITION = {"failing": failed_partition, "exhausted": exhausted_partition}


def _s(text: str) -> dict[str, str]:
    return {"S": text}


def _batch(key: BatchKey, status: str, version: int) -> dict[str, Any]:
    return {
        "pk": _s(key.pk),
        "sk": _s(key.sk),
        "status": _s(status),
        "attempt": {"N": "1"},
        "version": {"N": str(version)},
    }


def fill(clients: AwsClients, table: str, now: datetime, jobs: int, batches: int) -> dict[str, Any]:
    """Load the table; returns the counts `jobs` must show and its floor in items."""
    items: list[dict[str, Any]] = []
    expected: dict[str, dict[str, int]] = {}
    for j in range(jobs):
        job = f"job-{j:03d}"
        counts = {name: 0 for _, _, name, _ in ATTENTION_PLAN}
        special = 0
        for every, status, name, offset in ATTENTION_PLAN:
            if j % every:
                continue
            key = BatchKey(job, f"b-{special:06d}")
            special += 1
            partition = _PARTITION.get(name, live_partition)(key, SHARDS)
            due = iso(now + timedelta(seconds=offset))
            items.append({**_batch(key, status, 2), "due_pk": _s(partition), "due_at": _s(due)})
            counts[name] += 1
        items += [
            _batch(BatchKey(job, f"b-{n:06d}"), "SUCCESS", 2) for n in range(special, batches)
        ]
        pk, sk = registry_key(job)
        items.append(
            {"pk": _s(pk), "sk": _s(sk), "job_id": _s(job), "last_success_at": _s(iso(now))}
        )
        expected[job] = counts
    pk, sk = pauses_key()
    items.append(
        {
            "pk": _s(pk),
            "sk": _s(sk),
            "JOB#job-000": {
                "M": {"scope": _s("job"), "name": _s("job-000"), "reason": _s("bench"),
                      "actor": _s("arn:aws:iam::123456789012:user/bench"), "at": _s(iso(now))}
            },
        }
    )  # fmt: skip
    batch_write(clients.dynamodb(), table, items, threads=3)
    attention = sum(sum(c.values()) for c in expected.values())
    return {"expected": expected, "floor": jobs + attention + 2, "attention": attention}


class _ReadCounter:
    """Items read, from each DynamoDB reply this client gets (Query: ScannedCount)."""

    def __init__(self) -> None:
        self.items = 0
        self.calls = 0

    def __call__(self, event_name: str, parsed: dict[str, Any], **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        self.calls += 1
        if operation in ("Query", "Scan"):
            self.items += int(parsed.get("ScannedCount", 0))
        elif operation == "GetItem" and parsed.get("Item"):
            self.items += 1


def run(endpoint: str, jobs: int, batches: int) -> tuple[list[Figure], dict[str, Any]]:
    clients = AwsClients(region="us-east-1", endpoint_url=endpoint)
    table = f"bench-jobs-{uuid.uuid4().hex[:6]}"
    bootstrap(clients, table, shards=SHARDS)
    now = datetime.now(UTC)
    started = time.perf_counter()
    loaded = fill(clients, table, now, jobs, batches)
    load_seconds = time.perf_counter() - started
    counter = _ReadCounter()
    clients.dynamodb().meta.events.register("after-call.dynamodb", counter)
    started = time.perf_counter()
    found = list_jobs(clients, table, now, shards=SHARDS)
    seconds = time.perf_counter() - started
    shown = {j.job_id: dict(j.counts) for j in found}
    if shown != loaded["expected"]:
        raise RuntimeError("jobs counted otherwise than the table was loaded")
    clients.dynamodb().delete_table(TableName=table)
    figure = Figure(
        "jobs_items_read_vs_floor",
        f"items read by `jobs`, {jobs} jobs x {batches:,} batches",
        counter.items / loaded["floor"],
        1.0,
        "<=",
        measured=f"{counter.items} items, {counter.calls} calls",
        floor=f"{loaded['floor']} (jobs + entries needing attention + shape + pauses)",
    )
    details = {
        "jobs": jobs,
        "batches_per_job": batches,
        "items_read": counter.items,
        "floor": loaded["floor"],
        "calls": counter.calls,
        "seconds": seconds,
        "load_seconds": load_seconds,
    }
    return [figure], details
