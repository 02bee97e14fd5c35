"""A trail used in a parent, then a fork pool: every child gets its own connections.

moto's server closes every connection itself; the fault proxy keeps them alive, as AWS
does, so the parent's pooled sockets are there to be (wrongly) inherited. Both run in a
process of their own here: in this one, the children would inherit their sockets too.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from observability import AuditTrail, SqsTrigger, Status
from observability.clients import AwsClients
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from remediator.stack.provision import bootstrap
from tests.conftest import REGION, new_id

CHILDREN = 16
ROUNDS = 12
WORK = SqsTrigger(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/work", body={})

_trail: AuditTrail | None = None  # built in the parent, inherited by the forked children


def _one_batch(job_batch: tuple[str, str]) -> tuple[str | None, float]:
    job, batch = job_batch
    assert _trail is not None
    began = time.monotonic()
    try:
        with _trail.batch(job, batch, trigger=WORK):
            pass
    except Exception as exc:
        return f"{os.getpid()} {batch}: {type(exc).__name__}: {exc}", time.monotonic() - began
    return None, time.monotonic() - began


_SERVE = """
import sys, time
from remediator.stack.local import LocalServer
from tests.proxy import FaultProxy
moto = LocalServer()
proxy = FaultProxy(moto.endpoint).start()
print(moto.endpoint, proxy.url, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def served() -> Iterator[tuple[str, str]]:
    """(moto endpoint, keep-alive proxy URL), served by another process."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        moto, proxy = proc.stdout.readline().split()
        yield moto, proxy
    finally:
        proc.kill()
        proc.wait()


def test_a_fork_pool_after_the_parent_used_the_trail(served: tuple[str, str]):
    global _trail
    moto, proxy = served
    clients = AwsClients(region=REGION, endpoint_url=moto)
    made = bootstrap(clients, f"audit-{new_id()}")
    settings = Settings(
        table_name=made.table_name, topic_arn=made.topic_arn, region=REGION, _env_file=None
    )
    kept_alive = AwsClients(region=REGION, endpoint_url=proxy)
    _trail = AuditTrail(settings, clients=kept_alive, metrics=Metrics(stream=io.StringIO()))
    job = new_id()
    errors: list[str] = []
    stalls: list[float] = []
    fork = multiprocessing.get_context("fork")
    try:
        for round_ in range(ROUNDS):
            # The parent's pool holds live connections when the children are forked.
            error, took = _one_batch((job, f"parent-{round_}"))
            errors += [error] if error else []
            with fork.Pool(CHILDREN) as pool:
                done = pool.map(_one_batch, [(job, f"r{round_}-c{i}") for i in range(CHILDREN)])
            errors += [e for e, _ in done if e]
            stalls += [t for _, t in done]
            error, took = _one_batch((job, f"parent-after-{round_}"))
            errors += [error] if error else []
            stalls.append(took)
    finally:
        _trail = None
    states = AuditTrail(settings, clients=clients).states(job)
    stuck = [s.batch_id for s in states if s.status is not Status.SUCCESS]
    print(f"fork pool: errors={len(errors)} stuck={len(stuck)} max_stall={max(stalls):.3f}s")
    assert errors == []
    assert stuck == []
    assert len(states) == ROUNDS * (CHILDREN + 2)
    # Sharing the parent's sockets stalled a batch for a read timeout (about 10 s) in 10 of 12
    # rounds. Alone the slowest batch takes about 0.3 s; beside other suites a scheduler
    # hiccup has held one batch for 6 s, once: more than two slow batches is the defect.
    slow = [t for t in stalls if t > 2.0]
    assert len(slow) <= 2, slow
