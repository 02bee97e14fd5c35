"""The producer floor by hand: two raw single-item conditional writes per batch, no library.

STARTED is a conditional PutItem of the whole item (its history list holding the STARTED
event), SUCCESS a conditional UpdateItem that appends the SUCCESS event with `list_append`
and removes the live-run index keys: the same attributes, expressions and conditions the
library sends, written out literally here, so that the server does identical work and the
ratio isolates what the library adds on the client. `bench.costs` reads both items back
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
# The retry defaults the library stores with a batch that brings no policy of its own.
_RETRY = json.dumps(
    {"env": {"default": {"base_seconds": 60.0, "max_attempts": 3, "max_seconds": 3600.0,
                         "name": "default"}}},
    separators=(",", ":"),
    sort_keys=True,
)  # fmt: skip


def _stamp(moment: datetime) -> dict[str, str]:
    return {"S": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def _event(name: str, version: int, at: dict[str, str], actor: str, trace: str) -> dict[str, Any]:
    return {
        "M": {
            "event": {"S": name},
            "version": {"N": str(version)},
            "attempt": {"N": "1"},
            "status": {"S": name},
            "at": at,
            "actor": {"S": actor},
            "trace_id": {"S": trace},
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
        {"body": body, "kind": "sqs", "message_group_id": None, "queue_url": queue_url},
        separators=(",", ":"),
        sort_keys=True,
    )
    ddb.put_item(
        TableName=table,
        Item={
            "pk": pk,
            "sk": sk,
            "status": {"S": "STARTED"},
            "attempt": {"N": "1"},
            "version": {"N": "1"},
            "run_id": {"S": run},
            "trace_id": {"S": run},
            "started_at": at,
            "heartbeat_at": at,
            "updated_at": at,
            "due_pk": {"S": "LIVE#0"},
            "due_at": _stamp(started + _STALE),
            "expires_at": expires,
            "trigger": {"S": trigger},
            "incarnation": {"S": run[:16]},
            "retry": {"S": _RETRY},
            "events": {"L": [_event("STARTED", 1, at, actor, run)]},
            "write_id": {"S": uuid.uuid4().hex[:16]},
        },
        ConditionExpression="attribute_not_exists(#pk) OR #expires_at <= :now_epoch",
        ExpressionAttributeNames={"#pk": "pk", "#expires_at": "expires_at"},
        ExpressionAttributeValues={":now_epoch": {"N": str(int(started.timestamp()))}},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    finished = datetime.now(UTC)
    done = _stamp(finished)
    duration = {"N": str(int((finished - started).total_seconds() * 1000))}
    success = _event("SUCCESS", 2, done, actor, run)
    success["M"]["duration_ms"] = duration
    names = [
        *("write_id", "status", "version", "finished_at", "updated_at", "duration_ms"),
        *("expires_at", "attempt_floor", "events", "due_pk", "due_at", "alerted", "run_id"),
    ]
    ddb.update_item(
        TableName=table,
        Key={"pk": pk, "sk": sk},
        UpdateExpression=(
            "SET #write_id = :write_id, #status = :set_status, #version = :set_version, "
            "#finished_at = :set_finished_at, #updated_at = :set_updated_at, "
            "#duration_ms = :set_duration_ms, #expires_at = :set_expires_at, "
            "#attempt_floor = :set_attempt_floor, #events = list_append(#events, :events) "
            "REMOVE #due_pk, #due_at, #alerted"
        ),
        ConditionExpression="#run_id = :run_id AND #status = :started AND #version = :version",
        ExpressionAttributeNames={f"#{n}": n for n in names},
        ExpressionAttributeValues={
            ":run_id": {"S": run},
            ":started": {"S": "STARTED"},
            ":version": {"N": "1"},
            ":set_status": {"S": "SUCCESS"},
            ":set_version": {"N": "2"},
            ":set_finished_at": done,
            ":set_updated_at": done,
            ":set_duration_ms": duration,
            ":set_expires_at": {"N": str(int((finished + _TTL).timestamp()))},
            ":set_attempt_floor": {"N": "1"},
            ":events": {"L": [success]},
            ":write_id": {"S": uuid.uuid4().hex[:16]},
        },
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def floor_failed(
    ddb: Any, table: str, job: str, batch: str, run: str, actor: str, shard: int
) -> None:
    """FAILED of a STARTED attempt 1 (version 1), retryable, due now: the library's
    failure write (one conditional UpdateItem appending the FAILED event) by hand."""
    now = datetime.now(UTC)
    at = _stamp(now)
    failed = _event("FAILED", 2, at, actor, run)
    failed["M"].update(
        error_type={"S": "RuntimeError"},
        error_message={"S": "bench failure"},
        duration_ms={"N": "0"},
        detail={"S": '{"retryable":true,"next_retry_at":"' + at["S"] + '"}'},
    )
    sets = [
        *("finished_at", "updated_at", "duration_ms", "error_type", "retryable"),
        *("first_failed_at", "expires_at", "status", "version", "due_pk", "due_at"),
    ]
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": f"JOB#{job}"}, "sk": {"S": f"STATE#{batch}"}},
        UpdateExpression="SET #write_id = :write_id, "
        + ", ".join(f"#{n} = :set_{n}" for n in sets)
        + ", #events = list_append(#events, :events)",
        ConditionExpression="#run_id = :run_id AND #status = :started AND #version = :version",
        ExpressionAttributeNames={f"#{n}": n for n in [*sets, "write_id", "events", "run_id"]},
        ExpressionAttributeValues={
            ":run_id": {"S": run},
            ":started": {"S": "STARTED"},
            ":version": {"N": "1"},
            ":set_finished_at": at,
            ":set_updated_at": at,
            ":set_duration_ms": {"N": "0"},
            ":set_error_type": {"S": "RuntimeError"},
            ":set_retryable": {"BOOL": True},
            ":set_first_failed_at": at,
            ":set_expires_at": {"N": str(int((now + _TTL).timestamp()))},
            ":set_status": {"S": "FAILED"},
            ":set_version": {"N": "2"},
            ":set_due_pk": {"S": f"FAILED#{shard}"},
            ":set_due_at": at,
            ":events": {"L": [failed]},
            ":write_id": {"S": uuid.uuid4().hex[:16]},
        },
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def floor_claim(
    ddb: Any, table: str, job: str, batch: str, version: int, owner: str, shard: int
) -> dict[str, Any]:
    """The remediator's claim by hand: one conditional UpdateItem (status, attempt, version,
    not expired, no live lease, due) that moves the batch to RETRYING under a lease and
    returns the whole item (the trigger is in it)."""
    now = datetime.now(UTC)
    until = _stamp(now + timedelta(seconds=300))
    sets = [
        *("lease_owner", "lease_expires_at", "due_at", "updated_at", "status", "version"),
        *("pending_trigger", "due_pk"),
    ]
    reply = ddb.update_item(
        TableName=table,
        Key={"pk": {"S": f"JOB#{job}"}, "sk": {"S": f"STATE#{batch}"}},
        UpdateExpression="SET #write_id = :write_id, "
        + ", ".join(f"#{n} = :set_{n}" for n in sets),
        ConditionExpression="#status = :status AND #attempt = :attempt AND #version = :version "
        "AND #expires_at > :now_epoch AND (attribute_not_exists(#lease_expires_at) OR "
        "#lease_expires_at <= :now) AND #due_at <= :now",
        ExpressionAttributeNames={f"#{n}": n for n in [*sets, "write_id", "attempt", "expires_at"]},
        ExpressionAttributeValues={
            ":status": {"S": "FAILED"},
            ":attempt": {"N": "1"},
            ":version": {"N": str(version)},
            ":now": _stamp(now),
            ":now_epoch": {"N": str(int(now.timestamp()))},
            ":set_lease_owner": {"S": owner},
            ":set_lease_expires_at": until,
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


def floor_record(ddb: Any, table: str, job: str, batch: str, version: int, owner: str) -> None:
    """The remediator's record of a trigger by hand: one conditional UpdateItem (this lease,
    status, version) appending RETRY_TRIGGERED and handing the lease back."""
    now = datetime.now(UTC)
    at = _stamp(now)
    event = _event("RETRY_TRIGGERED", version, at, owner, uuid.uuid4().hex)
    event["M"]["status"] = {"S": "RETRYING"}
    event["M"]["detail"] = {"S": '{"response_id":"' + str(uuid.uuid4()) + '","trigger":"sqs"}'}
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": f"JOB#{job}"}, "sk": {"S": f"STATE#{batch}"}},
        UpdateExpression="SET #write_id = :write_id, #due_at = :set_due_at, "
        "#updated_at = :set_updated_at, #expires_at = :set_expires_at, "
        "#events = list_append(#events, :events) "
        "REMOVE #lease_owner, #lease_expires_at, #pending_trigger",
        ConditionExpression="#lease_owner = :owner AND #status = :status AND #version = :version",
        ExpressionAttributeNames={
            f"#{n}": n
            for n in (
                *("write_id", "due_at", "updated_at", "expires_at", "events", "lease_owner"),
                *("lease_expires_at", "pending_trigger", "status", "version"),
            )
        },
        ExpressionAttributeValues={
            ":owner": {"S": owner},
            ":status": {"S": "RETRYING"},
            ":version": {"N": str(version)},
            ":set_due_at": _stamp(now + _STALE),
            ":set_updated_at": at,
            ":set_expires_at": {"N": str(int((now + _TTL).timestamp()))},
            ":events": {"L": [event]},
            ":write_id": {"S": uuid.uuid4().hex[:16]},
        },
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
