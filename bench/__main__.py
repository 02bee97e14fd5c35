"""`python -m bench`: run the sections, print the table, write bench/out/latest.json."""

from __future__ import annotations

import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bench.config import BenchConfig, parse
from bench.endpoint import MotoServer, fake_aws_env
from bench.report import Figure, render, write_json

Section = Callable[[BenchConfig, MotoServer], tuple[list[Figure], dict[str, Any]]]


def _costs(cfg: BenchConfig, server: MotoServer) -> tuple[list[Figure], dict[str, Any]]:
    from bench import costs

    return costs.run(server.url, cfg.cost_samples)


def _producer(cfg: BenchConfig, server: MotoServer) -> tuple[list[Figure], dict[str, Any]]:
    from bench import producer

    profile = cfg.out.parent / "producer.prof" if cfg.profile else None
    return producer.run(
        server.url, cfg.producer_rounds, cfg.producer_batches, server.cpu_seconds, profile
    )


def _coldstart(cfg: BenchConfig, server: MotoServer) -> tuple[list[Figure], dict[str, Any]]:
    from bench import coldstart

    return coldstart.run(server.url, cfg.cold_pairs)


def _ttr(cfg: BenchConfig, server: MotoServer) -> tuple[list[Figure], dict[str, Any]]:
    from bench import ttr

    return ttr.run(server.url, cfg.ttr_runs)


def _sweep(cfg: BenchConfig, server: MotoServer) -> tuple[list[Figure], dict[str, Any]]:
    from bench import sweep

    return sweep.run(
        server.url,
        (cfg.sweep_small, cfg.sweep_large),
        cfg.sweep_due,
        cfg.sweep_repeats,
        cfg.load_threads,
        server.cpu_seconds,
    )


def _scale(cfg: BenchConfig, server: MotoServer) -> tuple[list[Figure], dict[str, Any]]:
    from bench import scale

    return scale.run(
        server.url,
        cfg.scale_batches,
        cfg.scale_signals,
        cfg.scale_rounds,
        cfg.scale_seconds,
        cfg.ceiling_seconds,
        cfg.contention_batches,
        server.cpu_seconds,
        cfg.out.parent / "replica.prof",
    )


def _jobs(cfg: BenchConfig, server: MotoServer) -> tuple[list[Figure], dict[str, Any]]:
    from bench import jobs

    return jobs.run(server.url, cfg.jobs_count, cfg.jobs_batches)


def _operations(cfg: BenchConfig, server: MotoServer) -> tuple[list[Figure], dict[str, Any]]:
    from bench import operations

    return operations.run(server.url, cfg.operations_batches, cfg.operations_run)


def _console(cfg: BenchConfig, server: MotoServer) -> tuple[list[Figure], dict[str, Any]]:
    from bench import console

    return console.run(server.url, cfg.console_batches, cfg.console_repeats)


def _deadlines(cfg: BenchConfig, server: MotoServer) -> tuple[list[Figure], dict[str, Any]]:
    from bench import deadlines

    return deadlines.run(server.url, cfg.deadlines_small, cfg.deadlines_large)


SECTIONS: dict[str, Section] = {
    "costs": _costs,
    "producer": _producer,
    "coldstart": _coldstart,
    "ttr": _ttr,
    "sweep": _sweep,
    "scale": _scale,
    "jobs": _jobs,
    "operations": _operations,
    "console": _console,
    "deadlines": _deadlines,
}


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse(argv)
    fake_aws_env()
    from bench.stack import quiet_logging

    quiet_logging()
    # Powertools warns that it runs outside Lambda (no remaining-time context): expected here.
    warnings.filterwarnings("ignore", module="aws_lambda_powertools")
    started = time.perf_counter()
    load_before = os.getloadavg()
    figures: list[Figure] = []
    details: dict[str, Any] = {}
    for name in cfg.sections:
        # A fresh server per section: one section's tables never slow another's calls.
        t0 = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        with MotoServer() as server:
            got, info = SECTIONS[name](cfg, server)
        info["section_seconds"] = time.perf_counter() - t0
        figures += got
        details[name] = info
        print(f"[bench] {name} done in {info['section_seconds']:.0f} s", file=sys.stderr)
    wall = time.perf_counter() - started
    title = (
        f"bench: {len(figures)} figures, {wall:.0f} s, {os.cpu_count()} cores, load "
        f"{load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}; endpoint: moto server process "
        "on loopback (DynamoDB one request at a time); each value is a ratio against a floor "
        "measured in this run"
    )
    print(render(figures, title))
    extra: dict[str, Any] = {
        "wall_seconds": wall,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "python": platform.python_version(),
        },
        "endpoint": (
            "moto's server app in its own process on 127.0.0.1 (fresh per section), "
            "DynamoDB requests served one at a time (bench.endpoint_server)"
        ),
        "config": {k: str(v) if k == "out" else v for k, v in asdict(cfg).items()},
    }
    if "costs" in details:
        extra["powertools_wru"] = {k: v["units"] for k, v in details["costs"]["powertools"].items()}
    if "scale" in details:
        extra["endpoint_bound"] = details["scale"]["endpoint_bound"]
    write_json(cfg.out, figures, extra, details)
    print(f"wrote {cfg.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
