"""The audit table on DynamoDB: executes the writes that `transitions` builds, and reads.

Narrow primitives only; the logic of what to write lives in pure modules. Every botocore
error is translated here into the library's own exceptions. Every read drops items whose
TTL has passed, because DynamoDB deletes them days late.

Every write stamps the item with a fresh `write_id`. botocore retries a write whose reply
was lost; the retry then fails its condition, because the first one landed, and the item
DynamoDB hands back (`ReturnValuesOnConditionCheckFailure=ALL_OLD`) carries this write's id:
that is success, told apart from another writer's change without a read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from observability.audit.jobs import JobPolicy, policy_key
from observability.audit.shape import TableShape
from observability.errors import InvalidInput, ObservabilityError, StoreUnavailable
from observability.models.keys import (
    DUE_INDEX,
    BatchKey,
    archive_prefix,
    job_pk,
    meta_key,
    state_prefix,
)
from observability.models.records import (
    AuditEvent,
    BatchState,
    Item,
    Plain,
    av_map,
    is_expired,
    iso,
    plain,
    plain_item,
)
from observability.telemetry import tracing
from observability.transitions import Archive, Write, new_write_id

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["READ_BACK_SECONDS", "AuditStore", "ConditionFailed", "TableMissing", "new_write_id"]

_BATCH_GET_LIMIT = 100
READ_BACK_SECONDS = 2.0
_CONDITION_FAILED = "ConditionalCheckFailedException"
# A request DynamoDB itself refuses as malformed: the client does not check them (see
# observability.clients), and retrying one later fails the same way.
_REFUSED = frozenset({"ValidationException", "SerializationException"})


class ConditionFailed(ObservabilityError):
    """A conditional write lost: `old` is the item as it stood when it was refused."""

    def __init__(self, old: Item | None) -> None:
        super().__init__("conditional write rejected")
        self.old = old


class TableMissing(StoreUnavailable):
    """The audit table does not exist (run `remediator bootstrap`)."""


def _ser(values: Mapping[str, Plain]) -> Item:
    return av_map(values)


def _raise_store(exc: Exception, table: str, action: str, region: str = "") -> NoReturn:
    if isinstance(exc, ParamValidationError):
        # A bug or bad data, not an outage: retrying later would fail the same way.
        raise InvalidInput("request", f"{action} on table {table!r} rejected: {exc}") from exc
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _REFUSED:
            raise InvalidInput("request", f"{action} on table {table!r} rejected: {exc}") from exc
        if code == "ResourceNotFoundException":
            # In another region, bootstrap would build a second stack: the region comes first.
            raise TableMissing(
                f"DynamoDB table {table!r} does not exist in region {region or '?'}: check "
                "AWS_REGION and REMEDIATOR_TABLE_NAME; if both are right, run "
                "`remediator bootstrap`"
            ) from exc
        raise StoreUnavailable(f"{action} on table {table!r} failed: {code}: {exc}") from exc
    raise StoreUnavailable(f"{action} on table {table!r} failed: {exc}") from exc


def _events(item: Item) -> list[Plain]:
    raw = item.get("events", {}).get("L", [])
    return [plain(v) for v in raw]


class AuditStore:
    """DynamoDB primitives for batch items and their archives in one table."""

    def __init__(
        self,
        clients: AwsClients,
        table_name: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clients = clients
        self.clients = clients  # for the readers of the table's other items
        self.table_name = table_name
        self._sleep = sleep
        self._checker: AwsClients | None = None

    def _raise(self, exc: Exception, action: str) -> NoReturn:
        _raise_store(exc, self.table_name, action, self._clients.region)

    def _ddb(self) -> Any:
        # Untyped on purpose: the stubs' TypedDicts fight the generic item maps used here.
        return self._clients.client("dynamodb")

    # -- writes ---------------------------------------------------------------------------

    def _state_op(self, write: Write, write_id: str) -> dict[str, Any]:
        op: dict[str, Any] = {
            "TableName": self.table_name,
            "ConditionExpression": write.condition,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        names = write.names()
        values = write.expression_values()
        if write.put:
            op["Item"] = _ser({**write.item(), "write_id": write_id})
        else:
            names["#write_id"] = "write_id"
            values[":write_id"] = write_id
            pk, sk = write.item_key
            op["Key"] = _ser({"pk": pk, "sk": sk})
            expression = write.update_expression()
            stamp = "#write_id = :write_id"
            op["UpdateExpression"] = (
                expression.replace("SET ", f"SET {stamp}, ", 1)
                if expression.startswith("SET ")
                else f"SET {stamp} {expression}".rstrip()
            )
        op["ExpressionAttributeNames"] = names
        if values:
            op["ExpressionAttributeValues"] = _ser(values)
        return op

    def _write(self, write: Write, *, new: bool) -> Item | None:
        """One conditional PutItem or UpdateItem; the new item when `new` (or when this very
        write is found to have landed already), else None. A caller that retries one
        logical write itself plans every try with the same `write_id`."""
        if write.archive is not None:
            self.put_archive(write.archive)
        write_id = write.write_id
        op = self._state_op(write, write_id)
        action = "PutItem" if write.put else "UpdateItem"
        try:
            with tracing.aws_call(
                "DynamoDB",
                action,
                table=self.table_name,
                events=write.events,
                status=write.set.get("status"),
            ):
                if write.put:
                    self._ddb().put_item(**op)
                    return dict(op["Item"]) if new else None  # the item, exactly as put
                if new:
                    op["ReturnValues"] = "ALL_NEW"
                reply = self._ddb().update_item(**op)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                old: Any = exc.response.get("Item")
                if old and old.get("write_id", {}).get("S") == write_id:
                    return dict(old)  # botocore's retry of this write, whose reply was lost
                raise ConditionFailed(old) from None
            self._raise(exc, action)
        except BotoCoreError as exc:
            self._raise(exc, action)
        return reply.get("Attributes") if new else None

    def apply(self, write: Write) -> None:
        """Commit one transition (archiving first when its write says so), or raise
        ConditionFailed with the item as it stands."""
        self._write(write, new=False)

    def update(self, write: Write) -> BatchState:
        """Commit one conditional write and return the item it leaves (claims, heartbeats)."""
        item = self._write(write, new=True)
        if not item:
            raise StoreUnavailable(f"UpdateItem on table {self.table_name!r} returned no item")
        return BatchState.from_item(item)

    def replace_event(
        self, key: BatchKey, index: int, expected: Mapping[str, Plain], event: Mapping[str, Plain]
    ) -> None:
        """Put `event` in place of the one at `index` of the item's history, on condition
        that it is still `expected` (ConditionFailed otherwise)."""
        try:
            self._ddb().update_item(
                TableName=self.table_name,
                Key=_ser({"pk": key.pk, "sk": key.sk}),
                # A new write_id too: a writer holding the item before this must not put it.
                UpdateExpression=f"SET #events[{index}] = :event, #write_id = :write_id",
                ConditionExpression=f"#events[{index}] = :expected",
                ExpressionAttributeNames={"#events": "events", "#write_id": "write_id"},
                ExpressionAttributeValues=_ser(
                    {":event": event, ":expected": expected, ":write_id": new_write_id()}
                ),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                raise ConditionFailed(None) from None
            self._raise(exc, "UpdateItem")
        except BotoCoreError as exc:
            self._raise(exc, "UpdateItem")

    def put_archive(self, archive: Archive) -> None:
        """Put older events in their archive item, once: an archive already there under the
        same name holds the same events (a writer died before trimming them)."""
        try:
            with tracing.aws_call("DynamoDB", "PutItem", table=self.table_name, archive=True):
                self._ddb().put_item(
                    TableName=self.table_name,
                    Item=_ser(archive.item()),
                    ConditionExpression="attribute_not_exists(sk)",
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                return
            self._raise(exc, "PutItem")
        except BotoCoreError as exc:
            self._raise(exc, "PutItem")

    # -- reads ----------------------------------------------------------------------------

    def write_id_of(self, item_key: tuple[str, str]) -> str | None:
        """The `write_id` the item holds now (consistent read), asked in bounded time: two
        tries of at most `READ_BACK_SECONDS` each, for a writer whose reply never came."""
        if self._checker is None:
            self._checker = self._clients.derive(max_attempts=2, read_timeout=READ_BACK_SECONDS)
        pk, sk = item_key
        try:
            reply = self._checker.client("dynamodb").get_item(
                TableName=self.table_name,
                Key=_ser({"pk": pk, "sk": sk}),
                ConsistentRead=True,
                ProjectionExpression="#w",
                ExpressionAttributeNames={"#w": "write_id"},
            )
        except (ClientError, BotoCoreError) as exc:
            self._raise(exc, "GetItem")
        found: Any = reply.get("Item", {}).get("write_id", {}).get("S")
        return str(found) if found else None

    def get(self, key: BatchKey, now: datetime) -> BatchState | None:
        try:
            reply = self._ddb().get_item(
                TableName=self.table_name,
                Key=_ser({"pk": key.pk, "sk": key.sk}),
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            self._raise(exc, "GetItem")
        item = reply.get("Item")
        if not item or is_expired(item, now):
            return None
        return BatchState.from_item(item)

    def shape(self) -> TableShape | None:
        """The table's declared shape (its META item), or None if it has none."""
        pk, sk = meta_key()
        try:
            reply = self._ddb().get_item(
                TableName=self.table_name,
                Key=_ser({"pk": pk, "sk": sk}),
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            self._raise(exc, "GetItem")
        item = reply.get("Item")
        return TableShape.from_item(item) if item else None

    def job_policy(self, job_id: str) -> JobPolicy | None:
        """The job's stored defaults (consistent read), or None."""
        item = self.other_item(policy_key(job_id))
        return JobPolicy.from_plain(job_id, item) if item is not None else None

    def other_item(self, key: Mapping[str, Any]) -> dict[str, Plain] | None:
        """A job's item other than its batches' (policy, schedule), read consistently."""
        try:
            reply = self._ddb().get_item(TableName=self.table_name, Key=key, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            self._raise(exc, "GetItem")
        item = reply.get("Item")
        return plain_item(item) if item else None

    def set_job_policy(self, write: Write) -> JobPolicy:
        """Commit a change of a job's defaults (see `jobs.change_policy`)."""
        return JobPolicy.from_plain(write.key.job_id, self.commit(write))

    def commit(self, write: Write) -> dict[str, Plain]:
        """Commit a write of a job's other item; returns the item it leaves."""
        item = self._write(write, new=True)
        if not item:
            raise StoreUnavailable(f"UpdateItem on table {self.table_name!r} returned no item")
        return plain_item(item)

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
                    self._raise(exc, "BatchGetItem")
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
            self._raise(exc, "Query")

    def states(
        self, job_id: str, now: datetime, *, between: tuple[str, str] | None = None
    ) -> Iterator[BatchState]:
        """Every live state item of a job, in batch id order (one paginated Query); with
        `between` (first, last batch id), only those ids, bounds included (a sort-key range)."""
        if between is None:
            condition = "pk = :pk AND begins_with(sk, :prefix)"
            values = {":pk": job_pk(job_id), ":prefix": state_prefix()}
        else:
            condition = "pk = :pk AND sk BETWEEN :first AND :last"
            first, last = (f"{state_prefix()}{b}" for b in between)
            values = {":pk": job_pk(job_id), ":first": first, ":last": last}
        for item in self._query(
            KeyConditionExpression=condition,
            ExpressionAttributeValues=_ser(values),
            ConsistentRead=True,
        ):
            if not is_expired(item, now):
                yield BatchState.from_item(item)

    def history(self, key: BatchKey, now: datetime) -> list[AuditEvent]:
        """Every event of one batch, oldest first: the item's own, and its archives (one
        more Query, only when the item's history no longer starts at version 1)."""
        state = self.get(key, now)
        if state is None:
            return []
        kept = list(state.events or ())
        chunks: list[list[Plain]] = []
        if state.incarnation and min((e.get("version", 0) for e in kept), default=2) > 1:
            for item in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues=_ser(
                    {":pk": key.pk, ":prefix": archive_prefix(key.batch_id, state.incarnation)}
                ),
                ConsistentRead=True,
            ):
                if not is_expired(item, now):
                    chunks.append(_events(item))
        return AuditEvent.merge(key.job_id, key.batch_id, *chunks, kept, trace_id=state.trace_id)

    def due(self, partition: str, until: datetime, now: datetime) -> Iterator[BatchState]:
        """Items of one shard of the sparse due-index whose `due_at` has come: hints, not facts."""
        for item in self._query(
            IndexName=DUE_INDEX,
            KeyConditionExpression="due_pk = :p AND due_at <= :until",
            ExpressionAttributeValues=_ser({":p": partition, ":until": iso(until)}),
        ):
            if not is_expired(item, now):
                yield BatchState.from_item(item)
