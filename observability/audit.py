"""The audit table on DynamoDB: executes the writes that `transitions` builds, and reads.

Narrow primitives only; the logic of what to write lives in pure modules. Every botocore
error is translated here into the library's own exceptions. Every read drops items whose
TTL has passed, because DynamoDB deletes them days late.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from observability.errors import InvalidInput, ObservabilityError, StoreUnavailable
from observability.keys import DUE_INDEX, BatchKey, event_prefix, job_pk, state_prefix
from observability.models import AuditEvent, BatchState, Item, av, is_expired, iso
from observability.transitions import Scalar, Write

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["AuditStore", "ConditionFailed", "TableMissing"]

_BATCH_GET_LIMIT = 100
_TOKEN_NAMESPACE = uuid.UUID("5f0c2a52-9a7e-4d1f-8d2b-0b7f6a0d3c11")


class ConditionFailed(ObservabilityError):
    """A conditional write lost: `old` is the item as it stood (None on a transaction conflict)."""

    def __init__(self, old: Item | None, conflict: bool = False, index: int = 0) -> None:
        super().__init__("conditional write rejected" + (" (conflict)" if conflict else ""))
        self.old = old
        self.conflict = conflict
        self.index = index  # 0: the state item; 1 and up: the event items, in order


class TableMissing(StoreUnavailable):
    """The audit table does not exist (run `remediator bootstrap`)."""


def _ser(values: Mapping[str, Scalar]) -> Item:
    return {k: av(v) for k, v in values.items()}


def _raise_store(exc: Exception, table: str, action: str) -> NoReturn:
    if isinstance(exc, ParamValidationError):
        # A bug or bad data, not an outage: retrying later would fail the same way.
        raise InvalidInput("request", f"{action} on table {table!r} rejected: {exc}") from exc
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise TableMissing(
                f"DynamoDB table {table!r} does not exist: run `remediator bootstrap` "
                "or set REMEDIATOR_TABLE_NAME"
            ) from exc
        raise StoreUnavailable(f"{action} on table {table!r} failed: {code}: {exc}") from exc
    raise StoreUnavailable(f"{action} on table {table!r} failed: {exc}") from exc


class AuditStore:
    """DynamoDB primitives for state and event items in one table."""

    def __init__(
        self,
        clients: AwsClients,
        table_name: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clients = clients
        self.table_name = table_name
        self._sleep = sleep

    def _ddb(self) -> Any:
        # Untyped on purpose: the stubs' TypedDicts fight the generic item maps used here.
        return self._clients.client("dynamodb")

    # -- writes ---------------------------------------------------------------------------

    def _state_op(self, write: Write) -> dict[str, Any]:
        op: dict[str, Any] = {
            "TableName": self.table_name,
            "ConditionExpression": write.condition,
            "ExpressionAttributeNames": write.names(),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        values = write.expression_values()
        if values:
            op["ExpressionAttributeValues"] = _ser(values)
        if write.put:
            op["Item"] = _ser(write.item())
        else:
            op["Key"] = _ser({"pk": write.key.pk, "sk": write.key.sk})
            op["UpdateExpression"] = write.update_expression()
        return op

    def apply(self, write: Write, *, writer: str) -> None:
        """Commit the state change and its events together, or raise ConditionFailed.

        The request token makes botocore's retry of a commit whose reply was lost a no-op
        instead of a spurious condition failure.
        """
        state = self._state_op(write)
        ops: list[dict[str, Any]] = [{"Put": state} if write.put else {"Update": state}]
        ops += [{"Put": self._event_op(ev, write.event_condition)} for ev in write.events]
        # Event sort keys carry versions: they name this transition uniquely.
        slots = ",".join(str(ev["sk"]) for ev in write.events)
        token = uuid.uuid5(_TOKEN_NAMESPACE, f"{write.key.token}#{slots}#{writer}")
        try:
            self._ddb().transact_write_items(
                TransactItems=ops,
                ClientRequestToken=str(token),
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "TransactionCanceledException":
                reasons: list[Any] = list(exc.response.get("CancellationReasons", []))
                for index, reason in enumerate(reasons):
                    if reason.get("Code") == "ConditionalCheckFailed":
                        old = reasons[0].get("Item") if index == 0 else None
                        raise ConditionFailed(old, index=index) from None
                if any(r.get("Code") == "TransactionConflict" for r in reasons):
                    raise ConditionFailed(None, conflict=True) from None
            _raise_store(exc, self.table_name, "TransactWriteItems")
        except BotoCoreError as exc:
            _raise_store(exc, self.table_name, "TransactWriteItems")

    def _event_op(self, event: Mapping[str, Scalar], conditional: bool) -> dict[str, Any]:
        op: dict[str, Any] = {"TableName": self.table_name, "Item": _ser(event)}
        if conditional:
            op["ConditionExpression"] = "attribute_not_exists(sk)"
        return op

    def put_event(self, event: Mapping[str, Scalar]) -> None:
        """Write one event into its reserved version slot, once; ConditionFailed if taken."""
        try:
            self._ddb().put_item(**self._event_op(event, True))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConditionFailed(None, index=1) from None
            _raise_store(exc, self.table_name, "PutItem")
        except BotoCoreError as exc:
            _raise_store(exc, self.table_name, "PutItem")

    def update(self, write: Write) -> BatchState:
        """One conditional UpdateItem with no event (claims, heartbeats); returns the new state."""
        op = self._state_op(write)
        op.pop("TableName")
        try:
            reply = self._ddb().update_item(TableName=self.table_name, ReturnValues="ALL_NEW", **op)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                old: Any = exc.response.get("Item")
                raise ConditionFailed(old) from None
            _raise_store(exc, self.table_name, "UpdateItem")
        except BotoCoreError as exc:
            _raise_store(exc, self.table_name, "UpdateItem")
        return BatchState.from_item(reply["Attributes"])

    # -- reads ----------------------------------------------------------------------------

    def get(self, key: BatchKey, now: datetime) -> BatchState | None:
        try:
            reply = self._ddb().get_item(
                TableName=self.table_name,
                Key=_ser({"pk": key.pk, "sk": key.sk}),
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            _raise_store(exc, self.table_name, "GetItem")
        item = reply.get("Item")
        if not item or is_expired(item, now):
            return None
        return BatchState.from_item(item)

    def get_many(
        self, job_id: str, batch_ids: Iterable[str], now: datetime
    ) -> dict[str, BatchState]:
        """Current states of the given batches (absent or expired ones are missing)."""
        keys = [_ser({"pk": job_pk(job_id), "sk": f"{state_prefix()}{b}"}) for b in batch_ids]
        found: dict[str, BatchState] = {}
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            pending: list[Item] = keys[start : start + _BATCH_GET_LIMIT]
            # Unprocessed keys are not retried by botocore; back off briefly and ask again.
            for round_ in range(8):
                request = {self.table_name: {"Keys": pending, "ConsistentRead": True}}
                try:
                    reply = self._ddb().batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    _raise_store(exc, self.table_name, "BatchGetItem")
                for item in reply.get("Responses", {}).get(self.table_name, []):
                    if not is_expired(item, now):
                        state = BatchState.from_item(item)
                        found[state.batch_id] = state
                pending = reply.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
                if not pending:
                    break
                self._sleep(min(0.05 * 2**round_, 2.0))
            else:
                raise StoreUnavailable(
                    f"BatchGetItem on table {self.table_name!r} left {len(pending)} keys "
                    "unprocessed after 8 rounds (throttled)"
                )
        return found

    def _query(self, **kwargs: Any) -> Iterator[Item]:
        paginator = self._ddb().get_paginator("query")
        try:
            for page in paginator.paginate(TableName=self.table_name, **kwargs):
                yield from page.get("Items", [])
        except (ClientError, BotoCoreError) as exc:
            _raise_store(exc, self.table_name, "Query")

    def states(self, job_id: str, now: datetime) -> Iterator[BatchState]:
        """Every live state item of a job, in batch id order (one paginated Query)."""
        for item in self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=_ser({":pk": job_pk(job_id), ":prefix": state_prefix()}),
            ConsistentRead=True,
        ):
            if not is_expired(item, now):
                yield BatchState.from_item(item)

    def history(self, key: BatchKey, now: datetime) -> list[AuditEvent]:
        """The events of one batch, oldest first (one paginated Query)."""
        return [
            AuditEvent.from_item(item)
            for item in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues=_ser(
                    {":pk": key.pk, ":prefix": event_prefix(key.batch_id)}
                ),
                ConsistentRead=True,
            )
            if not is_expired(item, now)
        ]

    def due(self, partition: str, until: datetime, now: datetime) -> Iterator[BatchState]:
        """Items of one shard of the sparse due-index whose `due_at` has come: hints, not facts."""
        for item in self._query(
            IndexName=DUE_INDEX,
            KeyConditionExpression="due_pk = :p AND due_at <= :until",
            ExpressionAttributeValues=_ser({":p": partition, ":until": iso(until)}),
        ):
            if not is_expired(item, now):
                yield BatchState.from_item(item)
