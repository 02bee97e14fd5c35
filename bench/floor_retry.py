"""The floor of a retry by hand: four raw single-item writes of a lean item, no library.

A failed batch (written here, not metered) is claimed (the floor's conditional UpdateItem,
`ALL_NEW`), its trigger recorded, its re-run STARTED and SUCCESS: each a conditional write
of an item that holds the batch's state and only the event that write adds, as a table
that kept every event elsewhere would write it. Each write is then one write unit, plus
the index entries its transition needs (the claim moves `FAILED#` to `LIVE#`, the record
and STARTED move `due_at`, SUCCESS drops the entry): what `wru_per_retry` is divided by.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.floor_writes import floor_claim

__all__ = ["floor_failed_item", "floor_retry"]

_TTL = timedelta(days=90)
_STALE = timedelta(hours=1)


def _stamp(moment: datetime) -> dict[str, str]:
    return {"S": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def _event(name: str, status: str, version: int, attempt: int, actor: str) -> dict[str, Any]:
    return {
        "M": {
            "event": {"S": name},
            "version": {"N": str(version)},
            "attempt": {"N": str(attempt)},
            "status": {"S": status},
            "at": _stamp(datetime.now(UTC)),
            "actor": {"S": actor},
        }
    }


def _new_id() -> dict[str, str]:
    return {"S": uuid.uuid4().hex[:16]}


def floor_failed_item(
    ddb: Any, table: str, job: str, batch: str, queue_url: str, actor: str, shard: int
) -> None:
    """A FAILED attempt 1 at version 2, due now (the starting point; not metered)."""
    now = _stamp(datetime.now(UTC))
    run = uuid.uuid4().hex
    failed = _event("FAILED", "FAILED", 2, 1, actor)
    failed["M"]["error_type"] = {"S": "WarehouseTimeout"}
    failed["M"]["error_message"] = {"S": "warehouse connection timed out after 30 s"}
    trigger = {"body": {"batch": batch}, "kind": "sqs", "queue_url": queue_url}
    item = {
        "pk": {"S": f"JOB#{job}"},
        "sk": {"S": f"STATE#{batch}"},
        "status": {"S": "FAILED"},
        "attempt": {"N": "1"},
        "version": {"N": "2"},
        "run_id": {"S": run},
        "trace_id": {"S": run},
        "updated_at": now,
        "error_type": {"S": "WarehouseTimeout"},
        "retryable": {"BOOL": True},
        "first_failed_at": now,
        "due_pk": {"S": f"FAILED#{shard}"},
        "due_at": now,
        "expires_at": {"N": str(int((datetime.now(UTC) + _TTL).timestamp()))},
        "trigger": {"S": json.dumps(trigger, separators=(",", ":"), sort_keys=True)},
        "incarnation": {"S": run[:16]},
        "events": {"L": [failed]},
        "write_id": _new_id(),
    }
    ddb.put_item(TableName=table, Item=item)


def _put_over(ddb: Any, table: str, item: dict[str, Any], seen: dict[str, str]) -> None:
    ddb.put_item(
        TableName=table,
        Item=item,
        ConditionExpression="#write_id = :seen",
        ExpressionAttributeNames={"#write_id": "write_id"},
        ExpressionAttributeValues={":seen": seen},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def floor_retry(ddb: Any, table: str, job: str, batch: str, owner: str, shard: int) -> None:
    """Claim, record, STARTED, SUCCESS of the failed batch: four conditional writes."""
    claimed = floor_claim(ddb, table, job, batch, 2, owner, shard)
    version = int(claimed["version"]["N"])
    recorded = {k: v for k, v in claimed.items() if k not in ("lease_owner", "pending_trigger")}
    recorded.update(
        due_at=_stamp(datetime.now(UTC) + _STALE),
        events={"L": [_event("RETRY_TRIGGERED", "RETRYING", version, 1, owner)]},
        write_id=_new_id(),
    )
    _put_over(ddb, table, recorded, claimed["write_id"])
    now = datetime.now(UTC)
    run = uuid.uuid4().hex
    started = {k: v for k, v in recorded.items() if k not in ("error_type", "first_failed_at")}
    started.update(
        status={"S": "STARTED"},
        attempt={"N": "2"},
        version={"N": str(version + 1)},
        run_id={"S": run},
        heartbeat_at=_stamp(now),
        due_at=_stamp(now + _STALE),
        events={"L": [_event("STARTED", "STARTED", version + 1, 2, owner)]},
        write_id=_new_id(),
    )
    _put_over(ddb, table, started, recorded["write_id"])
    done = {k: v for k, v in started.items() if k not in ("due_pk", "due_at", "heartbeat_at")}
    done.update(
        status={"S": "SUCCESS"},
        version={"N": str(version + 2)},
        events={"L": [_event("SUCCESS", "SUCCESS", version + 2, 2, owner)]},
        write_id=_new_id(),
    )
    _put_over(ddb, table, done, started["write_id"])
