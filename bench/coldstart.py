"""What a cold process pays before its first batch: whole processes, timed from outside.

- `import_ratio_vs_boto3`: `python -c` of what a pipeline imports (`from observability
  import AuditTrail, SqsTrigger`) against `import boto3` alone.
- `cold_start_ratio_vs_powertools`: a fresh process that imports, builds its trail and
  records one successful batch against the endpoint, against a fresh process that does the
  same with Powertools' idempotent function (the yardstick of `bench.producer`).

Pairs alternate which goes first; each figure is the median of the per-pair ratios. Where
the time goes in the library's process is read from `python -X importtime` once. The
warm-up runs write every module's bytecode (PYTHONDONTWRITEBYTECODE is removed from their
environment), so both sides start from compiled modules, as a deployment package built
with `compileall` does: otherwise whichever side's modules changed last pays for
compiling them in every run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from typing import Any

from bench.endpoint import REGION
from bench.report import Figure
from bench.stack import make_clients, new_resources
from bench.stats import interleave, paired_ratio

__all__ = ["run"]

_IMPORT_LIB = "from observability import AuditTrail, SqsTrigger"
_IMPORT_BOTO3 = "import boto3"
_LIB_BATCH = """
import os, uuid
from observability import AuditTrail
trail = AuditTrail(actor="cold")
with trail.batch("cold", uuid.uuid4().hex[:12]):
    pass
"""
_PT_BATCH = """
import os, uuid
import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function)
layer = DynamoDBPersistenceLayer(table_name=os.environ["PT_TABLE"])
@idempotent_function(data_keyword_argument="batch", persistence_store=layer,
                     config=IdempotencyConfig())
def work(batch):
    return {"batch_id": batch["batch_id"]}
work(batch={"job_id": "cold", "batch_id": uuid.uuid4().hex[:12]})
"""


# Prepended to a script run once more, untimed: the AWS calls its process makes, in order,
# read from botocore's own event hook on every client the process creates.
_COUNT_CALLS = """
import atexit, sys, botocore.session
_calls = []
_create = botocore.session.Session.create_client
def _counted(self, *args, **kwargs):
    client = _create(self, *args, **kwargs)
    client.meta.events.register("before-call", lambda model, **_: _calls.append(model.name))
    return client
botocore.session.Session.create_client = _counted
atexit.register(lambda: sys.stderr.write("AWS-CALLS " + " ".join(_calls) + "\\n"))
"""


def _calls(code: str, env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_CALLS + code],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("AWS-CALLS")]
    return lines[-1].split()[1:] if lines else []


def _timed(code: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def _powertools_table(endpoint: str) -> str:
    ddb = make_clients(endpoint).dynamodb()
    table = f"idempotency-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    return table


def _import_tops(env: dict[str, str]) -> dict[str, float]:
    """Import milliseconds (own time, summed) by the top-level package a module is in."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _IMPORT_LIB],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    tops: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)", line)
        if m:
            tops[m.group(2).split(".")[0]] += int(m.group(1)) / 1000
    return dict(sorted(tops.items(), key=lambda kv: -kv[1])[:8])


def run(endpoint: str, pairs: int) -> tuple[list[Figure], dict[str, Any]]:
    resources = new_resources(make_clients(endpoint), "cold")
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "REMEDIATOR_TABLE_NAME": resources.table_name,
        "REMEDIATOR_TOPIC_ARN": resources.topic_arn,
        "REMEDIATOR_METRICS_ENABLED": "false",
        "PT_TABLE": _powertools_table(endpoint),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for code in (_LIB_BATCH, _PT_BATCH, _IMPORT_LIB, _IMPORT_BOTO3):
        _timed(code, env)  # warm the file cache and the bytecode: every process then alike
    times = interleave(
        pairs,
        {
            "library": lambda _: _timed(_LIB_BATCH, env),
            "powertools": lambda _: _timed(_PT_BATCH, env),
            "import_library": lambda _: _timed(_IMPORT_LIB, env),
            "import_boto3": lambda _: _timed(_IMPORT_BOTO3, env),
        },
    )
    med = {name: sorted(v)[len(v) // 2] for name, v in times.items()}
    cold = Figure(
        "cold_start_ratio_vs_powertools",
        "cold process: import, trail, one batch / Powertools",
        paired_ratio(times["library"], times["powertools"]),
        1.1,
        "<=",
        measured=f"library {med['library'] * 1000:.0f} ms",
        floor=f"powertools {med['powertools'] * 1000:.0f} ms, {pairs} pairs",
    )
    imports = Figure(
        "import_ratio_vs_boto3",
        "import a pipeline's names / import boto3",
        paired_ratio(times["import_library"], times["import_boto3"]),
        1.3,
        "<=",
        measured=f"library {med['import_library'] * 1000:.0f} ms",
        floor=f"boto3 {med['import_boto3'] * 1000:.0f} ms, {pairs} pairs",
    )
    calls = {"library": _calls(_LIB_BATCH, env), "powertools": _calls(_PT_BATCH, env)}
    cold.notes.append(
        "AWS calls in the cold process: "
        + "; ".join(f"{k} {len(v)} ({', '.join(v)})" for k, v in calls.items())
        + ". The library's two more are once per process: the table's shape (META, read "
        "before the first write so that no process indexes into shards the remediator does "
        "not sweep) and the job's registry item (what `remediator jobs` lists)"
    )
    tops = _import_tops(env)
    imports.notes.append(
        "import ms by top-level package: " + ", ".join(f"{k} {v:.0f}" for k, v in tops.items())
    )
    return [cold, imports], {"seconds": times, "import_ms_by_package": tops, "calls": calls}
