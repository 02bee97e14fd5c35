"""The operations' items in the table: header (`OPS` / `OP#<id>`) and chunks (`OP#<id>` /
`CHUNK#<n>`). Every change of a header is one conditional UpdateItem on its version, so two
replicas never both advance one operation from the same state."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from observability.errors import StoreUnavailable
from observability.models import av, av_map, is_expired, plain_item
from observability.models.keys import operation_chunk_key, operation_key, operations_partition
from remediator.bulk.model import ACTIVE, CANCELLED, Operation
from remediator.errors import RemediatorError

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = [
    "Lost",
    "NoSuchOperation",
    "OperationItems",
]

_CONDITION_FAILED = "ConditionalCheckFailedException"
_FIELDS = tuple(f.name for f in fields(Operation))


class NoSuchOperation(RemediatorError):
    """No operation has that id (or it expired)."""


class Lost(Exception):
    """The header changed since it was read (another replica, or a cancel): nothing written."""


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _to_item(op: Operation, expires_at: int) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(op, name)
        if value is None:
            continue
        if name in ("filter", "skipped"):
            value = json.dumps(dict(value), separators=(",", ":"), sort_keys=True)
        elif name == "inflight":
            value = list(value)
        elif name == "rate":
            value = repr(float(value))
        data[name] = value
    pk, sk = operation_key(op.operation_id)
    return av_map({**data, "pk": pk, "sk": sk, "expires_at": expires_at})


def _from_item(item: dict[str, Any]) -> Operation:
    data = plain_item(item)
    kwargs: dict[str, Any] = {n: data[n] for n in _FIELDS if data.get(n) is not None}
    kwargs["filter"] = json.loads(kwargs.get("filter", "{}"))
    kwargs["skipped"] = json.loads(kwargs.get("skipped", "{}"))
    kwargs["inflight"] = tuple(int(i) for i in kwargs.get("inflight", ()))
    if "rate" in kwargs:
        kwargs["rate"] = float(kwargs["rate"])
    return Operation(**kwargs)


class OperationItems:
    """DynamoDB I/O of the operations (the only code that touches their items)."""

    def __init__(self, clients: AwsClients, table: str) -> None:
        self.clients = clients
        self.table = table

    def _ddb(self) -> Any:
        return self.clients.dynamodb()

    def _fail(self, exc: Exception, action: str) -> StoreUnavailable:
        return StoreUnavailable(f"{action} of an operation on table {self.table!r} failed: {exc}")

    def create(self, op: Operation, chunks: list[list[str]], expires_at: int) -> None:
        """The chunks first, then the header: a replica that sees a header finds its list."""
        try:
            for n, chunk in enumerate(chunks):
                pk, sk = operation_chunk_key(op.operation_id, n)
                item = {**_key(pk, sk), "entries": av(chunk), "expires_at": av(expires_at)}
                self._ddb().put_item(
                    TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
            self._ddb().put_item(
                TableName=self.table,
                Item=_to_item(op, expires_at),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, "PutItem") from exc

    def all(self, now: datetime) -> list[Operation]:
        """Every operation (one paginated Query of the `OPS` partition), oldest first."""
        found: list[Operation] = []
        try:
            pages = (
                self._ddb()
                .get_paginator("query")
                .paginate(
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": operations_partition()}},
                    ConsistentRead=True,
                )
            )
            for page in pages:
                found.extend(_from_item(i) for i in page.get("Items", []) if not is_expired(i, now))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, "Query") from exc
        return found

    def get(self, operation_id: str, now: datetime) -> Operation:
        try:
            reply = self._ddb().get_item(
                TableName=self.table, Key=_key(*operation_key(operation_id)), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, "GetItem") from exc
        item = reply.get("Item")
        if not item or is_expired(item, now):
            raise NoSuchOperation(f"no operation {operation_id!r} (see `remediator operations`)")
        return _from_item(item)

    def chunk(self, operation_id: str, n: int) -> list[str]:
        """One chunk of the batch list (written once: a replica may keep it)."""
        try:
            reply = self._ddb().get_item(
                TableName=self.table, Key=_key(*operation_chunk_key(operation_id, n))
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, "GetItem") from exc
        entries = plain_item(reply.get("Item", {})).get("entries", [])
        return [str(e) for e in entries]

    def save(self, seen: Operation, after: Operation) -> Operation:
        """`after` over `seen`, on condition that the header is still at `seen.version`."""
        after = replace(after, version=seen.version + 1)
        item = _to_item(after, 0)
        item.pop("expires_at")
        names = {f"#{n}": n for n in item if n not in ("pk", "sk")}
        sets = ", ".join(f"#{n} = :{n}" for n in item if n not in ("pk", "sk"))
        values = {f":{n}": v for n, v in item.items() if n not in ("pk", "sk")}
        absent = [n for n in ("next_start_at", "finished_at") if getattr(after, n) is None]
        removed = ", ".join(f"#{n}" for n in absent)
        expression = f"SET {sets}" + (f" REMOVE {removed}" if absent else "")
        names.update({f"#{n}": n for n in absent})
        names["#v"] = "version"
        values[":seen"] = av(seen.version)
        try:
            self._ddb().update_item(
                TableName=self.table,
                Key=_key(*operation_key(seen.operation_id)),
                UpdateExpression=expression,
                ConditionExpression="#v = :seen",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                raise Lost(seen.operation_id) from None
            raise self._fail(exc, "UpdateItem") from exc
        except BotoCoreError as exc:
            raise self._fail(exc, "UpdateItem") from exc
        return after

    def cancel(self, operation_id: str, *, actor: str, at: str) -> bool:
        """CANCELLED, if it is ACTIVE (False when it had already ended or was cancelled);
        the version moves, so a replica's step planned before it is refused."""
        try:
            self._ddb().update_item(
                TableName=self.table,
                Key=_key(*operation_key(operation_id)),
                UpdateExpression="SET #s = :c, #by = :by, #at = :at ADD #v :one",
                ConditionExpression="#s = :active",
                ExpressionAttributeNames={
                    "#s": "state", "#by": "cancelled_by", "#at": "cancelled_at", "#v": "version",
                },
                ExpressionAttributeValues={
                    ":c": av(CANCELLED), ":by": av(actor), ":at": av(at), ":one": av(1),
                    ":active": av(ACTIVE),
                },
            )  # fmt: skip
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                return False
            raise self._fail(exc, "UpdateItem") from exc
        except BotoCoreError as exc:
            raise self._fail(exc, "UpdateItem") from exc
        return True
