"""Re-triggers per second with 2 remediator processes over 1, and the endpoint's ceiling.

Each run gets fresh resources holding 1,000 FAILED batches (library-shaped, due now) and,
for the first `signals` of them, the failure signal delivered twice, shuffled: duplicate
deliveries and two replicas racing for the same batch are the cases that must never
trigger twice. The replicas are `bench.scale_worker` processes (the real Service), started
together and time-boxed. Only as many signals are queued as a run can use, because moto's
SQS walks the whole queue on every send and receive (2,000 queued messages take a minute
to send); the table, whose size sets the cost of each write, holds all 1,000.

The ceiling probe runs GetItem flat out from 1, then 2 client processes: when 2 clients
get little more than 1, the moto server (one process, one GIL) is the limit, not the code.
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
from observability.keys import BatchKey
from observability.signals import FAILED, Signal
from observability.transitions import TableConfig
from remediator.provision import table_definition

__all__ = ["run"]

_ROOT = Path(__file__).resolve().parent.parent
_START_DELAY = 3.0  # seconds for every replica to import and connect before the start
_PROBE_START_DELAY = 1.5  # a probe imports boto3 only


def _spawn(args: list[str], env: dict[str, str], stdout: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *args], cwd=_ROOT, env=env, stdout=stdout,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _probe_table(ddb: Any, batches: int) -> str:
    """A table for the probes: one small item, and `batches` library-shaped FAILED items
    (the size of the scale table, which sets what a TransactWriteItems costs on moto)."""
    table = f"bench-ceiling-{uuid.uuid4().hex[:6]}"
    ddb.create_table(**table_definition(table))
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    ddb.put_item(TableName=table, Item={"pk": {"S": "ceiling"}, "sk": {"S": "probe"}})
    now, cfg, job = datetime.now(UTC), TableConfig(), f"probe-{uuid.uuid4().hex[:6]}"
    items = [
        to_ddb(failed_item(BatchKey(job, f"b-{n:04d}"), cfg, now, None, now))
        for n in range(batches)
    ]
    batch_write(ddb, table, items)
    return table


def _ceiling(
    endpoint: str,
    table: str,
    op: str,
    procs: int,
    seconds: float,
    server_cpu: Callable[[], float | None],
) -> dict[str, Any]:
    start_at = time.time() + _PROBE_START_DELAY
    workers = [
        _spawn(
            ["bench.ceiling_worker", endpoint, table, op, str(start_at), str(seconds)],
            dict(os.environ),
            subprocess.PIPE,
        )
        for _ in range(procs)
    ]
    time.sleep(max(0.0, start_at - time.time()))
    cpu0 = server_cpu()
    out = [json.loads(w.communicate(timeout=seconds + 60)[0] or b"{}") for w in workers]
    cpu1 = server_cpu()
    if not all(out):
        raise RuntimeError(
            f"a {op} probe process failed (exit codes {[w.returncode for w in workers]})"
        )
    ops = sum(o["ops"] for o in out)
    wall = max(o["seconds"] for o in out)
    return {
        "op": op,
        "processes": procs,
        "ops_per_second": ops / wall,
        "failed_after_retries": sum(o["failed"] for o in out),
        "client_cpu_ms_per_op": 1e3 * sum(o["cpu"] for o in out) / max(ops, 1),
        "server_cores_busy": (cpu1 - cpu0) / wall if cpu0 is not None and cpu1 else None,
        "server_cpu_ms_per_op": (
            1e3 * (cpu1 - cpu0) / max(ops, 1) if cpu0 is not None and cpu1 else None
        ),
    }


def _raw_transaction_ms(ddb: Any, table: str, samples: int = 3) -> float:
    """What one TransactWriteItems of two small puts costs on this table, with no code around
    it: each re-trigger records itself with one (moto copies the whole table per item)."""
    times = []
    for n in range(samples):
        key = f"probe-{uuid.uuid4().hex[:6]}-{n}"
        ops = [
            {"Put": {"TableName": table, "Item": {"pk": {"S": key}, "sk": {"S": sk}}}}
            for sk in ("STATE#probe", "EVENT#probe#0000000001")
        ]
        started = time.perf_counter()
        ddb.transact_write_items(TransactItems=ops)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def _fixture(endpoint: str, batches: int, signals: int) -> tuple[dict[str, str], Any, str, int]:
    """Fresh table, topic and queues; FAILED batches; `signals` of them queued twice."""
    clients = make_clients(endpoint)
    resources = new_resources(clients, "scale")
    queue = work_queue(clients)
    now = datetime.now(UTC)
    cfg = TableConfig()
    job = f"scale-{uuid.uuid4().hex[:6]}"
    items, messages = [], []
    for n in range(batches):
        key = BatchKey(job, f"b-{n:04d}")
        trigger = SqsTrigger(queue_url=queue, body={"batch": key.batch_id}).to_json()
        item = failed_item(
            key, cfg, now - timedelta(minutes=1), trigger, now - timedelta(seconds=1)
        )
        items.append(to_ddb(item))
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
    return env, clients, queue, len(twice)


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


def _replicas(
    endpoint: str,
    procs: int,
    batches: int,
    signals: int,
    seconds: float,
    server_cpu: Callable[[], float | None],
) -> dict[str, Any]:
    env, clients, queue, queued = _fixture(endpoint, batches, signals)
    with tempfile.TemporaryDirectory() as tmp:
        results = [Path(tmp) / f"replica-{n}.json" for n in range(procs)]
        start_at = time.time() + _START_DELAY
        with open(os.devnull, "wb") as sink:
            workers = [
                _spawn(["bench.scale_worker", str(start_at), str(seconds), str(r)], env, sink)
                for r in results
            ]
            time.sleep(max(0.0, start_at - time.time()))
            cpu0 = server_cpu()
            codes = [w.wait(timeout=seconds + 300) for w in workers]
        cpu1 = server_cpu()
        if any(codes):
            raise RuntimeError(f"scale worker exit codes {codes}")
        summaries = [json.loads(r.read_text()) for r in results]
    window = max(s["end"] for s in summaries) - start_at
    outcomes: Counter[str] = Counter()
    for s in summaries:
        outcomes.update(s["outcomes"])
    pairs = _triggered(clients, queue)
    triggered = outcomes["triggered"]
    raw_ms = _raw_transaction_ms(clients.dynamodb(), env["REMEDIATOR_TABLE_NAME"])
    return {
        "processes": procs,
        "signals_queued": queued,
        "ran_dry": sum(outcomes.values()) >= queued,
        "seconds": window,
        "triggered": triggered,
        "per_second": triggered / window,
        "messages_on_work_queue": len(pairs),
        "duplicates": len(pairs) - len(set(pairs)),
        "outcomes": dict(outcomes),
        "raw_transaction_ms": raw_ms,
        "calls": sum(s["calls"] for s in summaries),
        "http_sends": sum(s["http_sends"] for s in summaries),
        "server_errors": sum(s["server_errors"] for s in summaries),
        "replica_cpu_ms_per_trigger": 1e3 * sum(s["cpu"] for s in summaries) / max(triggered, 1),
        "server_cores_busy": (cpu1 - cpu0) / window if cpu0 is not None and cpu1 else None,
        "server_cpu_ms_per_trigger": (
            1e3 * (cpu1 - cpu0) / max(triggered, 1) if cpu0 is not None and cpu1 else None
        ),
    }


def _medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("server_cores_busy", "server_cpu_ms_per_trigger", "replica_cpu_ms_per_trigger")
    out = {k: statistics.median(float(x[k] or 0.0) for x in runs) for k in keys}
    out["raw_transaction_ms"] = statistics.median(x["raw_transaction_ms"] for x in runs)
    return out


def run(
    endpoint: str,
    batches: int,
    signals: int,
    rounds: int,
    seconds: float,
    ceiling_seconds: float,
    server_cpu: Callable[[], float | None],
) -> tuple[list[Figure], dict[str, Any]]:
    probe = _probe_table(make_clients(endpoint).dynamodb(), batches)
    ceiling = {
        op: {n: _ceiling(endpoint, probe, op, n, ceiling_seconds, server_cpu) for n in (1, 2)}
        for op in ("get", "transact")
    }
    make_clients(endpoint).dynamodb().delete_table(TableName=probe)
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for r in range(rounds):
        for procs in (1, 2) if r % 2 == 0 else (2, 1):
            runs[procs].append(_replicas(endpoint, procs, batches, signals, seconds, server_cpu))
    rate = {n: statistics.median(x["per_second"] for x in runs[n]) for n in runs}
    ratio = rate[2] / rate[1]
    get, transact = ceiling["get"], ceiling["transact"]
    ceiling_ratio = get[2]["ops_per_second"] / get[1]["ops_per_second"]
    transact_ratio = transact[2]["ops_per_second"] / transact[1]["ops_per_second"]
    duplicates = sum(x["duplicates"] for n in runs for x in runs[n])
    scale = Figure(
        "scale_2_vs_1",
        f"re-triggers/s, 2 processes / 1 ({batches} failed)",
        ratio,
        1.6,
        ">=",
        measured=f"2 procs {rate[2]:.1f}/s",
        floor=f"1 proc {rate[1]:.1f}/s",
    )
    dup = Figure(
        "duplicates",
        "(batch, attempt) triggered twice",
        duplicates,
        0,
        "==",
        measured=f"{sum(x['triggered'] for n in runs for x in runs[n])} triggers",
        floor="0",
    )
    ceil = Figure(
        "endpoint_ceiling_2_vs_1",
        "endpoint ceiling, 2 clients / 1 (GetItem)",
        ceiling_ratio,
        0,
        "info",
        measured=f"2 clients {get[2]['ops_per_second']:.0f} ops/s",
        floor=f"1 client {get[1]['ops_per_second']:.0f} ops/s",
    )
    ceil_tx = Figure(
        "endpoint_transact_ceiling_2_vs_1",
        f"endpoint ceiling, 2 clients / 1 (TWI, {batches} items)",
        transact_ratio,
        0,
        "info",
        measured=f"2 clients {transact[2]['ops_per_second']:.1f} ops/s",
        floor=f"1 client {transact[1]['ops_per_second']:.1f} ops/s",
    )
    one, two = _medians(runs[1]), _medians(runs[2])
    server_share = one["server_cpu_ms_per_trigger"] / (
        one["server_cpu_ms_per_trigger"] + one["replica_cpu_ms_per_trigger"]
    )
    bound = min(ceiling_ratio, transact_ratio) < 1.6 or server_share > 0.5
    if bound:
        scale.notes.append(
            f"endpoint-bound: with 1 replica the moto server (one process, one GIL: 1 core is "
            f"its limit) already used {one['server_cores_busy']:.2f} of a core and "
            f"{server_share:.0%} of the CPU per re-trigger ({one['server_cpu_ms_per_trigger']:.0f}"
            f" ms vs the replica's {one['replica_cpu_ms_per_trigger']:.0f} ms), mostly the one "
            f"TransactWriteItems that records it: moto deep-copies the {batches}-batch table "
            f"per item (a raw one takes {one['raw_transaction_ms']:.0f} ms here); with 2 "
            f"replicas it used {two['server_cores_busy']:.2f} of a core"
        )
        errors = sum(x["server_errors"] for x in runs[2])
        if errors:
            calls = sum(x["calls"] for x in runs[2])
            scale.notes.append(
                f"with 2 replicas moto answered HTTP 500 to {errors} of {calls} calls, each "
                "retried by botocore: a TransactWriteItems' table deep copy raced a concurrent "
                "write (RuntimeError: dictionary changed size during iteration, "
                "moto/dynamodb/models/__init__.py:613)"
            )
        slower = two["replica_cpu_ms_per_trigger"] / one["replica_cpu_ms_per_trigger"] - 1
        scale.notes.append(
            f"machine: the same replica code took {slower:+.0%} CPU per re-trigger with 2 "
            f"replicas running (2 cores shared with the server; load average "
            f"{os.getloadavg()[0]:.1f}); probes: 2 clients get {ceiling_ratio:.2f}x one's "
            f"GetItems/s and {transact_ratio:.2f}x one's TransactWriteItems/s on a "
            f"{batches}-batch table ({transact[1]['server_cpu_ms_per_op'] or 0:.0f} -> "
            f"{transact[2]['server_cpu_ms_per_op'] or 0:.0f} ms of server CPU each)"
        )
    if any(x["ran_dry"] for n in runs for x in runs[n]):
        scale.notes.append(
            "a run used up its queued signals before the time box: raise --scale-signals"
        )
    details = {
        "batches": batches,
        "signals_queued_twice": signals,
        "rounds": rounds,
        "time_box_seconds": seconds,
        "endpoint_bound": bool(bound),
        "ceiling": {op: {str(k): v for k, v in c.items()} for op, c in ceiling.items()},
        "runs": {str(k): v for k, v in runs.items()},
    }
    return [scale, dup, ceil, ceil_tx], details
