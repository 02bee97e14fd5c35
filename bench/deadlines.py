"""What the deadline sweep reads, for 10 and for 1,000 scheduled jobs: flat per job.

The table holds `jobs` schedule items (monthly calendars, their first deadline the same
moment), put directly with BatchWriteItem: the figure is the sweep's reading. Two sweeps
are counted at the client (every DynamoDB reply: calls and items read), on the
remediator's own clients: one before the deadline (an idle sweep: one Query per
`DEADLINE#` shard, nothing read whatever the number of jobs), one after it (a period: each
job's entry, schedule, policy, its batches and one write). No job has a default trigger,
so a period is what the sweep reads, not what triggers cost.
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
from observability.models.calendar import Calendar
from observability.models.keys import deadline_partition, schedule_key
from observability.models.records import av_map
from observability.telemetry.metrics import Metrics
from remediator.remediation import Remediator
from remediator.service.deadlines import DeadlineWatch
from remediator.settings import RemediatorSettings
from remediator.stack.provision import bootstrap

__all__ = ["run"]

DUE = datetime(2024, 8, 1, 6, tzinfo=UTC)
_READS = ("GetItem", "BatchGetItem", "Query")


class _Counter:
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.items = 0

    def __call__(self, event_name: str, parsed: dict[str, Any], **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        self.calls[operation] = self.calls.get(operation, 0) + 1
        if operation == "Query":
            self.items += int(parsed.get("ScannedCount", 0))
        elif operation == "GetItem" and parsed.get("Item"):
            self.items += 1
        elif operation == "BatchGetItem":
            self.items += sum(len(v) for v in parsed.get("Responses", {}).values())

    def reads(self) -> int:
        return sum(self.calls.get(op, 0) for op in _READS)


def _sweep(endpoint: str, jobs: int) -> dict[str, Any]:
    clients = AwsClients(region="us-east-1", endpoint_url=endpoint)
    table = f"bench-deadlines-{uuid.uuid4().hex[:6]}"
    made = bootstrap(clients, table)
    settings = RemediatorSettings(table_name=table, topic_arn=made.topic_arn, _env_file=None)
    cal = Calendar.recurring(every="month", format="%Y-%m", start="2024-07", deadline="+6h")
    items = []
    for n in range(jobs):
        job = f"job-{n:04d}"
        pk, sk = schedule_key(job)
        due_pk = deadline_partition(job, settings.retry_shards)
        plain = {"pk": pk, "sk": sk, "calendar": cal.to_json(), "version": 1,
                 "due_pk": due_pk, "due_at": iso(DUE)}  # fmt: skip
        items.append(av_map(plain))
    batch_write(clients.dynamodb(), table, items, threads=3)
    now = [DUE - timedelta(days=1)]
    counted = AwsClients(region="us-east-1", endpoint_url=endpoint)
    remediator = Remediator(
        settings, clients=counted, metrics=Metrics(enabled=False), clock=lambda: now[0]
    )
    out: dict[str, Any] = {"jobs": jobs}
    for name, moment in (("idle", DUE - timedelta(days=1)), ("period", DUE + timedelta(minutes=1))):
        now[0] = moment
        counter = _Counter()
        events = counted.dynamodb().meta.events
        events.register("after-call.dynamodb", counter)
        started = time.perf_counter()
        seen = DeadlineWatch(remediator).advance()
        seconds = time.perf_counter() - started
        events.unregister("after-call.dynamodb", counter)
        if name == "period" and seen.get("deadline_checked") != jobs:
            raise RuntimeError(f"the period's sweep checked {dict(seen)}, not {jobs} jobs")
        out[name] = {"calls": counter.calls, "reads": counter.reads(), "items_read": counter.items,
                     "seconds": seconds}  # fmt: skip
    clients.dynamodb().delete_table(TableName=table)
    return out


def run(endpoint: str, small: int, large: int) -> tuple[list[Figure], dict[str, Any]]:
    few, many = _sweep(endpoint, small), _sweep(endpoint, large)
    per_job = [m["period"]["reads"] / m["jobs"] for m in (few, many)]
    items_per_job = [m["period"]["items_read"] / m["jobs"] for m in (few, many)]
    figures = [
        Figure(
            "deadline_idle_reads_large_vs_small",
            f"reads of an idle deadline sweep, {large:,} scheduled jobs / {small}",
            many["idle"]["reads"] / few["idle"]["reads"],
            1.0,
            "<=",
            measured=f"{many['idle']['reads']} reads, {many['idle']['items_read']} items",
            floor=f"{few['idle']['reads']} reads (one Query per DEADLINE# shard)",
        ),
        Figure(
            "deadline_period_reads_per_job_large_vs_small",
            f"read requests per job in a period's sweep, {large:,} jobs / {small} jobs",
            per_job[1] / per_job[0],
            1.0,
            "<=",
            measured=f"{per_job[1]:.2f} reads/job ({items_per_job[1]:.2f} items/job)",
            floor=f"{per_job[0]:.2f} reads/job ({items_per_job[0]:.2f} items/job) with {small}",
        ),
    ]
    return figures, {"small": few, "large": many}
