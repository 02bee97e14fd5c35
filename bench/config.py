"""How much to run: CLI flags, each defaulting to a BENCH_* environment variable.

The defaults keep `make bench` near three minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

__all__ = ["SECTIONS", "BenchConfig", "parse"]

SECTIONS = (
    "costs",
    "producer",
    "coldstart",
    "ttr",
    "sweep",
    "scale",
    "jobs",
    "operations",
    "console",
    "deadlines",
)


@dataclass(frozen=True)
class BenchConfig:
    sections: tuple[str, ...] = SECTIONS
    cost_samples: int = 20
    producer_rounds: int = 150
    producer_batches: int = 1
    ttr_runs: int = 40
    sweep_small: int = 1_000
    sweep_large: int = 100_000
    sweep_due: int = 10
    sweep_repeats: int = 1
    load_threads: int = 3
    scale_batches: int = 500
    scale_signals: int = 250
    scale_seconds: float = 8.0
    scale_rounds: int = 5
    ceiling_seconds: float = 8.0
    contention_batches: int = 60
    jobs_count: int = 50
    jobs_batches: int = 2_000
    cold_pairs: int = 7
    operations_batches: int = 10_000
    operations_run: int = 200
    console_batches: int = 10_000
    console_repeats: int = 3
    deadlines_small: int = 10
    deadlines_large: int = 1_000
    profile: bool = False
    out: Path = Path(__file__).parent / "out" / "latest.json"


_HELP = {
    "cost_samples": "batches per story (success, failure, retry) whose calls and units are counted",
    "producer_rounds": "interleaved rounds of library / raw floor / Powertools",
    "producer_batches": "batches per variant per round",
    "ttr_runs": "failures timed to their trigger (N for the p50), each path",
    "sweep_small": "batch items in the small table",
    "sweep_large": "batch items in the large table",
    "sweep_due": "FAILED items due now in each table",
    "sweep_repeats": "timed sweeps of the large table (the small one gets at least 5)",
    "load_threads": "BatchWriteItem requests in flight while loading",
    "scale_batches": "failed batches for the 1-vs-2 remediator processes figure",
    "scale_signals": "of those batches, how many have their signal queued (twice)",
    "scale_seconds": "time box of each 1- and 2-replica run (3 replicas drain their queue)",
    "scale_rounds": "rounds of 1- and 2-replica runs and 1- and 2-client probes (interleaved)",
    "ceiling_seconds": "seconds each endpoint-ceiling probe (raw calls, same mix) runs",
    "contention_batches": "batches signalled twice and drained by 3 replicas (lost claims)",
    "jobs_count": "jobs in the table `remediator jobs` lists",
    "jobs_batches": "batch items per job in that table",
    "cold_pairs": "alternated pairs of fresh processes (library / yardstick), each cold figure",
    "operations_batches": "EXHAUSTED batches a bulk replay selects and stores",
    "operations_run": "of those, how many the service's steps carry out (the rest: same cost)",
    "console_batches": "batches of the job whose console page is timed against `status`",
    "console_repeats": "alternated timings of the page and of `status`'s read (median kept)",
    "deadlines_small": "scheduled jobs in the small table of the deadline sweep",
    "deadlines_large": "scheduled jobs in the large table of the deadline sweep",
}


def _env_name(name: str) -> str:
    return f"BENCH_{name.upper()}"


def parse(argv: Sequence[str] | None = None) -> BenchConfig:
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks against a moto server started here; ratios against floors "
        "measured in the same run. Every number flag also reads BENCH_<NAME> from the env.",
    )
    parser.add_argument(
        "--only",
        default=os.environ.get("BENCH_ONLY", ",".join(SECTIONS)),
        help=f"comma-separated sections to run, of {','.join(SECTIONS)} (env BENCH_ONLY)",
    )
    for f in fields(BenchConfig):
        if f.name in ("sections", "profile", "out"):
            continue
        kind = type(getattr(defaults, f.name))
        default = kind(os.environ.get(_env_name(f.name), getattr(defaults, f.name)))
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=kind,
            default=default,
            help=f"{_HELP[f.name]} (env {_env_name(f.name)}, default %(default)s)",
        )
    parser.add_argument(
        "--profile",
        action="store_true",
        default=os.environ.get("BENCH_PROFILE", "") not in ("", "0"),
        help="also cProfile the producer loop into bench/out/producer.prof (env BENCH_PROFILE=1)",
    )
    parser.add_argument("--out", type=Path, default=defaults.out, help="JSON output path")
    args = parser.parse_args(argv)
    sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    values = {f.name: getattr(args, f.name) for f in fields(BenchConfig) if f.name != "sections"}
    return BenchConfig(sections=sections, **values)
