"""The producer floor by hand: two raw TransactWriteItems per batch, no library code.

The same items the library writes (state item plus one event item per transition, the
same attributes and conditions), so the server does identical work and the ratio isolates
what the library adds on the client.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

__all__ = ["floor_batch", "floor_puts"]

_TTL_SECONDS = 90 * 86_400


def _stamp(moment: datetime) -> dict[str, str]:
    return {"S": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def _event(pk: str, batch: str, version: int, status: str, at: dict[str, str], run: str) -> Any:
    return {
        "pk": {"S": pk},
        "sk": {"S": f"EVENT#{batch}#{version:010d}"},
        "job_id": {"S": pk[4:]},
        "batch_id": {"S": batch},
        "event": {"S": status},
        "version": {"N": str(version)},
        "attempt": {"N": "1"},
        "status": {"S": status},
        "at": at,
        "actor": {"S": "bench"},
        "expires_at": {"N": str(int(datetime.now(UTC).timestamp()) + _TTL_SECONDS)},
        "trace_id": {"S": run},
    }


def floor_batch(ddb: Any, table: str, job: str, batch: str, body: Any, queue_url: str) -> None:
    """STARTED (conditional put) and SUCCESS (conditional update), each with its event."""
    pk, sk = f"JOB#{job}", f"STATE#{batch}"
    run = uuid.uuid4().hex
    started = datetime.now(UTC)
    at = _stamp(started)
    expires = {"N": str(int(started.timestamp()) + _TTL_SECONDS)}
    trigger = json.dumps(
        {"kind": "sqs", "queue_url": queue_url, "body": body, "message_group_id": None},
        separators=(",", ":"),
        sort_keys=True,
    )
    state = {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "job_id": {"S": job},
        "batch_id": {"S": batch},
        "status": {"S": "STARTED"},
        "attempt": {"N": "1"},
        "version": {"N": "1"},
        "run_id": {"S": run},
        "trace_id": {"S": run},
        "started_at": at,
        "heartbeat_at": at,
        "updated_at": at,
        "due_pk": {"S": "LIVE#0"},
        "due_at": at,
        "expires_at": expires,
        "trigger": {"S": trigger},
    }
    ddb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": state,
                    "ConditionExpression": "attribute_not_exists(#pk) OR #expires_at <= :now",
                    "ExpressionAttributeNames": {"#pk": "pk", "#expires_at": "expires_at"},
                    "ExpressionAttributeValues": {":now": {"N": str(int(started.timestamp()))}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {"Put": {"TableName": table, "Item": _event(pk, batch, 1, "STARTED", at, run)}},
        ],
        ClientRequestToken=str(uuid.uuid4()),
    )
    done = _stamp(datetime.now(UTC))
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                    "UpdateExpression": (
                        "SET #status = :s, #version = :v, #finished_at = :at, #updated_at = :at, "
                        "#duration_ms = :d, #expires_at = :e REMOVE #due_pk, #due_at"
                    ),
                    "ConditionExpression": (
                        "#run_id = :run AND #status = :started AND #version = :v1"
                    ),
                    "ExpressionAttributeNames": {
                        n: n[1:]
                        for n in (
                            "#status",
                            "#version",
                            "#finished_at",
                            "#updated_at",
                            "#duration_ms",
                            "#expires_at",
                            "#due_pk",
                            "#due_at",
                            "#run_id",
                        )
                    },
                    "ExpressionAttributeValues": {
                        ":s": {"S": "SUCCESS"},
                        ":v": {"N": "2"},
                        ":at": done,
                        ":d": {"N": "0"},
                        ":e": expires,
                        ":run": {"S": run},
                        ":started": {"S": "STARTED"},
                        ":v1": {"N": "1"},
                    },
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {"Put": {"TableName": table, "Item": _event(pk, batch, 2, "SUCCESS", done, run)}},
        ],
        ClientRequestToken=str(uuid.uuid4()),
    )


def floor_puts(ddb: Any, table: str, job: str, batch: str, body: Any, queue_url: str) -> None:
    """The weaker floor, for comparison only: two conditional PutItems of the state item and
    no event items, so the audit trail is not atomic with the state (the design forbids it)."""
    pk, sk = f"JOB#{job}", f"STATE#{batch}"
    run = uuid.uuid4().hex
    started = datetime.now(UTC)
    at = _stamp(started)
    expires = {"N": str(int(started.timestamp()) + _TTL_SECONDS)}
    trigger = json.dumps({"kind": "sqs", "queue_url": queue_url, "body": body}, sort_keys=True)
    state = {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "job_id": {"S": job},
        "batch_id": {"S": batch},
        "status": {"S": "STARTED"},
        "attempt": {"N": "1"},
        "version": {"N": "1"},
        "run_id": {"S": run},
        "started_at": at,
        "updated_at": at,
        "expires_at": expires,
        "trigger": {"S": trigger},
    }
    ddb.put_item(
        TableName=table,
        Item=state,
        ConditionExpression="attribute_not_exists(pk)",
    )
    done = _stamp(datetime.now(UTC))
    ddb.put_item(
        TableName=table,
        Item={**state, "status": {"S": "SUCCESS"}, "version": {"N": "2"}, "finished_at": done},
        ConditionExpression="run_id = :run AND version = :v1",
        ExpressionAttributeValues={":run": {"S": run}, ":v1": {"N": "1"}},
    )
