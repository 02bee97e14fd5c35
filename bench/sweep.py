"""Items read (and time) per sweep of the due-index: 100,000 batch items against 1,000.

Both tables hold library-shaped batch items (mostly SUCCESS, which the sparse index never
sees) and the same number of FAILED items due now. The sweep is the real `Sweeper.sweep()`
over the real `AuditStore.due` queries; each due batch it finds is handed to a recorder
instead of being claimed, so the figure is the sweep's reading alone (claims and triggers
are the same work at any table size, and are timed by the TTR and scale figures).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from bench.endpoint import REGION
from bench.hooks import CallCounter
from bench.items import failed_item, rekeyed, success_item, to_ddb
from bench.load import batch_write
from bench.report import Figure
from bench.stack import make_clients, make_remediator, work_queue
from observability import SqsTrigger
from observability.models import BatchState
from observability.models.keys import BatchKey, failed_partition
from observability.transitions import TableConfig
from remediator.remediation import Outcome
from remediator.service.sweeper import Sweeper
from remediator.stack.provision import table_definition

__all__ = ["run"]

_BATCHES_PER_JOB = 1_000
_RAW_QUERIES = 2
_SMALL_SWEEPS = 5


class _Recorder(list[BatchState]):
    """Stands in for Remediator.remediate: keeps what the sweep found, writes nothing."""

    def __call__(self, state: BatchState, now: datetime | None = None) -> Outcome:
        self.append(state)
        return Outcome("found", state.key.token)


def _create(ddb: Any, name: str) -> None:
    ddb.create_table(**table_definition(name))
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})


def _due_items(cfg: TableConfig, now: datetime, trigger: str, due: int) -> list[dict[str, Any]]:
    return [
        to_ddb(
            failed_item(
                BatchKey("due-job", f"due-{n:03d}"),
                cfg,
                now - timedelta(minutes=5),
                trigger,
                due=now - timedelta(seconds=1),
            )
        )
        for n in range(due)
    ]


def _load(
    ddb: Any, table: str, size: int, due: int, cfg: TableConfig, trigger: str, threads: int
) -> tuple[float, list[dict[str, Any]]]:
    """Fill a fresh table; returns (seconds, the due items, to re-arm them between sweeps)."""
    now = datetime.now(UTC)
    template = success_item(BatchKey("template", "template"), cfg, now, trigger)
    items = [
        to_ddb(rekeyed(template, BatchKey(f"job-{n // _BATCHES_PER_JOB:04d}", f"b-{n:06d}")))
        for n in range(size - due)
    ]
    armed = _due_items(cfg, now, trigger, due)
    started = time.perf_counter()
    batch_write(ddb, table, items + armed, threads=threads)
    return time.perf_counter() - started, armed


def run(
    endpoint: str,
    sizes: tuple[int, int],
    due: int,
    repeats: int,
    threads: int,
    server_cpu: Callable[[], float | None],
) -> tuple[list[Figure], dict[str, Any]]:
    clients = make_clients(endpoint, max_pool_connections=max(16, threads))
    ddb = clients.dynamodb()
    raw = boto3.Session(region_name=REGION).client(
        "dynamodb", endpoint_url=endpoint, config=clients.config_for("dynamodb")
    )
    cfg = TableConfig()
    trigger = SqsTrigger(queue_url=work_queue(clients), body={"bench": True}).to_json()
    per_size: dict[int, dict[str, Any]] = {}
    for size in sizes:
        table = f"bench-sweep-{size}-{uuid.uuid4().hex[:6]}"
        _create(ddb, table)
        cpu0 = server_cpu()
        load_seconds, armed = _load(ddb, table, size, due, cfg, trigger, threads)
        cpu1 = server_cpu()
        remediator = make_remediator(None, clients, endpoint, table_name=table)
        found = _Recorder()
        remediator.remediate = found  # type: ignore[method-assign]
        sweeper = Sweeper(remediator)
        counter = CallCounter()
        counter.attach(clients.dynamodb())
        sweeps: list[dict[str, Any]] = []
        # The first sweep of the run pays for botocore's lazy model loading: not timed. The
        # small table's sweeps are cheap, so it always gets enough for a steady median.
        warm = 1 if size == sizes[0] else 0
        timed = max(repeats, _SMALL_SWEEPS) if size == sizes[0] else repeats
        for _ in range(warm + timed):
            batch_write(ddb, table, armed, threads=1)  # re-arm: due now, as loaded
            counter.reset()
            found.clear()
            started = time.perf_counter()
            sweeper.sweep()
            seconds = time.perf_counter() - started
            sweeps.append({"seconds": seconds, "found": len(found), **counter.snapshot()})
        sweeps = sweeps[warm:]
        counter.detach(clients.dynamodb())
        if any(s["found"] != due for s in sweeps):
            raise RuntimeError(f"sweep of {size} items found {[s['found'] for s in sweeps]}")
        # The endpoint's own cost of one such Query, with nothing of the library around it.
        partition = failed_partition(BatchKey("due-job", "due-000"), cfg.shards)
        raw_times = []
        for _ in range(_RAW_QUERIES):
            started = time.perf_counter()
            raw.query(
                TableName=table,
                IndexName="due-index",
                KeyConditionExpression="due_pk = :p AND due_at <= :now",
                ExpressionAttributeValues={
                    ":p": {"S": partition},
                    ":now": {"S": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
                },
            )
            raw_times.append(time.perf_counter() - started)
        ddb.delete_table(TableName=table)  # 100,000 items slow every later call in moto
        per_size[size] = {
            "load_seconds": load_seconds,
            "load_items_per_second": size / load_seconds,
            "load_server_cores_busy": (
                (cpu1 - cpu0) / load_seconds if cpu0 is not None and cpu1 is not None else None
            ),
            "sweep_seconds": statistics.median(s["seconds"] for s in sweeps),
            "items_read": statistics.median(s["scanned"] for s in sweeps),
            "items_returned": statistics.median(s["returned"] for s in sweeps),
            "queries": statistics.median(s["calls"].get("dynamodb.Query", 0) for s in sweeps),
            "raw_query_seconds": statistics.median(raw_times),
            "sweeps": sweeps,
        }
    small, large = (per_size[s] for s in sizes)
    label = f"{sizes[1] // 1000}k/{sizes[0] // 1000}k" if sizes[0] >= 1000 else "large/small"
    read_ratio = large["items_read"] / max(small["items_read"], 1)
    time_ratio = large["sweep_seconds"] / small["sweep_seconds"]
    raw_ratio = large["raw_query_seconds"] / small["raw_query_seconds"]
    reads = Figure(
        "sweep_read_ratio_100k_vs_1k",
        f"items read per sweep {label}",
        read_ratio,
        1.5,
        "<=",
        measured=f"{large['items_read']:g} items, {large['queries']:g} queries",
        floor=f"{small['items_read']:g} items, {small['queries']:g} queries",
    )
    timing = Figure(
        "sweep_time_ratio_100k_vs_1k",
        f"time per sweep {label}",
        time_ratio,
        1.5,
        "<=",
        measured=f"{large['sweep_seconds']:.2f} s",
        floor=f"{small['sweep_seconds'] * 1e3:.0f} ms",
    )
    if not timing.passed:
        timing.notes.append(
            f"the floor, one raw Query of one shard with the same {due} matching items, "
            f"costs {raw_ratio:.0f}x as much on the large table "
            f"({large['raw_query_seconds'] * 1e3:.0f} ms vs "
            f"{small['raw_query_seconds'] * 1e3:.1f} ms): moto sorts every item of the table "
            f"on each index Query; the sweep grew {time_ratio / raw_ratio:.2f}x that, reading "
            "no more items"
        )
    details = {
        "sizes": list(sizes),
        "due": due,
        "repeats": repeats,
        "shards": cfg.shards,
        "raw_query_ratio": raw_ratio,
        "sweep_time_over_raw_query_ratio": time_ratio / raw_ratio,
        "per_size": {str(k): v for k, v in per_size.items()},
    }
    return [reads, timing], details
