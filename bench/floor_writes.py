"""The producer floor by hand: two raw single-item conditional writes per batch, no library.

STARTED is a conditional PutItem of the whole item (its history list holding the STARTED
event), SUCCESS a conditional PutItem of the whole item again (the SUCCESS event appended,
the live-run index keys gone), on the one condition that the item is the one STARTED wrote
(its write id): the same attributes and conditions the library sends, written out literally
here, so that the server does identical work and the ratio isolates what the library adds
on the client. `bench.costs` reads both items back
and reports any difference in shape.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["floor_batch", "floor_claim", "floor_failed", "floor_record"]

_TTL = timedelta(days=90)
_STALE = timedelta(hours=1)
# The retry defaults the library stores with a batch that brings no policy of its own (the
# contract's defaults, left out: observability.retry.StoredRetry).
_RETRY = "{}"


def _stamp(moment: datetime) -> dict[str, str]:
    return {"S": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def _event(name: str, version: int, at: dict[str, str], actor: str) -> dict[str, Any]:
    # No trace id and no status: an event in the item leaves out the item's own trace id,
    # and the status its name gives, as the library's do.
    return {
        "M": {
            "event": {"S": name},
            "version": {"N": str(version)},
            "attempt": {"N": "1"},
            "at": at,
            "actor": {"S": actor},
        }
    }


def floor_batch(
    ddb: Any, table: str, job: str, batch: str, body: Any, queue_url: str, actor: str
) -> None:
    """STARTED (conditional PutItem) and SUCCESS (conditional UpdateItem) of a new batch."""
    pk, sk = {"S": f"JOB#{job}"}, {"S": f"STATE#{batch}"}
    run = uuid.uuid4().hex
    started = datetime.now(UTC)
    at = _stamp(started)
    expires = {"N": str(int((started + _TTL).timestamp()))}
    trigger = json.dumps(
        {"body": body, "kind": "sqs", "queue_url": queue_url},
        separators=(",", ":"),
        sort_keys=True,
    )
    first: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "status": {"S": "STARTED"},
        "attempt": {"N": "1"},
        "version": {"N": "1"},
        "trace_id": {"S": run},  # and no run id, the same (the library leaves it out)
        "started_at": at,
        "heartbeat_at": at,
        "updated_at": at,
        "due_pk": {"S": "LIVE#0"},
        "due_at": _stamp(started + _STALE),
        "expires_at": expires,
        "trigger": {"S": trigger},
        "retry": {"S": _RETRY},
        "events": {"L": [_event("STARTED", 1, at, actor)]},
        "write_id": {"S": uuid.uuid4().hex[:16]},
    }
    ddb.put_item(
        TableName=table,
        Item=first,
        ConditionExpression="attribute_not_exists(#pk) OR #expires_at <= :now_epoch",
        ExpressionAttributeNames={"#pk": "pk", "#expires_at": "expires_at"},
        ExpressionAttributeValues={":now_epoch": {"N": str(int(started.timestamp()))}},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    finished = datetime.now(UTC)
    done = _stamp(finished)
    duration = {"N": str(int((finished - started).total_seconds() * 1000))}
    success = _event("SUCCESS", 2, done, actor)
    success["M"]["duration_ms"] = duration
    item = dict(first)
    for name in ("due_pk", "due_at", "heartbeat_at"):
        del item[name]
    item.update(
        status={"S": "SUCCESS"},
        version={"N": "2"},
        finished_at=done,
        updated_at=done,
        duration_ms=duration,
        expires_at={"N": str(int((finished + _TTL).timestamp()))},
        attempt_floor={"N": "1"},
        events={"L": [*first["events"]["L"], success]},
        write_id={"S": uuid.uuid4().hex[:16]},
    )
    _put_over(ddb, table, item, first["write_id"])


def _put_over(ddb: Any, table: str, item: dict[str, Any], seen: dict[str, str]) -> None:
    """A conditional PutItem of the whole item over the one written as `seen` (its write id):
    the item it was computed from, so no other condition is needed."""
    ddb.put_item(
        TableName=table,
        Item=item,
        ConditionExpression="#write_id = :seen",
        ExpressionAttributeNames={"#write_id": "write_id"},
        ExpressionAttributeValues={":seen": seen},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def floor_failed(ddb: Any, table: str, started: dict[str, Any], actor: str, shard: int) -> None:
    """FAILED of a STARTED attempt 1 (version 1, the item `started`), retryable, due now:
    the library's failure write (a conditional PutItem of the whole item, its history
    holding the FAILED event) by hand."""
    now = datetime.now(UTC)
    at = _stamp(now)
    failed = _event("FAILED", 2, at, actor)
    failed["M"].update(
        error_type={"S": "RuntimeError"},
        error_message={"S": "bench failure"},
        duration_ms={"N": "0"},
        detail={"S": '{"retryable":true,"next_retry_at":"' + at["S"] + '"}'},
    )
    item = {k: v for k, v in started.items() if k != "heartbeat_at"}
    item.update(
        finished_at=at,
        updated_at=at,
        duration_ms={"N": "0"},
        error_type={"S": "RuntimeError"},
        retryable={"BOOL": True},
        first_failed_at=at,
        expires_at={"N": str(int((now + _TTL).timestamp()))},
        status={"S": "FAILED"},
        version={"N": "2"},
        due_pk={"S": f"FAILED#{shard}"},
        due_at=at,
        events={"L": [*started["events"]["L"], failed]},
        write_id={"S": uuid.uuid4().hex[:16]},
    )
    _put_over(ddb, table, item, started["write_id"])


def floor_claim(
    ddb: Any, table: str, job: str, batch: str, version: int, owner: str, shard: int
) -> dict[str, Any]:
    """The remediator's claim by hand: one conditional UpdateItem (status, attempt, version,
    not expired, no live lease, due) that moves the batch to RETRYING under a lease and
    returns the whole item (the trigger is in it)."""
    now = datetime.now(UTC)
    until = _stamp(now + timedelta(seconds=300))
    sets = [
        *("lease_owner", "due_at", "updated_at", "status", "version"),
        *("pending_trigger", "due_pk"),
    ]
    reply = ddb.update_item(
        TableName=table,
        Key={"pk": {"S": f"JOB#{job}"}, "sk": {"S": f"STATE#{batch}"}},
        UpdateExpression="SET #write_id = :write_id, "
        + ", ".join(f"#{n} = :set_{n}" for n in sets),
        ConditionExpression="#status = :status AND #attempt = :attempt AND #version = :version "
        "AND #expires_at > :now_epoch AND #due_at <= :now",
        ExpressionAttributeNames={f"#{n}": n for n in [*sets, "write_id", "attempt", "expires_at"]},
        ExpressionAttributeValues={
            ":status": {"S": "FAILED"},
            ":attempt": {"N": "1"},
            ":version": {"N": str(version)},
            ":now": _stamp(now),
            ":now_epoch": {"N": str(int(now.timestamp()))},
            ":set_lease_owner": {"S": owner},
            ":set_due_at": until,
            ":set_updated_at": _stamp(now),
            ":set_status": {"S": "RETRYING"},
            ":set_version": {"N": str(version + 1)},
            ":set_pending_trigger": {"N": str(version + 1)},
            ":set_due_pk": {"S": f"LIVE#{shard}"},
            ":write_id": {"S": uuid.uuid4().hex[:16]},
        },
        ReturnValues="ALL_NEW",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    return dict(reply["Attributes"])


def floor_record(ddb: Any, table: str, claimed: dict[str, Any], owner: str) -> None:
    """The remediator's record of a trigger by hand: a conditional PutItem of the whole item
    the claim returned (this lease, status, version, write id), its history holding
    RETRY_TRIGGERED, the lease handed back."""
    now = datetime.now(UTC)
    at = _stamp(now)
    version = claimed["version"]
    event = _event("RETRY_TRIGGERED", int(version["N"]), at, owner)
    event["M"]["status"] = {"S": "RETRYING"}  # not the event's name: written
    event["M"]["detail"] = {"S": '{"response_id":"' + str(uuid.uuid4()) + '","trigger":"sqs"}'}
    item = {k: v for k, v in claimed.items() if k not in ("lease_owner", "pending_trigger")}
    item.update(
        due_at=_stamp(now + _STALE),
        updated_at=at,
        expires_at={"N": str(int((now + _TTL).timestamp()))},
        events={"L": [*claimed.get("events", {"L": []})["L"], event]},
        write_id={"S": uuid.uuid4().hex[:16]},
    )
    _put_over(ddb, table, item, claimed["write_id"])
