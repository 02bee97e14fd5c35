"""One client process of an endpoint-ceiling probe: a re-trigger's calls, raw, flat out.

`python -m bench.ceiling_worker SPEC_PATH START_AT SECONDS` waits until START_AT (epoch
seconds) so that every probe process starts together, then prints one JSON line.

SPEC_PATH is a JSON file: the endpoint, the table, the signal and work queues, the items
this process may claim (library-shaped FAILED batches, its own), and `mix`, the calls one
re-trigger made in a 1-replica run (`bench.hooks.MixCounter` keys, per re-trigger). A cycle
makes those calls in that proportion, as raw boto3 requests of the same shapes and no
remediator code: a claim and a record (`bench.floor_writes`) per batch, a claim refused on
its condition (a duplicate signal), the budget's conditional ADD, a breaker read, the
signal queue's ReceiveMessage and DeleteMessageBatch, the trigger's SendMessage.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from bench.endpoint import REGION
from bench.floor_writes import floor_claim, floor_record
from observability.clients import AwsClients

# A cycle's calls in the order a replica makes them.
_ORDER = (
    "sqs.ReceiveMessage",
    "dynamodb.UpdateItem:shared",
    "dynamodb.UpdateItem:shared:refused",
    "dynamodb.GetItem:shared",
    "dynamodb.UpdateItem:batch",
    "sqs.SendMessage",
    "dynamodb.PutItem:archive",
    "dynamodb.PutItem:batch",
    "dynamodb.UpdateItem:batch:refused",
    "sqs.ChangeMessageVisibilityBatch",
    "sqs.DeleteMessageBatch",
)


class _Probe:
    def __init__(self, spec: dict[str, Any]) -> None:
        config = AwsClients(region=REGION).config_for("dynamodb")
        session = boto3.Session(region_name=REGION)
        self.ddb = session.client("dynamodb", endpoint_url=spec["endpoint"], config=config)
        self.sqs = session.client("sqs", endpoint_url=spec["endpoint"], config=config)
        self.spec = spec
        self.table = spec["table"]
        self.items: list[tuple[str, str, int]] = [tuple(i) for i in spec["items"]]  # type: ignore[misc]
        self.owner = f"probe-{uuid.uuid4().hex[:6]}"
        self.claimed: tuple[str, str, int, dict[str, Any]] | None = None
        self.recorded: tuple[str, str, int] | None = None
        self.receipts: list[str] = []
        self.empty_receives = 0
        self.ops: dict[str, Callable[[], None]] = {
            "sqs.ReceiveMessage": self.receive,
            "dynamodb.UpdateItem:shared": lambda: self.budget(ok=True),
            "dynamodb.UpdateItem:shared:refused": lambda: self.budget(ok=False),
            "dynamodb.GetItem:shared": self.breaker,
            "dynamodb.UpdateItem:batch": self.claim,
            "dynamodb.PutItem:archive": self.archive,
            "dynamodb.PutItem:batch": self.record,
            "sqs.SendMessage": self.send,
            "dynamodb.UpdateItem:batch:refused": self.lost_claim,
            "sqs.ChangeMessageVisibilityBatch": self.hold,
            "sqs.DeleteMessageBatch": self.delete,
        }

    def receive(self) -> None:
        got = self.sqs.receive_message(
            QueueUrl=self.spec["signal_queue"],
            MaxNumberOfMessages=10,
            VisibilityTimeout=600,
            MessageAttributeNames=["All"],
            AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        self.empty_receives += not got
        self.receipts += [m["ReceiptHandle"] for m in got]

    def _entries(self) -> list[dict[str, str]]:
        taken, self.receipts = self.receipts[:10], self.receipts[10:]
        return [{"Id": str(n), "ReceiptHandle": r} for n, r in enumerate(taken)]

    def delete(self) -> None:
        entries = self._entries()
        if entries:
            self.sqs.delete_message_batch(QueueUrl=self.spec["signal_queue"], Entries=entries)

    def hold(self) -> None:
        entries = [{**e, "VisibilityTimeout": 600} for e in self._entries()]
        if entries:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.spec["signal_queue"], Entries=entries
            )

    def budget(self, *, ok: bool) -> None:
        with contextlib.suppress(self.ddb.exceptions.ConditionalCheckFailedException):
            self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": "FLEET"}, "sk": {"S": f"BUDGET#{self.owner}"}},
                UpdateExpression="ADD #used :count SET #expires_at = :expires",
                ConditionExpression="attribute_not_exists(#used) OR #used <= :most",
                ExpressionAttributeNames={"#used": "used", "#expires_at": "expires_at"},
                ExpressionAttributeValues={
                    ":count": {"N": "10"},
                    ":most": {"N": "1000000" if ok else "-1"},
                    ":expires": {"N": str(int(time.time()) + 86_400)},
                },
                ReturnValues="ALL_NEW",
            )

    def breaker(self) -> None:
        self.ddb.get_item(TableName=self.table, Key={"pk": {"S": "JOB#x"}, "sk": {"S": "BREAKER"}})

    def claim(self) -> None:
        job, batch, version = self.items.pop()
        item = floor_claim(self.ddb, self.table, job, batch, version, self.owner, 0)
        self.claimed = (job, batch, version + 1, item)

    def archive(self) -> None:
        """The record's archive put: a batch's older events moved out of its item (about
        500 bytes of events, as `bench.retry_costs` measures them), once per name."""
        event = {
            "M": {
                "event": {"S": "FAILED"},
                "at": {"S": "2026-01-01T00:00:00.000000Z"},
                "error_message": {"S": "x" * 60},
                "detail": {"S": "{" + "x" * 100 + "}"},
            }
        }
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": "JOB#probe"},
                "sk": {"S": f"ARCHIVE#{self.owner}#{uuid.uuid4().hex}"},
                "events": {"L": [event, event]},
            },
            ConditionExpression="attribute_not_exists(sk)",
        )

    def record(self) -> None:
        """The record of the last claim: a put of the item the claim returned."""
        if self.claimed is None:
            return
        job, batch, version, item = self.claimed
        floor_record(self.ddb, self.table, item, self.owner)
        self.recorded, self.claimed = (job, batch, version), None

    def lost_claim(self) -> None:
        if self.recorded is None:
            return
        job, batch, version = self.recorded
        with contextlib.suppress(self.ddb.exceptions.ConditionalCheckFailedException):
            floor_claim(self.ddb, self.table, job, batch, version - 1, self.owner, 0)

    def send(self) -> None:
        self.sqs.send_message(
            QueueUrl=self.spec["work_queue"],
            MessageBody=json.dumps({"batch": "probe"}),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": "probe"}
                for name in ("job_id", "batch_id", "attempt", "trace_id")
            },
        )


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    start_at, seconds = float(argv[1]), float(argv[2])
    probe = _Probe(spec)
    mix: dict[str, float] = spec["mix"]
    order = [op for op in _ORDER if mix.get(op)]
    unmodelled = sorted(set(mix) - set(_ORDER))
    # Connections and models loaded before the start.
    probe.sqs.get_queue_attributes(QueueUrl=spec["work_queue"], AttributeNames=["All"])
    probe.breaker()
    time.sleep(max(0.0, start_at - time.time()))
    owed: Counter[str] = Counter()
    cycles = failed = 0
    made: Counter[str] = Counter()
    cpu0, stop = time.process_time(), start_at + seconds
    while time.time() < stop and probe.items:
        for op in order:
            owed[op] += mix[op]
            while owed[op] >= 1:
                owed[op] -= 1
                try:
                    probe.ops[op]()
                    made[op] += 1
                except ClientError:  # moto's 500s, still failing after botocore's retries
                    failed += 1
        cycles += 1
    elapsed, cpu = time.time() - start_at, time.process_time() - cpu0
    out = {
        "cycles": cycles,
        "calls": dict(made),
        "failed": failed,
        "empty_receives": probe.empty_receives,
        "ran_out_of_items": not probe.items,
        "unmodelled": unmodelled,
        "seconds": elapsed,
        "cpu": cpu,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
