"""Write units of the requests a client really sends, read off the table around each write.

`WriteMeter.attach(client, who)` hooks botocore's events on a client the code under test
uses: `before-parameter-build` sees each DynamoDB write's parameters as the code built
them and reads every item it touches; `after-call` (which botocore emits for errors too,
before raising) reads them again and charges the write by `bench.units`. The reads go
through the meter's own client, which has no hooks: they are neither counted nor charged.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.hooks import item_kind
from bench.units import Charge, TableShape, charge
from observability.transitions.sizing import attribute_size, item_size, value_size

__all__ = ["WriteMeter", "Written"]

_CONDITION_FAILED = "ConditionalCheckFailedException"
_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")


@dataclass(frozen=True, slots=True)
class _Touch:
    table: str
    key: dict[str, Any]
    before: dict[str, Any] | None
    attempted: dict[str, Any] | None  # the item a put writes


@dataclass(frozen=True, slots=True)
class Written:
    """One item written by one request, and what it cost."""

    phase: str
    who: str
    operation: str
    kind: str  # batch (STATE#), archive (ARCHIVE#), shared (budget, breaker), record
    refused: bool
    cost: Charge
    size_before: int
    size_after: int
    # Bytes by attribute of the item the write left (or tried to write): where they go.
    attributes: dict[str, int] = field(default_factory=dict)
    # The item's status after the write (a batch's), which names the transition.
    status: str = ""
    # Bytes of each event in the item's history list, by event name, oldest first.
    events: tuple[tuple[str, int], ...] = ()

    @property
    def label(self) -> str:
        refused = " refused" if self.refused else ""
        return f"{self.who} {self.operation} {self.kind}{refused}"


def _by_attribute(item: dict[str, Any] | None) -> dict[str, int]:
    return {name: attribute_size(name, value) for name, value in (item or {}).items()}


def _status(item: dict[str, Any] | None) -> str:
    value = (item or {}).get("status", {})
    return str(value.get("S", "")) if isinstance(value, dict) else ""


def _events(item: dict[str, Any] | None) -> tuple[tuple[str, int], ...]:
    listed = (item or {}).get("events", {}).get("L", [])
    return tuple(
        (str(e.get("M", {}).get("event", {}).get("S", "?")), 1 + value_size(e)) for e in listed
    )


@dataclass
class WriteMeter:
    """Charges every DynamoDB write of the clients it is attached to; `phase` tags them."""

    reader: Any  # a DynamoDB client of its own, never attached
    phase: str = ""
    records: list[Written] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    _shapes: dict[str, TableShape] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _attached: set[int] = field(default_factory=set)

    def attach(self, client: Any, who: str) -> Any:
        """Meter `client`'s writes as `who`'s (once per client: the first name wins)."""
        if id(client) in self._attached:
            return client
        self._attached.add(id(client))
        events = client.meta.events
        for op in _WRITES:
            events.register(f"before-parameter-build.dynamodb.{op}", self._before)
            events.register(f"after-call.dynamodb.{op}", self._after(who, op))
        return client

    def shape(self, table: str) -> TableShape:
        if table not in self._shapes:
            described = self.reader.describe_table(TableName=table)["Table"]
            self._shapes[table] = TableShape.from_description(described)
        return self._shapes[table]

    def _read(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        reply = self.reader.get_item(TableName=table, Key=key, ConsistentRead=True)
        item = reply.get("Item")
        return dict(item) if item else None

    def _targets(self, model: Any, params: dict[str, Any]) -> Iterable[tuple[str, Any, Any]]:
        """(table, key or item, the item a put writes) of every item the request touches."""
        if model.name == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                for action, body in entry.items():
                    if action == "Put":
                        yield body["TableName"], body["Item"], body["Item"]
                    elif action in ("Update", "Delete"):
                        yield body["TableName"], body["Key"], None
            return
        if model.name == "PutItem":
            yield params["TableName"], params["Item"], params["Item"]
        else:
            yield params["TableName"], params["Key"], None

    def _before(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        touches = []
        for table, item, attempted in self._targets(model, params):
            keys = self.shape(table).keys
            key = {k: item[k] for k in keys}
            touches.append(_Touch(table, key, self._read(table, key), attempted))
        context["bench_meter"] = touches

    def _after(self, who: str, op: str) -> Any:
        def after(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            touches: list[_Touch] = context.pop("bench_meter", [])
            code = parsed.get("Error", {}).get("Code")
            if code and code != _CONDITION_FAILED:
                with self._lock:
                    self.errors[f"{op} {code}"] += 1
                return
            refused = code == _CONDITION_FAILED
            transactional = op == "TransactWriteItems"
            for touch in touches:
                after_item = None if refused else self._read(touch.table, touch.key)
                cost = charge(
                    self.shape(touch.table),
                    touch.before,
                    after_item,
                    transactional=transactional,
                    refused=refused,
                    attempted=touch.attempted,
                )
                written = Written(
                    phase=self.phase,
                    who=who,
                    operation=op,
                    kind=item_kind({"Key": touch.key}) or "record",
                    refused=refused,
                    cost=cost,
                    size_before=item_size(touch.before or {}),
                    size_after=item_size(after_item or touch.before or {}),
                    attributes=_by_attribute(after_item or touch.attempted or touch.before),
                    status=_status(after_item or touch.attempted or touch.before),
                    events=_events(after_item or touch.attempted or touch.before),
                )
                with self._lock:
                    self.records.append(written)

        return after

    def of(self, phase: str) -> list[Written]:
        with self._lock:
            return [w for w in self.records if w.phase == phase]
