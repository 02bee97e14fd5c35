"""Re-triggers per second with 2 remediator processes over 1, against what the endpoint
itself gives 2 clients over 1 for the same calls; and what a re-trigger costs a replica.

Each run gets fresh resources holding `batches` FAILED batches (library-shaped, due now)
and, for the first `signals` of them, the failure signal delivered twice, shuffled:
duplicate deliveries and replicas racing for the same batch are the cases that must never
trigger twice. The replicas are `bench.scale_worker` processes (the real Service), started
together and time-boxed. Only as many signals are queued as a run can use, because moto's
SQS walks the whole queue on every send and receive.

The endpoint's ceiling is probed with the same mix of calls: `bench.ceiling_worker`
processes (1, then 2) make, raw and flat out, the calls one re-trigger made in the first
1-replica run, in the same proportions and shapes, on a fixture built the same way. The
runs and the probes interleave, round by round, in rotating order; `scale_efficiency` is
the median over rounds of (2 replicas / 1) / (2 probes / 1).

Then 3 replicas drain a queue where each of `contention` batches is signalled twice,
counting the writes to items every replica shares (the budget, the breaker) and the claims
lost to another replica; and one more 1-replica run under a CPU-timed cProfile says where
the replica's CPU goes (saved next to the JSON output).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.items import failed_item, to_ddb, to_state
from bench.load import batch_write, send_batch
from bench.report import Figure
from bench.stack import BUDGET_PER_MINUTE, make_clients, new_resources, work_queue
from observability import SqsTrigger
from observability.models.keys import BatchKey
from observability.models.signals import FAILED, Signal
from observability.transitions import TableConfig

__all__ = ["run"]

_ROOT = Path(__file__).resolve().parent.parent
_START_DELAY = 3.0  # seconds for every replica to import and connect before the start
_PROBE_START_DELAY = 2.0  # a probe imports boto3 only
_WRITES = ("dynamodb.PutItem", "dynamodb.UpdateItem", "dynamodb.DeleteItem")


def _spawn(args: list[str], env: dict[str, str], stdout: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *args], cwd=_ROOT, env=env, stdout=stdout,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _fixture(endpoint: str, batches: int, signals: int) -> dict[str, Any]:
    """Fresh table, topic and queues; FAILED batches; `signals` of them queued twice."""
    clients = make_clients(endpoint)
    resources = new_resources(clients, "scale")
    queue = work_queue(clients)
    now = datetime.now(UTC)
    cfg = TableConfig()
    job = f"scale-{uuid.uuid4().hex[:6]}"
    items, messages, keys = [], [], []
    for n in range(batches):
        key = BatchKey(job, f"b-{n:04d}")
        trigger = SqsTrigger(queue_url=queue, body={"batch": key.batch_id}).to_json()
        item = failed_item(
            key, cfg, now - timedelta(minutes=1), trigger, now - timedelta(seconds=1)
        )
        items.append(to_ddb(item))
        keys.append((job, key.batch_id, int(item["version"])))
        signal = Signal.of(FAILED, to_state(item), at=str(item["finished_at"]), actor="bench")
        messages.append({"MessageBody": signal.body(), "MessageAttributes": signal.attributes()})
    batch_write(clients.dynamodb(), resources.table_name, items)
    twice = messages[:signals] * 2
    random.Random(batches).shuffle(twice)
    send_batch(clients.sqs(), resources.queue_url, twice)
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "REMEDIATOR_TABLE_NAME": resources.table_name,
        "REMEDIATOR_TOPIC_ARN": resources.topic_arn,
        "REMEDIATOR_QUEUE_URL": resources.queue_url,
        "REMEDIATOR_BACKOFF_BASE_SECONDS": "0",
        "REMEDIATOR_BUDGET_PER_MINUTE": str(BUDGET_PER_MINUTE),
    }
    return {"env": env, "clients": clients, "work_queue": queue, "queued": len(twice),
            "keys": keys}  # fmt: skip


def _triggered(clients: Any, queue: str) -> list[tuple[str, str]]:
    """(batch_id, attempt) of every trigger message sent to the work queue."""
    sqs = clients.sqs()
    pairs: list[tuple[str, str]] = []
    while True:
        reply = sqs.receive_message(
            QueueUrl=queue,
            MaxNumberOfMessages=10,
            VisibilityTimeout=600,
            MessageAttributeNames=["All"],
        )
        got = reply.get("Messages", [])
        if not got:
            return pairs
        for m in got:
            attrs = m.get("MessageAttributes", {})
            pairs.append((attrs["batch_id"]["StringValue"], attrs["attempt"]["StringValue"]))


def _cpu_delta(cpu0: float | None, cpu1: float | None) -> float | None:
    return cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None


def _replicas(
    endpoint: str,
    procs: int,
    batches: int,
    signals: int,
    seconds: float,
    server_cpu: Callable[[], float | None],
    profile_to: Path | None = None,
) -> dict[str, Any]:
    fx = _fixture(endpoint, batches, signals)
    with tempfile.TemporaryDirectory() as tmp:
        results = [Path(tmp) / f"replica-{n}.json" for n in range(procs)]
        start_at = time.time() + _START_DELAY
        with open(os.devnull, "wb") as sink:
            workers = []
            for r in results:
                args = ["bench.scale_worker", str(start_at), str(seconds), str(r)]
                workers.append(_spawn(args + ([str(profile_to)] if profile_to else []),
                                      fx["env"], sink))  # fmt: skip
            time.sleep(max(0.0, start_at - time.time()))
            cpu0 = server_cpu()
            codes = [w.wait(timeout=seconds + 300) for w in workers]
        cpu1 = server_cpu()
        if any(codes):
            raise RuntimeError(f"scale worker exit codes {codes}")
        summaries = [json.loads(r.read_text()) for r in results]
    window = max(s["end"] for s in summaries) - start_at
    outcomes: Counter[str] = Counter()
    mix: Counter[str] = Counter()
    lost_to: Counter[str] = Counter()
    in_calls: Counter[str] = Counter()
    for s in summaries:
        in_calls.update(s["cpu_in_calls"])
        outcomes.update(s["outcomes"])
        mix.update(s["mix"])
        lost_to.update(s["lost_to"])
    pairs = _triggered(fx["clients"], fx["work_queue"])
    triggered = outcomes["triggered"]
    per = max(triggered, 1)
    served = _cpu_delta(cpu0, cpu1)
    shared = sum(n for op, n in mix.items() if op.startswith(_WRITES) and ":shared" in op)
    return {
        "processes": procs,
        "signals_queued": fx["queued"],
        "ran_dry": sum(outcomes.values()) >= fx["queued"],
        "seconds": window,
        "triggered": triggered,
        "per_second": triggered / window,
        "messages_on_work_queue": len(pairs),
        "duplicates": len(pairs) - len(set(pairs)),
        "outcomes": dict(outcomes),
        "mix": dict(sorted(mix.items())),
        "mix_per_trigger": {op: n / per for op, n in sorted(mix.items())},
        "shared_writes": shared,
        "claims_lost_to": dict(lost_to),
        "calls": sum(s["calls"] for s in summaries),
        "http_sends": sum(s["http_sends"] for s in summaries),
        "server_errors": sum(s["server_errors"] for s in summaries),
        "replica_cpu_ms_per_trigger": 1e3 * sum(s["cpu"] for s in summaries) / per,
        # Client CPU inside botocore by API call; the rest is the replica's code around them.
        "replica_cpu_ms_per_trigger_in_calls": {
            op: 1e3 * v / per for op, v in sorted(in_calls.items(), key=lambda kv: -kv[1])
        },
        "server_cores_busy": served / window if served is not None else None,
        "server_cpu_ms_per_trigger": 1e3 * served / per if served is not None else None,
        "profile": next((s["profile"] for s in summaries if "profile" in s), None),
    }


def _probe(
    endpoint: str,
    procs: int,
    batches: int,
    signals: int,
    seconds: float,
    mix: dict[str, float],
    server_cpu: Callable[[], float | None],
) -> dict[str, Any]:
    """`procs` raw clients making a re-trigger's calls flat out on a fresh fixture."""
    fx = _fixture(endpoint, batches, signals)
    env = fx["env"]
    with tempfile.TemporaryDirectory() as tmp:
        start_at = time.time() + _PROBE_START_DELAY
        workers = []
        for n in range(procs):
            spec = Path(tmp) / f"probe-{n}.json"
            spec.write_text(
                json.dumps(
                    {
                        "endpoint": endpoint,
                        "table": env["REMEDIATOR_TABLE_NAME"],
                        "signal_queue": env["REMEDIATOR_QUEUE_URL"],
                        "work_queue": fx["work_queue"],
                        "items": fx["keys"][n::procs],
                        "mix": mix,
                    }
                )
            )
            args = ["bench.ceiling_worker", str(spec), str(start_at), str(seconds)]
            workers.append(_spawn(args, dict(os.environ), subprocess.PIPE))
        time.sleep(max(0.0, start_at - time.time()))
        cpu0 = server_cpu()
        out = [json.loads(w.communicate(timeout=seconds + 120)[0] or b"{}") for w in workers]
        cpu1 = server_cpu()
    if not all(out):
        raise RuntimeError(f"a probe process failed (exit codes {[w.returncode for w in workers]})")
    cycles = sum(o["cycles"] for o in out)
    wall = max(o["seconds"] for o in out)
    served = _cpu_delta(cpu0, cpu1)
    calls: Counter[str] = Counter()
    for o in out:
        calls.update(o["calls"])
    return {
        "processes": procs,
        "cycles": cycles,
        "cycles_per_second": cycles / wall,
        "calls_per_cycle": {op: n / max(cycles, 1) for op, n in sorted(calls.items())},
        "failed_after_retries": sum(o["failed"] for o in out),
        "empty_receives": sum(o["empty_receives"] for o in out),
        "ran_out_of_items": any(o["ran_out_of_items"] for o in out),
        "unmodelled": sorted({op for o in out for op in o["unmodelled"]}),
        "client_cpu_ms_per_cycle": 1e3 * sum(o["cpu"] for o in out) / max(cycles, 1),
        "server_cores_busy": served / wall if served is not None else None,
        "server_cpu_ms_per_cycle": 1e3 * served / max(cycles, 1) if served is not None else None,
    }


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run(
    endpoint: str,
    batches: int,
    signals: int,
    rounds: int,
    seconds: float,
    ceiling_seconds: float,
    contention: int,
    server_cpu: Callable[[], float | None],
    profile_to: Path,
) -> tuple[list[Figure], dict[str, Any]]:
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    probes: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    mix: dict[str, float] | None = None
    for r in range(rounds):
        # Each replica run next to the probe with as many clients: their ratio is what the
        # efficiency compares, so they should see the same machine.
        steps = [("run", 1), ("probe", 1), ("run", 2), ("probe", 2)]
        for kind, n in steps if r % 2 == 0 else steps[::-1]:
            if kind == "run":
                runs[n].append(_replicas(endpoint, n, batches, signals, seconds, server_cpu))
                if mix is None and n == 1:
                    mix = runs[1][0]["mix_per_trigger"]
            else:
                assert mix is not None  # round 0 runs 1 replica first
                probes[n].append(
                    _probe(endpoint, n, batches, signals, ceiling_seconds, mix, server_cpu)
                )
    # Every batch signalled twice and the queue drained to the end: each duplicate delivery
    # ends in a lost claim, to this replica or another.
    three = _replicas(endpoint, 3, contention, contention, seconds * 10, server_cpu)
    profiled = _replicas(endpoint, 1, batches, signals, seconds, server_cpu, profile_to)

    # Per round, for the record; the figures are ratios of the medians over rounds: each
    # run and probe is a window of its own whose noise (other work on the machine) is not
    # shared with its neighbours, so a median per variant is steadier than a ratio of four.
    ratios = [
        two["per_second"] / one["per_second"] for one, two in zip(runs[1], runs[2], strict=True)
    ]
    ceilings = [
        two["cycles_per_second"] / one["cycles_per_second"]
        for one, two in zip(probes[1], probes[2], strict=True)
    ]
    efficiency = [r / c for r, c in zip(ratios, ceilings, strict=True)]
    rate = {n: _med([x["per_second"] for x in runs[n]]) for n in runs}
    probe_rate = {n: _med([x["cycles_per_second"] for x in probes[n]]) for n in probes}
    scale_ratio = rate[2] / rate[1]
    ceiling_ratio = probe_rate[2] / probe_rate[1]
    all_runs = [*runs[1], *runs[2], three, profiled]
    duplicates = sum(x["duplicates"] for x in all_runs)
    cpu_one = _med([x["replica_cpu_ms_per_trigger"] for x in runs[1]])
    per3 = max(three["triggered"], 1)
    lost = three["claims_lost_to"]

    scale = Figure(
        "scale_2_vs_1",
        f"re-triggers/s, 2 processes / 1 ({batches} failed)",
        scale_ratio,
        1.6,
        ">=",
        measured=f"2 procs {rate[2]:.1f}/s",
        floor=f"1 proc {rate[1]:.1f}/s",
    )
    eff = Figure(
        "scale_efficiency",
        "scale_2_vs_1 / the endpoint's own 2-vs-1 (same calls)",
        scale_ratio / ceiling_ratio,
        0.9,
        ">=",
        measured=f"{scale_ratio:.2f}",
        floor=f"raw calls {ceiling_ratio:.2f}",
    )
    ceil = Figure(
        "endpoint_ceiling_2_vs_1",
        "endpoint ceiling, 2 raw clients / 1 (a re-trigger's calls)",
        ceiling_ratio,
        0,
        "info",
        measured=f"2 clients {probe_rate[2]:.1f}/s",
        floor=f"1 client {probe_rate[1]:.1f}/s",
    )
    dup = Figure(
        "duplicates",
        "(batch, attempt) triggered twice",
        duplicates,
        0,
        "==",
        measured=f"{sum(x['triggered'] for x in all_runs)} triggers",
        floor="0",
    )
    cpu = Figure(
        "replica_cpu_ms_per_retrigger",
        "replica CPU per re-trigger, ms (1 replica)",
        cpu_one,
        0,
        "info",
        measured=f"{cpu_one:.1f} ms",
        floor=f"endpoint {_med([x['server_cpu_ms_per_trigger'] or 0.0 for x in runs[1]]):.1f} ms",
    )
    shared = Figure(
        "shared_writes_per_retrigger",
        "writes to shared items per re-trigger (3 replicas)",
        three["shared_writes"] / per3,
        0,
        "info",
        measured=f"{three['shared_writes']} writes",
        floor=f"{three['triggered']} re-triggers",
    )
    conflicts = Figure(
        "conflicts_per_retrigger",
        "claims lost to another replica per re-trigger (3 replicas)",
        lost.get("other", 0) / per3,
        0,
        "info",
        measured=f"{lost.get('other', 0)} lost",
        floor=f"{three['triggered']} re-triggers",
    )
    eff.notes.append(
        f"{rounds} rounds; per round (2 replicas / 1) / (2 probes / 1): "
        + ", ".join(f"{e:.2f}" for e in efficiency)
        + f" (their median {_med(efficiency):.2f}); the value is the ratio of the medians"
    )
    _explain(scale, eff, cpu, shared, conflicts, runs, probes, three, profiled, mix or {})
    details = {
        "batches": batches,
        "signals_queued_twice": signals,
        "rounds": rounds,
        "time_box_seconds": seconds,
        "probe_seconds": ceiling_seconds,
        "contention_batches": contention,
        "per_round": {
            "scale_2_vs_1": ratios,
            "ceiling_2_vs_1": ceilings,
            "efficiency": efficiency,
        },
        "mix_per_trigger": mix,
        "runs": {str(k): v for k, v in runs.items()},
        "probes": {str(k): v for k, v in probes.items()},
        "three_replicas": three,
        "profiled_run": profiled,
        "endpoint_bound": bool(ceiling_ratio < 1.6),
    }
    return [scale, eff, ceil, dup, cpu, shared, conflicts], details


def _explain(
    scale: Figure,
    eff: Figure,
    cpu: Figure,
    shared: Figure,
    conflicts: Figure,
    runs: dict[int, list[dict[str, Any]]],
    probes: dict[int, list[dict[str, Any]]],
    three: dict[str, Any],
    profiled: dict[str, Any],
    mix: dict[str, float],
) -> None:
    one, two = runs[1], runs[2]
    busy1 = _med([x["server_cores_busy"] or 0.0 for x in one])
    busy2 = _med([x["server_cores_busy"] or 0.0 for x in two])
    server1 = _med([x["server_cpu_ms_per_trigger"] or 0.0 for x in one])
    if scale.passed is False:
        scale.notes.append(
            f"the moto server (one process: 1 core is its limit) used {busy1:.2f} of a core "
            f"with 1 replica and {busy2:.2f} with 2, and {server1:.0f} ms of CPU per "
            f"re-trigger against the replica's {cpu.value or 0:.0f} ms; the raw probes got "
            f"{eff.floor.split()[-1]}x from a second client"
        )
    errors = sum(x["server_errors"] for x in two)
    if errors:
        calls = sum(x["calls"] for x in two)
        scale.notes.append(f"with 2 replicas moto answered HTTP 5xx to {errors} of {calls} calls")
    per_trigger = ", ".join(f"{op} {n:.2f}" for op, n in mix.items())
    eff.notes.append(f"calls per re-trigger (1 replica, the probes' mix): {per_trigger}")
    for p in (*probes[1], *probes[2]):
        if p["empty_receives"] or p["ran_out_of_items"] or p["unmodelled"]:
            eff.notes.append(
                f"a {p['processes']}-client probe: {p['empty_receives']} empty receives, "
                f"ran out of items: {p['ran_out_of_items']}, calls not modelled: "
                f"{p['unmodelled']}"
            )
            break
    if any(x["ran_dry"] for x in (*one, *two, profiled)):
        scale.notes.append(
            "a run used up its queued signals before the time box: raise --scale-signals"
        )
    split: Counter[str] = Counter()
    for x in one:
        split.update({k: v / len(one) for k, v in x["replica_cpu_ms_per_trigger_in_calls"].items()})
    rest = (cpu.value or 0.0) - sum(split.values())
    cpu.notes.append(
        "inside botocore, by call (ms per re-trigger, mean of the 1-replica runs): "
        + ", ".join(f"{op.split('.', 1)[1]} {ms:.2f}" for op, ms in split.most_common(5))
        + f"; the replica's own code around the calls {rest:.2f}"
    )
    prof = profiled.get("profile") or {}
    if prof.get("stages"):
        cpu.notes.append(
            f"CPU profile of a 1-replica run ({profiled['triggered']} re-triggers, "
            f"{profiled['replica_cpu_ms_per_trigger']:.1f} ms each under the profiler; "
            "bench/out/replica.prof), share by step, calls included: "
            + ", ".join(f"{k} {v:.0%}" for k, v in prof["stages"].items())
        )
    shared_ops = {op: n for op, n in three["mix"].items() if ":shared" in op}
    shared.notes.append(f"3 replicas, calls on shared items: {shared_ops}")
    lost = three["claims_lost_to"]
    conflicts.notes.append(
        f"3 replicas drain {three['signals_queued']} signals ({three['signals_queued'] // 2} "
        f"batches, each signalled twice) in {three['seconds']:.0f} s: claims lost to another "
        f"replica {lost.get('other', 0)}, "
        f"to the same replica (its own duplicate delivery) {lost.get('self', 0)}, holder "
        f"unknown {lost.get('unknown', 0)}; outcomes {three['outcomes']}"
    )
