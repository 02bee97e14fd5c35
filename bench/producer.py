"""Time per successful batch: the library, the raw floor and Powertools, interleaved.

Each batch is timed on its own and its items are deleted, untimed, right after: moto's
TransactWriteItems deep-copies the whole table (cost grows with its size, which DynamoDB's
does not), so every batch starts from the same near-empty table and variants stay comparable.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from bench.endpoint import REGION
from bench.floor_writes import floor_batch, floor_puts
from bench.powertools_baseline import powertools_batch
from bench.report import Figure
from bench.stack import make_clients, make_producer, new_resources, work_queue
from bench.stats import interleave, paired_ratio
from observability import SqsTrigger
from observability.keys import BatchKey, event_sk

__all__ = ["run"]

_PROFILED_BATCHES = 50


def _keys(job: str, batch: str) -> list[dict[str, Any]]:
    key = BatchKey(job, batch)
    sks = [key.sk, event_sk(batch, 1), event_sk(batch, 2)]
    return [{"pk": {"S": key.pk}, "sk": {"S": sk}} for sk in sks]


def run(
    endpoint: str,
    rounds: int,
    per_round: int,
    server_cpu: Callable[[], float | None],
    profile_to: Path | None = None,
) -> tuple[list[Figure], dict[str, Any]]:
    clients = make_clients(endpoint)
    resources = new_resources(clients, "producer")
    queue = work_queue(clients)
    trail = make_producer(resources, clients)
    table = resources.table_name
    # Same endpoint and the same botocore Config as the library's: only the code on top differs.
    config = clients.config_for("dynamodb")
    raw = boto3.Session(region_name=REGION).client("dynamodb", endpoint_url=endpoint, config=config)
    admin = boto3.Session(region_name=REGION).client("dynamodb", endpoint_url=endpoint)
    powertools = powertools_batch(
        boto3.Session(region_name=REGION).client("dynamodb", endpoint_url=endpoint, config=config)
    )
    job = f"prod-{uuid.uuid4().hex[:6]}"

    def library(batch: str) -> None:
        with trail.batch(job, batch, trigger=SqsTrigger(queue_url=queue, body={"batch": batch})):
            pass

    def floor(batch: str) -> None:
        floor_batch(raw, table, job, batch, {"batch": batch}, queue)

    def puts(batch: str) -> None:
        floor_puts(raw, table, job, batch, {"batch": batch}, queue)

    def yardstick(batch: str) -> None:
        powertools(job, batch)

    def clean_audit(batch: str) -> None:
        keys = [{"DeleteRequest": {"Key": k}} for k in _keys(job, batch)]
        admin.batch_write_item(RequestItems={table: keys})

    # Powertools writes PutItem/UpdateItem, whose cost in moto does not grow with the table.
    kinds: dict[str, tuple[Callable[[str], None], Callable[[str], None] | None]] = {
        "library": (library, clean_audit),
        "floor": (floor, clean_audit),
        "powertools": (yardstick, None),
        "floor_puts": (puts, clean_audit),
    }
    cpu: dict[str, list[float]] = {name: [] for name in kinds}
    server: dict[str, list[float]] = {name: [] for name in kinds}

    def timed(name: str) -> Callable[[int], float]:
        fn, clean = kinds[name]

        def chunk(r: int) -> float:
            wall = busy = served = 0.0
            for n in range(per_round):
                batch = f"{name}-{r}-{n}"
                s0, c0, t0 = server_cpu(), time.process_time(), time.perf_counter()
                fn(batch)
                wall += time.perf_counter() - t0
                busy += time.process_time() - c0
                s1 = server_cpu()
                served += (s1 - s0) if s0 is not None and s1 is not None else 0.0
                if clean:
                    clean(batch)
            cpu[name].append(busy / per_round)
            server[name].append(served / per_round)
            return wall / per_round

        return chunk

    # Warm-up: connections, botocore's lazily loaded models, first-call caches.
    for name, (fn, clean) in kinds.items():
        for n in range(5):
            fn(f"warm-{name}-{n}")
            if clean:
                clean(f"warm-{name}-{n}")
    times = interleave(rounds, {name: timed(name) for name in kinds})
    med = {name: statistics.median(v) for name, v in times.items()}
    cpu_med = {name: statistics.median(v) for name, v in cpu.items()}

    def ms(name: str) -> str:
        return f"{med[name] * 1e3:.1f} ms ({cpu_med[name] * 1e3:.1f} cpu)"

    vs_floor = Figure(
        "producer_time_ratio_vs_floor",
        "producer time / raw floor (2 TWI)",
        paired_ratio(times["library"], times["floor"]),
        1.25,
        "<=",
        measured=f"library {ms('library')}",
        floor=f"2 raw TWI {ms('floor')}",
    )
    vs_powertools = Figure(
        "producer_time_ratio_vs_powertools",
        "producer time / Powertools idempotency",
        paired_ratio(times["library"], times["powertools"]),
        1.0,
        "<=",
        measured=f"library {ms('library')}",
        floor=f"powertools {ms('powertools')}",
    )
    # /proc counts CPU in 10 ms ticks: per-batch samples are 0 or 10 ms, so only their mean
    # (unbiased over many batches) means anything.
    server_mean = {k: statistics.fmean(v) for k, v in server.items()}
    busy = {k: cpu_med[k] + server_mean[k] for k in kinds}
    if not vs_floor.passed:
        vs_floor.notes.append(
            f"CPU per batch, client + endpoint: library {busy['library'] * 1e3:.1f} ms, floor "
            f"{busy['floor'] * 1e3:.1f} ms ({busy['library'] / busy['floor']:.2f}x); the rest "
            f"of the wall-time gap is waiting for a core (load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores)"
        )
    floor_vs_pt = paired_ratio(times["floor"], times["powertools"])
    floor_vs_puts = paired_ratio(times["floor"], times["floor_puts"])
    if not vs_powertools.passed:
        vs_powertools.notes.append(
            f"the raw 2-TWI floor alone is {floor_vs_pt:.2f}x Powertools (PutItem + UpdateItem) "
            f"and {floor_vs_puts:.2f}x two raw PutItems on this endpoint: the gap is the "
            "endpoint's price of a TransactWriteItems, not library code"
        )
    details: dict[str, Any] = {
        "rounds": rounds,
        "batches_per_round": per_round,
        "floor_shape": "2 x TransactWriteItems (state + event), the same items as the library",
        "median_ms_per_batch": {k: v * 1e3 for k, v in med.items()},
        "client_cpu_ms_per_batch": {k: v * 1e3 for k, v in cpu_med.items()},
        "server_cpu_ms_per_batch_mean": {k: v * 1e3 for k, v in server_mean.items()},
        "ratio_library_vs_floor_puts": paired_ratio(times["library"], times["floor_puts"]),
        "ratio_floor_vs_powertools": floor_vs_pt,
        "ratio_floor_vs_floor_puts": floor_vs_puts,
        "seconds_per_batch": times,
    }
    if profile_to is not None:
        details["profile"] = _profile(library, clean_audit, _PROFILED_BATCHES, profile_to)
    return [vs_floor, vs_powertools], details


def _profile(
    library: Callable[[str], None], clean: Callable[[str], None], count: int, path: Path
) -> dict[str, Any]:
    """cProfile the library loop; the library's own functions by cumulative share."""
    prof = cProfile.Profile()
    for n in range(count):
        prof.enable()
        library(f"profile-{n}")
        prof.disable()
        clean(f"profile-{n}")
    path.parent.mkdir(parents=True, exist_ok=True)
    prof.dump_stats(str(path))
    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = max(float(stats.total_tt), 1e-9)  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_cc, _nc, own, cum, _callers) in raw.items():
        if "/observability/" in file:
            rows.append(
                {
                    "at": f"{file.split('/work/main/')[-1]}:{line}",
                    "func": func,
                    "cum_share": round(cum / total, 4),
                    "own_share": round(own / total, 4),
                }
            )
    rows.sort(key=lambda r: r["cum_share"], reverse=True)
    return {"file": str(path), "batches": count, "profiled_seconds": total, "top": rows[:25]}
