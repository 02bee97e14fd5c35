"""`jobs`: every job and what needs attention in it, without a table scan.

Its reads are O(jobs + batches needing attention), never O(batches): one Query of the job
registry (`JOBS`, an item per job, written by the producers: observability.audit.registry), one
Query per shard of each kind of the sparse due-index (FAILED#, EXHAUSTED#, LIVE#: only
batches that need the remediator carry those keys), the table's shape and the pauses item;
for scheduled jobs, one Query per DEADLINE# shard and their schedules' late counts.
A job with a batch in the index but not (yet) in the registry is listed all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from observability.audit import AuditStore
from observability.audit.schedules import due_schedules, late_counts
from observability.errors import StoreUnavailable
from observability.models import Status, is_expired, iso, plain_item
from observability.models.keys import (
    exhausted_partitions,
    failed_partitions,
    live_partitions,
    registry_partition,
)
from remediator.guards.pause_item import read_pauses
from remediator.guards.pauses import Pause

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["ATTENTION", "JobHealth", "jobs", "registered"]

ATTENTION = ("failing", "exhausted", "running", "stale")


@dataclass(slots=True)
class JobHealth:
    job_id: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ATTENTION, 0))
    last_success_at: str | None = None
    first_seen_at: str | None = None
    registered: bool = False
    paused: Pause | None = None
    late: int | None = None  # batches past their deadline (None: the job has no calendar)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "counts": dict(self.counts),
            "last_success_at": self.last_success_at,
            "first_seen_at": self.first_seen_at,
            "registered": self.registered,
            "paused": self.paused.as_dict() if self.paused else None,
            "late": self.late,
        }


def registered(clients: AwsClients, table: str, now: datetime) -> dict[str, dict[str, Any]]:
    """The job registry: one paginated Query of its partition, by job id."""
    found: dict[str, dict[str, Any]] = {}
    paginator = clients.dynamodb().get_paginator("query")
    try:
        for page in paginator.paginate(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": registry_partition()}},
        ):
            for raw in page.get("Items", []):
                item: dict[str, Any] = dict(raw)
                if is_expired(item, now):
                    continue
                data = plain_item(item)
                if isinstance(data.get("job_id"), str):
                    found[data["job_id"]] = data
    except (ClientError, BotoCoreError) as exc:
        raise StoreUnavailable(f"Query of the job registry on {table!r} failed: {exc}") from exc
    return found


def _kind(partition_kind: str, status: Status, due_at: str | None, stamp: str) -> str | None:
    if partition_kind == "FAILED" and status is Status.FAILED:
        return "failing"
    if partition_kind == "EXHAUSTED" and status is Status.EXHAUSTED:
        return "exhausted"
    if partition_kind == "LIVE" and status in (Status.STARTED, Status.RETRYING):
        return "stale" if due_at and due_at <= stamp else "running"
    return None  # the index lags its item: counted under its own kind, or not at all


def jobs(clients: AwsClients, table: str, now: datetime, *, shards: int) -> list[JobHealth]:
    """Every job, registered or in the due-index, sorted by id."""
    store = AuditStore(clients, table)
    shape = store.shape()
    shards = shape.shards if shape else shards
    health: dict[str, JobHealth] = {}
    for job_id, data in registered(clients, table, now).items():
        health[job_id] = JobHealth(
            job_id,
            last_success_at=data.get("last_success_at"),
            first_seen_at=data.get("first_seen_at"),
            registered=True,
        )
    far, stamp = now + timedelta(days=3650), iso(now)
    for kind, partitions in (
        ("FAILED", failed_partitions(shards)),
        ("EXHAUSTED", exhausted_partitions(shards)),
        ("LIVE", live_partitions(shards)),
    ):
        for partition in partitions:
            for hint in store.due(partition, until=far, now=now):
                counted = _kind(kind, hint.status, hint.due_at, stamp)
                if counted:
                    job = health.setdefault(hint.job_id, JobHealth(hint.job_id))
                    job.counts[counted] += 1
    # Scheduled jobs: one Query per DEADLINE# shard, their late counts 100 jobs a read.
    scheduled = due_schedules(store, shards, far)
    for job_id, late in late_counts(store, scheduled).items():
        health.setdefault(job_id, JobHealth(job_id)).late = late
    paused = read_pauses(clients, table)
    for job in health.values():
        job.paused = paused.job(job.job_id, now)
    return [health[k] for k in sorted(health)]
