"""Reads and writes per batch of a bulk replay of 10,000 EXHAUSTED batches.

The table is loaded with `batches` EXHAUSTED items in the due-index (BatchWriteItem
directly: the figure is the operation's, not the loading). Counted at the client, by
botocore's after-call hook: the selection and the stored operation (`ops.operations`, for
all of them), then the service's steps (`bulk.runner`) over the first `run` of them, with
the in-flight cap at 100 and every triggered batch made SUCCESS between steps as its worker
would (those writes are the worker's, not counted). A batch's replay itself is the claim
and the record of any retry (2 writes, `wru_per_*` in costs); everything else is the
operation's own overhead, which the figure divides by the batches it handled.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.load import batch_write
from bench.report import Figure
from observability.clients import AwsClients
from observability.models import iso
from observability.models.keys import BatchKey, exhausted_partition
from remediator.bulk.items import OperationItems
from remediator.bulk.runner import Runner
from remediator.ops import operations
from remediator.ops.identity import Actor
from remediator.remediation import Remediator
from remediator.settings import RemediatorSettings
from remediator.stack.provision import bootstrap

__all__ = ["run"]

SHARDS = 1
_READS = ("GetItem", "BatchGetItem", "Query", "Scan")
_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")


class _Calls:
    """DynamoDB calls by operation, and items read (Query: ScannedCount; BatchGetItem: items)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items_read = 0

    def __call__(self, event_name: str, parsed: dict[str, Any], **_: Any) -> None:
        name = event_name.rsplit(".", 1)[-1]
        self.calls[name] += 1
        if name in ("Query", "Scan"):
            self.items_read += int(parsed.get("ScannedCount", 0))
        elif name == "GetItem" and parsed.get("Item"):
            self.items_read += 1
        elif name == "BatchGetItem":
            self.items_read += sum(len(v) for v in parsed.get("Responses", {}).values())

    def reads(self) -> int:
        return sum(self.calls[n] for n in _READS)

    def writes(self) -> int:
        return sum(self.calls[n] for n in _WRITES)


def _fill(clients: AwsClients, table: str, queue_url: str, now: datetime, batches: int) -> None:
    trigger = f'{{"kind":"sqs","queue_url":"{queue_url}"}}'
    items: list[dict[str, Any]] = []
    for n in range(batches):
        key = BatchKey(f"job-{n % 3}", f"b-{n:06d}")
        items.append({
            "pk": {"S": key.pk}, "sk": {"S": key.sk}, "status": {"S": "EXHAUSTED"},
            "attempt": {"N": "1"}, "version": {"N": "3"}, "trigger": {"S": trigger},
            "due_pk": {"S": exhausted_partition(key, SHARDS)}, "due_at": {"S": iso(now)},
            "updated_at": {"S": iso(now)}, "error_type": {"S": "WarehouseTimeout"},
            "events": {"L": []}, "expires_at": {"N": str(int(now.timestamp()) + 86400)},
        })  # fmt: skip
    batch_write(clients.dynamodb(), table, items, threads=3)


def _finish(clients: AwsClients, table: str, runner: Runner) -> None:
    """The workers: every batch the operation triggered succeeds (not counted)."""
    ddb = clients.dynamodb()
    for op in runner.items.all(datetime.now(UTC)):
        for index in op.inflight:
            entry = runner._entry(op, index)
            key = BatchKey(entry.job_id, entry.batch_id)
            ddb.update_item(
                TableName=table, Key={"pk": {"S": key.pk}, "sk": {"S": key.sk}},
                UpdateExpression="SET #s = :s, #v = #v + :one REMOVE due_pk, due_at",
                ExpressionAttributeNames={"#s": "status", "#v": "version"},
                ExpressionAttributeValues={":s": {"S": "SUCCESS"}, ":one": {"N": "1"}},
            )  # fmt: skip


def run(endpoint: str, batches: int, ran: int) -> tuple[list[Figure], dict[str, Any]]:
    plain = AwsClients(region="us-east-1", endpoint_url=endpoint)
    table = f"bench-ops-{uuid.uuid4().hex[:6]}"
    resources = bootstrap(plain, table, shards=SHARDS)
    now = datetime.now(UTC) - timedelta(seconds=1)
    started = time.perf_counter()
    _fill(plain, table, resources.queue_url, now, batches)
    load_seconds = time.perf_counter() - started
    # moto sorts the whole table for each index Query: a 10,000-item page takes seconds.
    counted = AwsClients(region="us-east-1", endpoint_url=endpoint, read_timeout=120.0)
    create = _Calls()
    counted.dynamodb().meta.events.register("after-call.dynamodb", create)
    store = Remediator(
        RemediatorSettings(table_name=table, retry_shards=SHARDS, _env_file=None),
        clients=counted,
    ).store
    flt = operations.Filter(jobs=None)
    chosen = operations.select(store, datetime.now(UTC), flt, shards=SHARDS)
    items = OperationItems(counted, table)
    op = operations.create(
        items, chosen, flt, actor=Actor("arn:aws:iam::123456789012:user/bench"),
        now=datetime.now(UTC), max_in_flight=100, rate=None, reason="bench",
        max_attempts=None, ttl_days=1,
    )  # fmt: skip
    if op.total != batches:
        raise RuntimeError(f"selected {op.total} of {batches} EXHAUSTED batches")
    step = _Calls()
    counted.dynamodb().meta.events.unregister("after-call.dynamodb", create)
    counted.dynamodb().meta.events.register("after-call.dynamodb", step)
    settings = RemediatorSettings(
        table_name=table, retry_shards=SHARDS, topic_arn=resources.topic_arn,
        metrics_enabled=False, _env_file=None,
    )  # fmt: skip
    remediator = Remediator(settings, clients=counted)
    # The record of each trigger goes through the remediator's own client (no retries).
    remediator.record_clients.dynamodb().meta.events.register("after-call.dynamodb", step)
    runner = Runner(remediator)
    started = time.perf_counter()
    done = 0
    while done < ran:
        runner.advance()
        _finish(plain, table, runner)
        done = min(items.get(op.operation_id, datetime.now(UTC)).cursor, ran)
    runner.advance()  # counts the last ones done
    step_seconds = time.perf_counter() - started
    ran = remediator.counts["triggered"]  # the steps reserve a cap's worth past `ran`
    own_writes = step.writes() - 2 * ran  # the claim and the record: any replay's writes
    per_batch_reads = create.reads() / batches + step.reads() / ran
    per_batch_writes = create.writes() / batches + own_writes / ran
    items_read = create.items_read / batches + step.items_read / ran
    plain.dynamodb().delete_table(TableName=table)
    figure = Figure(
        "operation_overhead_per_batch",
        f"DynamoDB calls per batch of a {batches:,}-batch operation, beyond its replay",
        per_batch_reads + per_batch_writes,
        1.0,
        "<=",
        measured=(
            f"reads {per_batch_reads:.3f}/batch ({items_read:.2f} items), writes "
            f"{per_batch_writes:.3f}/batch, beside the replay's 2 writes"
        ),
        floor="1 call per batch",
    )
    details = {
        "batches": batches,
        "stepped": ran,
        "create_calls": dict(create.calls),
        "create_items_read": create.items_read,
        "step_calls": dict(step.calls),
        "step_items_read": step.items_read,
        "reads_per_batch": per_batch_reads,
        "writes_per_batch": per_batch_writes,
        "items_read_per_batch": items_read,
        "load_seconds": load_seconds,
        "step_seconds": step_seconds,
    }
    return [figure], details
