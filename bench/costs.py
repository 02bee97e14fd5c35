"""What a batch costs in AWS calls and in DynamoDB write units, counted on real requests.

Three stories, each `samples` times, with the real objects against the moto server:

- success: a fresh batch through `trail.batch(...)` that succeeds;
- failure: a fresh batch whose body raises (retryable, backoff 0): FAILED, then a Publish;
- retry: each of those failures heard by a real remediator (SignalConsumer.receive and
  Service.process: retry budget, claim, trigger, record), then re-run by a worker with its
  own `AuditTrail`, as a pipeline woken by the trigger would be, and succeeding.

botocore's `before-call` hook counts the calls (`before-send` the HTTP requests, so a
retry would show); `bench.meter` charges every DynamoDB write by DynamoDB's sizing rules
from the items read back around it. The same meter runs over Powertools' idempotency
(success: PutItem + UpdateItem; failure: PutItem + DeleteItem; its re-run: PutItem +
UpdateItem) and over the raw floor's two writes, whose items are compared with the
library's.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import boto3

from bench import retry_costs
from bench.endpoint import REGION
from bench.floor_writes import floor_batch
from bench.hooks import CallCounter
from bench.meter import WriteMeter, Written
from bench.powertools_baseline import PowertoolsFailure, powertools_batch
from bench.report import Figure
from bench.stack import make_clients, make_producer, new_resources, work_queue
from observability import SqsTrigger
from observability.models.keys import BatchKey
from observability.transitions.sizing import item_size

__all__ = ["run"]


class WarehouseTimeout(RuntimeError):
    """A failure as a pipeline raises one: its type and message go into the item."""


# Fixed names and a typical failure, so that item sizes (and units) do not vary from run to
# run with the host name, the process id or the port of the endpoint.
_FAILURE = "warehouse connection timed out after 30 s"


_SHORT = {
    "dynamodb.PutItem": "PutItem",
    "dynamodb.UpdateItem": "UpdateItem",
    "sns.Publish": "Publish",
}


def _ops(calls: dict[str, int], samples: int) -> str:
    return " + ".join(f"{n / samples:g} {_SHORT.get(op, op)}" for op, n in calls.items())


def _per(records: Sequence[Written], samples: int) -> dict[str, Any]:
    """Units per sample, split into table and index units, and by request."""
    by_label: dict[str, int] = defaultdict(int)
    for w in records:
        by_label[w.label] += w.cost.total
    return {
        "units": sum(w.cost.total for w in records) / samples,
        "table": sum(w.cost.table for w in records) / samples,
        "index": sum(w.cost.index for w in records) / samples,
        "index_writes": sum(w.cost.index_writes for w in records) / samples,
        "writes": len(records) / samples,
        "refused_writes": sum(w.refused for w in records) / samples,
        "by_request": {label: units / samples for label, units in by_label.items()},
        "largest_item_bytes": max((max(w.size_before, w.size_after) for w in records), default=0),
    }


def _split(per: dict[str, Any]) -> str:
    return f"{per['units']:g} ({per['table']:g} table + {per['index']:g} index)"


def run(endpoint: str, samples: int) -> tuple[list[Figure], dict[str, Any]]:
    session = boto3.Session(region_name=REGION)
    producer_clients = make_clients(endpoint)
    resources = new_resources(producer_clients, "costs")
    queue = work_queue(producer_clients)
    table = resources.table_name
    reader = session.client("dynamodb", endpoint_url=endpoint)
    meter = WriteMeter(reader)
    counter = CallCounter()
    for service in ("dynamodb", "sns", "sqs"):
        counter.attach(producer_clients.client(service))
    meter.attach(producer_clients.dynamodb(), "producer")
    trail = make_producer(resources, producer_clients, actor="pipeline", backoff_base_seconds=0)
    job = f"costs-{uuid.uuid4().hex[:6]}"
    # A warm process: the table's shape (read once per process) and the job's retry policy
    # (once per job per minute, at its first failure) are read, and the job registered (once
    # per job per process, bench.jobs counts it), before the counts start.
    trail.connect()
    trail.jobs.get(job)
    trail.registry.noted(job, trail.now(), success=True)

    def trigger(batch: str) -> SqsTrigger:
        return SqsTrigger(queue_url=queue, body={"batch": batch})

    meter.phase = "success"
    counter.reset()
    for n in range(samples):
        with trail.batch(job, f"ok-{n}", trigger=trigger(f"ok-{n}")):
            pass
    success_calls = counter.snapshot()

    meter.phase = "failure"
    counter.reset()
    failed = [f"bad-{n}" for n in range(samples)]
    for batch in failed:
        try:
            with trail.batch(job, batch, trigger=trigger(batch)):
                raise WarehouseTimeout(_FAILURE)
        except WarehouseTimeout:
            pass
    failure_calls = counter.snapshot()

    retry_calls = retry_costs.rerun(endpoint, resources, meter, job, failed, queue)

    per_success = sum(success_calls["calls"].values()) / samples
    per_failure = sum(failure_calls["calls"].values()) / samples
    lib = {phase: _per(meter.of(phase), samples) for phase in ("success", "failure", "retry")}
    pt = _powertools(session, endpoint, producer_clients, meter, job, samples)
    floor, shape = _floor(session, endpoint, producer_clients, meter, reader, trail, queue, job,
                          samples, table)  # fmt: skip
    raw = session.client("dynamodb", endpoint_url=endpoint)
    retry_costs.floor(raw, meter, table, job, queue, samples, trail.table.shards)
    floor_retry = _per(meter.of("floor-retry"), samples)
    # The FAILED write the claim starts from, then every write of the retry path.
    retry_sizes = retry_costs.bytes_by_write(
        [w for w in meter.of("failure") if w.status == "FAILED"] + meter.of("retry")
    )
    retry_per_call = sum(retry_calls["calls"].values()) / samples

    figures = [
        Figure(
            "calls_per_success",
            "AWS calls per successful batch",
            per_success,
            2,
            "==",
            measured=_ops(success_calls["calls"], samples),
            floor="2 (STARTED, SUCCESS), warm process",
        ),
        Figure(
            "calls_per_failure",
            "AWS calls per failed batch",
            per_failure,
            3,
            "==",
            measured=_ops(failure_calls["calls"], samples),
            floor="3 (+1 Publish), warm process",
        ),
        Figure(
            "wru_per_success",
            "write units per successful batch",
            lib["success"]["units"],
            4,
            "<=",
            measured=f"library {_split(lib['success'])}",
            floor=f"powertools {_split(pt['success'])}",
        ),
        Figure(
            "wru_per_failure",
            "write units per failed batch",
            lib["failure"]["units"],
            6,
            "<=",
            measured=f"library {_split(lib['failure'])}",
            floor=f"powertools {_split(pt['failure'])}",
        ),
        Figure(
            "wru_per_retry",
            "write units per retry (claim, record, re-run)",
            lib["retry"]["units"],
            0,
            "info",
            measured=f"library {_split(lib['retry'])}",
            floor=f"powertools re-run {_split(pt['retry'])}",
        ),
    ]
    for fig, snap in ((figures[0], success_calls), (figures[1], failure_calls)):
        if snap["http_sends"] != sum(snap["calls"].values()):
            fig.notes.append(f"{snap['http_sends']} HTTP sends for the calls: botocore retried")
    figures.append(
        retry_costs.retry_figure(lib["retry"], floor_retry, retry_per_call, retry_sizes, samples)
    )
    for fig, phase in ((figures[2], "success"), (figures[3], "failure")):
        largest = lib[phase]["largest_item_bytes"]
        fig.notes.append(
            f"largest item written: {largest} bytes ({math.ceil(largest / 1024)} unit(s) a "
            "write); every started KB of error message or trigger adds a unit to each write"
        )
    if meter.errors:
        figures[2].notes.append(f"writes that failed and were not charged: {dict(meter.errors)}")
    if shape["attributes_only_library"] or shape["attributes_only_floor"]:
        figures[2].notes.append(f"the raw floor's items differ from the library's: {shape}")
    details = {
        "samples": samples,
        "calls": {"success": success_calls, "failure": failure_calls, "retry": retry_calls},
        "library": lib,
        "powertools": pt,
        "floor": floor,
        "floor_item_shape": shape,
        "floor_retry": floor_retry,
        "retry_bytes_by_write": retry_sizes,
        "unmetered_errors": dict(meter.errors),
    }
    return figures, details


def _powertools(
    session: Any, endpoint: str, clients: Any, meter: WriteMeter, job: str, samples: int
) -> dict[str, Any]:
    ddb = session.client("dynamodb", endpoint_url=endpoint, config=clients.config_for("dynamodb"))
    guarded = powertools_batch(ddb)
    meter.attach(ddb, "powertools")
    for phase, fail, prefix in (("pt-success", False, "ok"), ("pt-failure", True, "bad")):
        meter.phase = phase
        for n in range(samples):
            with contextlib.suppress(PowertoolsFailure):
                guarded(job, f"{prefix}-{n}", fail=fail)
    meter.phase = "pt-retry"
    for n in range(samples):
        guarded(job, f"bad-{n}")
    return {name: _per(meter.of(f"pt-{name}"), samples) for name in ("success", "failure", "retry")}


def _floor(
    session: Any,
    endpoint: str,
    clients: Any,
    meter: WriteMeter,
    reader: Any,
    trail: Any,
    queue: str,
    job: str,
    samples: int,
    table: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The raw floor's units, and its items next to the library's (names and sizes)."""
    raw = session.client("dynamodb", endpoint_url=endpoint, config=clients.config_for("dynamodb"))
    meter.attach(raw, "floor")
    meter.phase = "floor"
    for n in range(samples):
        batch = f"floor-{n}"
        floor_batch(raw, table, job, batch, {"batch": batch}, queue, trail.actor)

    def item(batch: str) -> dict[str, Any]:
        key = BatchKey(job, batch)
        got = reader.get_item(TableName=table, Key={"pk": {"S": key.pk}, "sk": {"S": key.sk}})
        return dict(got["Item"])

    def sizes(prefix: str) -> list[int]:
        return [item_size(item(f"{prefix}-{n}")) for n in range(samples)]

    lib_item, floor_item = item("ok-0"), item("floor-0")
    shape = {
        "attributes_only_library": sorted(set(lib_item) - set(floor_item)),
        "attributes_only_floor": sorted(set(floor_item) - set(lib_item)),
        "median_item_bytes_library": statistics.median(sizes("ok")),
        "median_item_bytes_floor": statistics.median(sizes("floor")),
    }
    return _per(meter.of("floor"), samples), shape
