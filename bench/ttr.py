"""Time to re-trigger: from a batch's failure to its trigger message being sent (backoff 0).

The measured path is the real one, in-process: the producer's FAILED write and publish,
then the SignalConsumer's receive and Service.process (budget, claim, fire). The clock
stops when the trigger's SendMessage returns, read from botocore's after-call hook.

The floor is the same path by hand in raw calls: publish, receive, conditional update (the
claim's request), send. The same run also times the FAILED write before them (the
library's PutItem of the whole item, by hand), reported as a second floor.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3

from bench.endpoint import REGION
from bench.floor_writes import floor_claim, floor_failed
from bench.hooks import CallCounter, on_call_done
from bench.items import stored, to_ddb
from bench.report import Figure
from bench.stack import (
    make_clients,
    make_consumer,
    make_producer,
    make_remediator,
    new_resources,
    work_queue,
)
from bench.stats import percentile
from observability import SqsTrigger
from observability.models.keys import BatchKey, shard_of
from observability.transitions import TableConfig, start_new

__all__ = ["run"]


class _Failure(RuntimeError):
    pass


def run(endpoint: str, runs: int) -> tuple[list[Figure], dict[str, Any]]:
    clients = make_clients(endpoint)
    resources = new_resources(clients, "ttr")
    queue = work_queue(clients)
    table = resources.table_name
    trail = make_producer(resources, clients, backoff_base_seconds=0)
    remediator = make_remediator(resources, clients, endpoint)
    consumer, service = make_consumer(remediator, clients)
    sent: list[float] = []
    on_call_done(
        remediator.trigger_clients.client("sqs"), "after-call.sqs.SendMessage", sent.append
    )
    session = boto3.Session(region_name=REGION)
    raw_ddb = session.client(
        "dynamodb", endpoint_url=endpoint, config=clients.config_for("dynamodb")
    )
    raw_sns = session.client("sns", endpoint_url=endpoint, config=clients.config_for("sns"))
    raw_sqs = session.client("sqs", endpoint_url=endpoint, config=clients.config_for("sqs"))
    cfg = TableConfig()
    job = f"ttr-{uuid.uuid4().hex[:6]}"

    starts: list[float] = []

    def library(batch: str) -> float:
        start = 0.0
        try:
            with trail.batch(job, batch, trigger=SqsTrigger(queue_url=queue, body={"b": batch})):
                start = time.perf_counter()
                starts.append(start)
                raise _Failure("bench failure")
        except _Failure:
            pass
        before = len(sent)
        service.process(consumer.receive(wait_seconds=1))
        if len(sent) != before + 1:
            raise RuntimeError(f"no trigger for {batch}: {dict(remediator.counts)}")
        return sent[-1] - start

    def floor(batch: str) -> tuple[float, float]:
        """(publish..send, FAILED write..send) of one failure, by hand."""
        key = BatchKey(job, batch)
        shard = shard_of(key, cfg.shards)
        now = datetime.now(UTC)
        run_id = uuid.uuid4().hex
        started = stored(
            None,
            start_new(key, cfg, now=now, run_id=run_id, trace_id=run_id, actor=trail.actor,
                      trigger_json=SqsTrigger(queue_url=queue, body={"b": batch}).to_json(),
                      incarnation=run_id[:16]),
        )  # fmt: skip
        first = to_ddb(started)
        raw_ddb.put_item(TableName=table, Item=first)  # untimed: the run before it
        t0 = time.perf_counter()
        floor_failed(raw_ddb, table, first, trail.actor, shard)
        t1 = time.perf_counter()
        body = {"event": "FAILED", "job_id": job, "batch_id": batch, "attempt": 1, "version": 2}
        raw_sns.publish(
            TopicArn=resources.topic_arn,
            Message=json.dumps(body),
            MessageAttributes={
                "event": {"DataType": "String", "StringValue": "FAILED"},
                "job_id": {"DataType": "String", "StringValue": job},
            },
        )
        got = raw_sqs.receive_message(
            QueueUrl=resources.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )["Messages"][0]
        signal = json.loads(got["Body"])
        floor_claim(raw_ddb, table, job, batch, signal["version"], "bench", shard)
        raw_sqs.send_message(
            QueueUrl=queue,
            MessageBody=json.dumps({"b": batch}),
            MessageAttributes={
                "job_id": {"DataType": "String", "StringValue": job},
                "batch_id": {"DataType": "String", "StringValue": batch},
                "attempt": {"DataType": "Number", "StringValue": "2"},
            },
        )
        t2 = time.perf_counter()
        raw_sqs.delete_message(QueueUrl=resources.queue_url, ReceiptHandle=got["ReceiptHandle"])
        return t2 - t1, t2 - t0

    for n in range(3):  # warm-up: connections, models, the breaker's cache
        library(f"warm-lib-{n}")
        floor(f"warm-flo-{n}")
    lib: list[float] = []
    flo: list[float] = []
    flo_write: list[float] = []
    for n in range(runs):
        for kind in ("lib", "floor") if n % 2 == 0 else ("floor", "lib"):
            if kind == "lib":
                lib.append(library(f"lib-{n:04d}"))
            else:
                a, b = floor(f"flo-{n:04d}")
                flo.append(a)
                flo_write.append(b)
    path, segments = _timeline(library, clients, remediator, starts, sent)

    p50 = statistics.median(lib)
    ratio = p50 / statistics.median(flo)
    figure = Figure(
        "ttr_p50_ratio_vs_floor",
        "time to re-trigger p50 / raw floor",
        ratio,
        1.5,
        "<=",
        measured=f"p50 {p50 * 1e3:.1f} ms, p90 {percentile(lib, 90) * 1e3:.1f} ms",
        floor=f"p50 {statistics.median(flo) * 1e3:.1f} ms (4 calls)",
    )
    with_write = p50 / statistics.median(flo_write)
    figure.notes.append(
        f"library path ({len(path)} calls): {' > '.join(path)}; the floor with the FAILED "
        f"write timed too: p50 {statistics.median(flo_write) * 1e3:.1f} ms, ratio "
        f"{with_write:.2f}"
    )
    busy = sum(v for k, v in segments.items() if k.startswith("client"))
    figure.notes.append(
        f"median split of the library path: {sum(segments.values()) - busy:.1f} ms in AWS "
        f"calls, {busy:.1f} ms in client code between them ({_top(segments)})"
    )
    details = {
        "runs": runs,
        "p50_ms": p50 * 1e3,
        "p90_ms": percentile(lib, 90) * 1e3,
        "floor_p50_ms": statistics.median(flo) * 1e3,
        "floor_with_write_p50_ms": statistics.median(flo_write) * 1e3,
        "ratio_vs_floor_with_write": with_write,
        "library_calls_until_sent": path,
        "library_path_median_ms": segments,
        "seconds": {"library": lib, "floor": flo, "floor_with_write": flo_write},
    }
    return [figure], details


def _timeline(
    library: Any,
    clients: Any,
    remediator: Any,
    starts: list[float],
    sent: list[float],
    runs: int = 7,
) -> tuple[list[str], dict[str, float]]:
    """Calls of the library path in order, and the median ms of each call and of each gap
    of client code between calls (a hooked run per sample; not part of the timed figure)."""
    counter = CallCounter()
    watched = [clients.client(s) for s in ("dynamodb", "sns", "sqs")]
    watched.append(remediator.trigger_clients.client("sqs"))
    samples: list[dict[str, float]] = []
    path: list[str] = []
    for client in watched:
        counter.attach(client)
    try:
        for _ in range(runs):
            counter.reset()
            library(f"timeline-{uuid.uuid4().hex[:6]}")
            marks = [m for m in counter.log if m[0] >= starts[-1]]
            cut = next(n for n, m in enumerate(marks) if m[1:] == ("done", "sqs.SendMessage"))
            marks = marks[: cut + 1]
            path = [op.split(".", 1)[1] for _, kind, op in marks if kind == "call"]
            sample: dict[str, float] = {}
            last, prev = starts[-1], "failure"
            for at, kind, op in marks:
                name = op.split(".", 1)[1]
                label = f"{prev} > {name}" if kind == "call" else name
                label = f"{'client' if kind == 'call' else 'aws'}: {label}"
                while label in sample:  # the same call twice (two UpdateItems): number it
                    label += " (2)"
                sample[label] = (at - last) * 1e3
                if kind == "done":
                    prev = name
                last = at
            samples.append(sample)
    finally:
        for client in watched:
            counter.detach(client)
    keys = [k for k in samples[-1] if all(k in s for s in samples)]
    return path, {k: statistics.median(s[k] for s in samples) for k in keys}


def _top(segments: dict[str, float], count: int = 3) -> str:
    ranked = sorted(segments.items(), key=lambda kv: kv[1], reverse=True)[:count]
    return ", ".join(f"{name} {ms:.1f} ms" for name, ms in ranked)
