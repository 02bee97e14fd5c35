"""A retry's writes against the floor of a retry, measured by the same meter in one run.

The library's retry: each failure heard by a real remediator (signal, claim, trigger,
record), then re-run by an `SqsWorker` that receives the trigger's message and runs it
(`run_request`: the batch is read, then STARTED and SUCCESS). The floor: `bench.floor_retry`,
four raw single-item writes of a lean item and their index entries.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from bench.floor_retry import floor_failed_item, floor_retry
from bench.hooks import CallCounter
from bench.meter import WriteMeter, Written
from bench.report import Figure
from bench.stack import make_clients, make_consumer, make_producer, make_remediator
from observability import SqsWorker
from observability.models.keys import BatchKey, failed_partition

__all__ = ["attribute_table", "bytes_by_write", "floor", "rerun", "retry_figure"]


def rerun(
    endpoint: str, resources: Any, meter: WriteMeter, job: str, failed: Sequence[str], queue: str
) -> dict[str, Any]:
    """The remediator retries every failed batch; a worker receives each trigger and re-runs
    it successfully."""
    remediator_clients = make_clients(endpoint)
    remediator = make_remediator(resources, remediator_clients, endpoint)
    consumer, service = make_consumer(remediator, remediator_clients)
    worker_clients = make_clients(endpoint)
    worker = make_producer(resources, worker_clients, actor="worker")
    worker.registry.noted(job, worker.now(), success=True)  # a warm worker: registered once
    counter = CallCounter()
    for client in (
        remediator_clients.dynamodb(),
        remediator.record_clients.dynamodb(),
        remediator_clients.sqs(),
        remediator.trigger_clients.sqs(),
        worker_clients.dynamodb(),
    ):
        counter.attach(client)
    meter.attach(remediator_clients.dynamodb(), "remediator")
    meter.attach(remediator.record_clients.dynamodb(), "remediator")
    meter.attach(worker_clients.dynamodb(), "re-run")
    meter.phase = "retry"
    triggered = 0
    while triggered < len(failed):
        messages = consumer.receive(wait_seconds=1)
        if not messages:
            raise RuntimeError(f"signals missing: {dict(remediator.counts)}")
        service.process(messages)
        triggered = remediator.counts["triggered"]
    if triggered != len(failed) or set(remediator.counts) != {"triggered"}:
        raise RuntimeError(f"unexpected outcomes: {dict(remediator.counts)}")
    sqs_worker = SqsWorker(worker, queue, lambda run: None, wait_seconds=1, max_messages=10)
    done = 0
    while done < len(failed):
        results = sqs_worker.poll_once()
        if not results:
            raise RuntimeError(f"re-run requests missing: {done} of {len(failed)} run")
        if any(r is None or r.outcome.value != "succeeded" for r in results):
            raise RuntimeError(f"unexpected re-runs: {[r and r.summary() for r in results]}")
        done += len(results)
    return counter.snapshot()


def floor(
    raw: Any, meter: WriteMeter, table: str, job: str, queue: str, samples: int, shards: int
) -> None:
    """The floor of a retry, `samples` times, metered as phase "floor-retry"."""
    meter.attach(raw, "floor")
    for n in range(samples):
        batch = f"floor-retry-{n}-{uuid.uuid4().hex[:6]}"
        shard = int(failed_partition(BatchKey(job, batch), shards).split("#")[1])
        meter.phase = "floor-retry-setup"
        floor_failed_item(raw, table, job, batch, queue, "pipeline", shard)
        meter.phase = "floor-retry"
        floor_retry(raw, table, job, batch, "remediator", shard)


# The transition a write of the retry path makes, by the status it leaves (the FAILED item
# the claim starts from is the failure phase's last write).
_STEPS = {
    "FAILED": "failed",
    "RETRYING": "claim/record",
    "STARTED": "re-run STARTED",
    "SUCCESS": "re-run SUCCESS",
}
# Attributes under this many bytes are summed into "(rest)" in the notes.
_SHOWN_BYTES = 20


def _step(w: Written) -> str:
    if w.kind != "batch":
        return f"{w.kind} put ({w.who})"
    step = _STEPS.get(w.status, w.status or "?")
    if step == "claim/record":
        step = "claim" if w.operation == "UpdateItem" else "record"
    return step


def bytes_by_write(records: Sequence[Written]) -> dict[str, dict[str, float]]:
    """Median bytes by attribute of the item each step of the retry path leaves, with its
    total and its table units: where a retry's bytes go."""
    grouped: dict[str, list[dict[str, int]]] = defaultdict(list)
    for w in records:
        if w.kind in ("batch", "archive") and not w.refused:
            row = {**w.attributes, "(item)": sum(w.attributes.values()), "(units)": w.cost.table}
            for n, (name, size) in enumerate(w.events):
                row[f"events[{n}] {name}"] = size
            grouped[_step(w)].append(row)
    out: dict[str, dict[str, float]] = {}
    for label, rows in grouped.items():
        names = {n for row in rows for n in row}
        sizes = {n: float(statistics.median(row.get(n, 0) for row in rows)) for n in names}
        sizes["(writes)"] = float(len(rows))
        out[label] = dict(sorted(sizes.items(), key=lambda kv: -kv[1]))
    return out


def attribute_table(sizes: dict[str, dict[str, float]], samples: int) -> list[str]:
    """One line per step: the item it leaves, its table units, and its bytes by attribute
    (the larger ones by name, the rest summed)."""
    lines = []
    for step, s in sizes.items():
        attrs = {n: v for n, v in s.items() if not n.startswith(("(", "events["))}
        shown = [f"{name} {size:g}" for name, size in attrs.items() if size >= _SHOWN_BYTES]
        rest = sum(v for v in attrs.values() if v < _SHOWN_BYTES)
        listed = sorted((n, v) for n, v in s.items() if n.startswith("events["))
        events = " + ".join(f"{n.split(' ', 1)[1]} {v:g}" for n, v in listed)
        per = s["(writes)"] / samples if samples else 0
        lines.append(
            f"{step}: {s['(item)']:g} B, {s['(units)']:g} unit(s), {per:g} per retry; "
            + ", ".join(shown)
            + f", (rest) {rest:g}; events: {events or 'none'}"
        )
    return lines


def _units_by_write(per: dict[str, Any]) -> str:
    return ", ".join(f"{label} {units:g}" for label, units in per["by_request"].items())


def retry_figure(
    lib: dict[str, Any],
    floor_per: dict[str, Any],
    calls: float,
    sizes: dict[str, Any],
    samples: int,
) -> Figure:
    fig = Figure(
        "wru_per_retry_ratio_vs_floor",
        "write units per retry / floor (4 writes + index)",
        lib["units"] / floor_per["units"] if floor_per["units"] else None,
        1.25,
        "<=",
        measured=f"library {lib['units']:g} ({lib['table']:g} table + {lib['index']:g} index)",
        floor=f"raw {floor_per['units']:g} ({floor_per['table']:g} table + "
        f"{floor_per['index']:g} index)",
    )
    fig.notes.append(f"library by write: {_units_by_write(lib)}; {calls:g} calls per retry")
    fig.notes.append(f"floor by write: {_units_by_write(floor_per)}")
    fig.notes.append("item a write leaves, median bytes by attribute (bench.retry_costs):")
    fig.notes.extend(f"  {line}" for line in attribute_table(sizes, samples))
    return fig
