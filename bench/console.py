"""The console's job page for a job of 10,000 batches, against `status`'s own read of it.

The table holds one job of `batches` items: mostly SUCCESS, one in fifty FAILED and one in
two hundred EXHAUSTED, each with an error. Both sides are timed in this process, alternated,
`repeats` times each (the median kept): `status` is `remediator.ops.status` as `remediator
status JOB --output json` calls it (the Query of the job's partition, the JSON document,
its bytes); the page is a GET of `/jobs/JOB` to a console served on loopback (the same
Query, one page of cells rendered, its bytes as the browser receives them). The page's
extra cost is what it adds to that read: rendering, HTTP, the pauses item and the policy.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.load import batch_write
from bench.report import Figure
from observability.audit import AuditStore
from observability.clients import AwsClients
from observability.models import iso
from observability.models.keys import BatchKey
from remediator.console.backend import Backend
from remediator.console.reads import PAGE_SIZE
from remediator.console.server import Console
from remediator.ops.status import batches as read_batches
from remediator.ops.status import status
from remediator.settings import RemediatorSettings
from remediator.stack.provision import bootstrap

__all__ = ["run"]

JOB = "bench-console"


def _fill(clients: AwsClients, table: str, now: datetime, batches: int) -> None:
    stamp = iso(now)
    items: list[dict[str, Any]] = []
    for n in range(batches):
        key = BatchKey(JOB, f"{n:06d}")
        status_ = "EXHAUSTED" if n % 200 == 0 else "FAILED" if n % 50 == 0 else "SUCCESS"
        item = {
            "pk": {"S": key.pk}, "sk": {"S": key.sk}, "status": {"S": status_},
            "attempt": {"N": "3" if status_ != "SUCCESS" else "1"}, "version": {"N": "4"},
            "updated_at": {"S": stamp}, "events": {"L": []},
            "expires_at": {"N": str(int(now.timestamp()) + 86400)},
        }  # fmt: skip
        if status_ != "SUCCESS":
            item["error_type"] = {"S": "WarehouseTimeout"}
            item["error_message"] = {"S": "warehouse connection timed out after 30 s"}
        items.append(item)
    batch_write(clients.dynamodb(), table, items, threads=3)


def _status(store: AuditStore, now: datetime, stale: float) -> tuple[float, int, int]:
    started = time.perf_counter()
    states = read_batches(store, JOB, now)
    document = json.dumps(status(JOB, states, now, stale), indent=2, default=str)
    return time.perf_counter() - started, len(document.encode()), len(states)


def _page(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as reply:  # noqa: S310 - loopback
        body = reply.read()
    return time.perf_counter() - started, len(body)


def run(endpoint: str, batches: int, repeats: int) -> tuple[list[Figure], dict[str, Any]]:
    # moto reads a partition of 10,000 items in tens of seconds: both sides wait for it.
    clients = AwsClients(region="us-east-1", endpoint_url=endpoint, read_timeout=300)
    table = f"bench-console-{uuid.uuid4().hex[:6]}"
    bootstrap(clients, table, shards=1)
    now = datetime.now(UTC)
    _fill(clients, table, now, batches)
    settings = RemediatorSettings(
        table_name=table, region="us-east-1", metrics_enabled=False,
        _env_file=None,
    )  # fmt: skip
    backend = Backend(settings, clients)
    backend.read_identity()
    console = Console(backend).start()
    store = AuditStore(clients, table)
    page_url = f"{console.url}jobs/{JOB}"
    try:
        _page(page_url)  # templates compiled, connections open: both sides start warm
        _status(store, now, settings.stale_after_seconds)
        status_runs, page_runs = [], []
        for _ in range(repeats):
            status_runs.append(_status(store, now, settings.stale_after_seconds))
            page_runs.append(_page(page_url))
    finally:
        console.stop()
        clients.dynamodb().delete_table(TableName=table)
    if {n for _, _, n in status_runs} != {batches}:
        raise RuntimeError("status read otherwise than the table was loaded")
    status_s = statistics.median(t for t, _, _ in status_runs)
    page_s = statistics.median(t for t, _ in page_runs)
    status_bytes, page_bytes = status_runs[-1][1], page_runs[-1][1]
    label = f"{batches:,} batches"
    figures = [
        Figure(
            "console_job_page_time_vs_status",
            f"console job page time, {label}",
            page_s / status_s,
            1.5,
            "<=",
            measured=f"{page_s * 1000:.0f} ms (GET, one page of {PAGE_SIZE} cells)",
            floor=f"{status_s * 1000:.0f} ms (`status --output json`'s read)",
        ),
        Figure(
            "console_job_page_bytes_vs_status",
            f"console job page bytes, {label}",
            page_bytes / status_bytes,
            1.0,
            "<=",
            measured=f"{page_bytes / 1024:.0f} KiB",
            floor=f"{status_bytes / 1024:.0f} KiB (`status --output json`)",
        ),
    ]
    details = {
        "batches": batches,
        "repeats": repeats,
        "page_seconds": [t for t, _ in page_runs],
        "status_seconds": [t for t, _, _ in status_runs],
        "page_bytes": page_bytes,
        "status_bytes": status_bytes,
        "page_size": PAGE_SIZE,
    }
    return figures, details
