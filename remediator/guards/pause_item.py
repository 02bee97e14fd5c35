"""The pauses item's I/O: a replica's watch (re-read every few seconds, consulted in memory),
and the two writes a person makes (pause, resume), each one conditional UpdateItem."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from observability.errors import StoreUnavailable
from observability.models import av, plain
from observability.models.keys import pauses_key
from remediator.guards.pauses import Pause, PauseSet

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["PauseWatch", "mark_resumed", "read_pauses", "write_pause"]

_KEY = {"pk": {"S": pauses_key()[0]}, "sk": {"S": pauses_key()[1]}}


def _failed_condition(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def read_pauses(clients: AwsClients, table: str) -> PauseSet:
    """One consistent GetItem: a pause written a moment ago is seen."""
    try:
        reply = clients.dynamodb().get_item(TableName=table, Key=_KEY, ConsistentRead=True)
    except (ClientError, BotoCoreError) as exc:
        raise StoreUnavailable(f"GetItem of the pauses on {table!r} failed: {exc}") from exc
    return PauseSet.from_item(reply.get("Item", {}))


def write_pause(clients: AwsClients, table: str, pause: Pause) -> Pause | None:
    """Set (or replace) the pause of its scope; returns the entry it replaced."""
    old = _update(
        clients,
        table,
        UpdateExpression="SET #scope = :pause",
        ExpressionAttributeNames={"#scope": pause.attribute},
        ExpressionAttributeValues={":pause": av(pause.value())},
    )
    return Pause.from_plain(old) if old else None


def mark_resumed(
    clients: AwsClients, table: str, attribute: str, *, actor: str, operator: str | None, at: str
) -> Pause | None:
    """Mark a pause resumed, on condition that it is there and not resumed yet; returns the
    pause as it was, or None when there was none to resume."""
    names = {"#scope": attribute, "#at": "resumed_at", "#by": "resumed_by"}
    values: dict[str, Any] = {":at": {"S": at}, ":by": {"S": actor}}
    sets = "#scope.#at = :at, #scope.#by = :by"
    if operator:
        names["#op"] = "resumed_operator"
        values[":op"] = {"S": operator}
        sets += ", #scope.#op = :op"
    try:
        old = _update(
            clients,
            table,
            UpdateExpression=f"SET {sets}",
            ConditionExpression="attribute_exists(#scope) AND attribute_not_exists(#scope.#at)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except _Refused:
        return None
    return Pause.from_plain(old) if old else None


class _Refused(Exception):
    """The write's condition failed."""


def _update(clients: AwsClients, table: str, **kwargs: Any) -> dict[str, Any] | None:
    """The attribute's value before the write (plain), if it had one."""
    try:
        reply = clients.dynamodb().update_item(
            TableName=table, Key=_KEY, ReturnValues="UPDATED_OLD", **kwargs
        )
    except ClientError as exc:
        if _failed_condition(exc):
            raise _Refused from None
        raise StoreUnavailable(f"UpdateItem of the pauses on {table!r} failed: {exc}") from exc
    except BotoCoreError as exc:
        raise StoreUnavailable(f"UpdateItem of the pauses on {table!r} failed: {exc}") from exc
    attributes: dict[str, Any] = dict(reply.get("Attributes", {}))
    scope = kwargs["ExpressionAttributeNames"]["#scope"]
    value = plain(attributes[scope]) if scope in attributes else None
    return value if isinstance(value, dict) else None


class PauseWatch:
    """A replica's view of the pauses: re-read when older than `refresh_seconds` by the
    replica's clock, otherwise answered from memory (no read per batch)."""

    def __init__(self, clients: AwsClients, table: str, *, refresh_seconds: float) -> None:
        self._clients = clients
        self.table = table
        self.refresh = timedelta(seconds=refresh_seconds)
        self._read_at: datetime | None = None
        self._pauses = PauseSet()
        self._lock = threading.Lock()
        self.reads = 0

    def current(self, now: datetime) -> PauseSet:
        with self._lock:
            fresh = self._read_at is not None and timedelta(0) <= now - self._read_at < self.refresh
            if fresh:
                return self._pauses
            self._pauses = read_pauses(self._clients, self.table)
            self._read_at = now
            self.reads += 1
            return self._pauses
