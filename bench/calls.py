"""AWS calls per batch through the producer library, counted by botocore event hooks."""

from __future__ import annotations

import uuid
from typing import Any

from bench.hooks import CallCounter
from bench.report import Figure
from bench.stack import make_clients, make_producer, new_resources, work_queue
from observability import SqsTrigger

__all__ = ["run"]


class _Boom(RuntimeError):
    pass


def run(endpoint: str, samples: int) -> tuple[list[Figure], dict[str, Any]]:
    clients = make_clients(endpoint)
    resources = new_resources(clients, "calls")
    queue = work_queue(clients)
    counter = CallCounter()
    for service in ("dynamodb", "sns", "sqs"):
        counter.attach(clients.client(service))
    trail = make_producer(resources, clients)
    job = f"calls-{uuid.uuid4().hex[:6]}"

    def trigger(batch: str) -> SqsTrigger:
        return SqsTrigger(queue_url=queue, body={"batch": batch})

    counter.reset()
    for n in range(samples):
        with trail.batch(job, f"ok-{n}", trigger=trigger(f"ok-{n}")):
            pass
    success = counter.snapshot()

    counter.reset()
    for n in range(samples):
        try:
            with trail.batch(job, f"bad-{n}", trigger=trigger(f"bad-{n}")):
                raise _Boom("bench failure")
        except _Boom:
            pass
    failure = counter.snapshot()

    per_success = sum(success["calls"].values()) / samples
    per_failure = sum(failure["calls"].values()) / samples
    figures = [
        Figure(
            "calls_per_success",
            "AWS calls per successful batch",
            per_success,
            2,
            "==",
            measured=_ops(success["calls"], samples),
            floor="2 (STARTED, SUCCESS)",
        ),
        Figure(
            "calls_per_failure",
            "AWS calls per failed batch",
            per_failure,
            3,
            "==",
            measured=_ops(failure["calls"], samples),
            floor="3 (+1 Publish)",
        ),
    ]
    for fig, snap in ((figures[0], success), (figures[1], failure)):
        if snap["http_sends"] != sum(snap["calls"].values()):
            fig.notes.append(f"{snap['http_sends']} HTTP sends for the calls: botocore retried")
    details = {"samples": samples, "success": success, "failure": failure}
    return figures, details


def _ops(calls: dict[str, int], samples: int) -> str:
    short = {"dynamodb.TransactWriteItems": "TWI", "sns.Publish": "Publish"}
    return " + ".join(f"{n / samples:g} {short.get(op, op)}" for op, n in calls.items())
