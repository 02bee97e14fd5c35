"""Time per successful batch: the library, the raw floor and Powertools, interleaved.

Each round times one batch of each variant, in rotating order, on the same endpoint and
with the same botocore Config; a figure is the median of the per-round ratios. Every
variant writes into one table that keeps growing: moto's PutItem and UpdateItem cost the
same on an empty table and on a large one (see docs/BENCHMARKS.md), so nothing is
deleted between rounds.
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
from bench.floor_writes import floor_batch
from bench.powertools_baseline import powertools_batch
from bench.profiling import summarise
from bench.report import Figure
from bench.stack import make_clients, make_producer, new_resources, work_queue
from bench.stats import interleave, paired_ratio
from observability import SqsTrigger

__all__ = ["run"]

_PROFILED_BATCHES = 50
# Two letters per variant: every variant's batch ids, and so its items, are the same size.
_TAGS = {"library": "li", "floor": "fl", "powertools": "pt"}


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
    session = boto3.Session(region_name=REGION)
    raw = session.client("dynamodb", endpoint_url=endpoint, config=config)
    powertools = powertools_batch(session.client("dynamodb", endpoint_url=endpoint, config=config))
    job = f"prod-{uuid.uuid4().hex[:6]}"

    def library(batch: str) -> None:
        with trail.batch(job, batch, trigger=SqsTrigger(queue_url=queue, body={"batch": batch})):
            pass

    def floor(batch: str) -> None:
        floor_batch(raw, table, job, batch, {"batch": batch}, queue, trail.actor)

    def yardstick(batch: str) -> None:
        powertools(job, batch)

    kinds: dict[str, Callable[[str], None]] = {
        "library": library,
        "floor": floor,
        "powertools": yardstick,
    }
    cpu: dict[str, list[float]] = {name: [] for name in kinds}
    server: dict[str, list[float]] = {name: [] for name in kinds}

    def timed(name: str) -> Callable[[int], float]:
        fn = kinds[name]

        def chunk(r: int) -> float:
            wall = busy = served = 0.0
            for n in range(per_round):
                batch = f"{_TAGS[name]}-{r:05d}-{n:03d}"
                s0, c0, t0 = server_cpu(), time.process_time(), time.perf_counter()
                fn(batch)
                wall += time.perf_counter() - t0
                busy += time.process_time() - c0
                s1 = server_cpu()
                served += (s1 - s0) if s0 is not None and s1 is not None else 0.0
            cpu[name].append(busy / per_round)
            server[name].append(served / per_round)
            return wall / per_round

        return chunk

    # Warm-up: connections, botocore's lazily loaded models, first-call caches.
    for name, fn in kinds.items():
        for n in range(5):
            fn(f"{_TAGS[name]}-warm{n}-000")
    times = interleave(rounds, {name: timed(name) for name in kinds})
    med = {name: statistics.median(v) for name, v in times.items()}
    cpu_med = {name: statistics.median(v) for name, v in cpu.items()}

    def ms(name: str) -> str:
        return f"{med[name] * 1e3:.1f} ms ({cpu_med[name] * 1e3:.1f} cpu)"

    vs_floor = Figure(
        "producer_time_ratio_vs_floor",
        "producer time / raw floor (two conditional PutItems)",
        paired_ratio(times["library"], times["floor"]),
        1.10,
        "<=",
        measured=f"library {ms('library')}",
        floor=f"2 raw writes {ms('floor')}",
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
    floor_vs_pt = paired_ratio(times["floor"], times["powertools"])
    for fig, other in ((vs_floor, "floor"), (vs_powertools, "powertools")):
        fig.notes.append(
            f"CPU per batch, client (median) + endpoint (mean): library "
            f"{cpu_med['library'] * 1e3:.2f} + {server_mean['library'] * 1e3:.1f} ms, {other} "
            f"{cpu_med[other] * 1e3:.2f} + {server_mean[other] * 1e3:.1f} ms; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    vs_powertools.notes.append(
        f"the raw floor alone is {floor_vs_pt:.2f}x Powertools on this endpoint (the same two "
        "calls, on a larger item: the state, the trigger and the history)"
    )
    details: dict[str, Any] = {
        "rounds": rounds,
        "batches_per_round": per_round,
        "floor_shape": "conditional PutItem + conditional PutItem over it, the library's items",
        "median_ms_per_batch": {k: v * 1e3 for k, v in med.items()},
        "client_cpu_ms_per_batch": {k: v * 1e3 for k, v in cpu_med.items()},
        "server_cpu_ms_per_batch_mean": {k: v * 1e3 for k, v in server_mean.items()},
        "cpu_ms_per_batch": {k: v * 1e3 for k, v in busy.items()},
        "ratio_floor_vs_powertools": floor_vs_pt,
        "seconds_per_batch": times,
    }
    if profile_to is not None:
        details["profile"] = _profile(library, _PROFILED_BATCHES, profile_to)
    return [vs_floor, vs_powertools], details


def _profile(library: Callable[[str], None], count: int, path: Path) -> dict[str, Any]:
    """cProfile the library loop: where its time goes, saved and summarised."""
    prof = cProfile.Profile()
    for n in range(count):
        prof.enable()
        library(f"li-prof{n}-000")
        prof.disable()
    return {"batches": count, **summarise(pstats.Stats(prof), path, ("/observability/",))}
