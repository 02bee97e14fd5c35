"""Write units of one write, by DynamoDB's published sizing rules. Pure: no I/O.

Sizes come from `observability.transitions.sizing` (an item is the sum of its attribute names and
values). Given the item before and after a write, as DynamoDB JSON:

- the table pays 1 unit per started KB of the larger of the two (a delete: the item
  deleted), twice that inside a transaction;
- a write whose condition failed still pays for the existing item (at least 1 unit; a
  refused put: the larger of the existing item and the one it tried to write), and
  writes no index;
- each global secondary index pays for its projected item (table keys, index keys, and
  the projected attributes present): a put when the write gives the item the index keys,
  a delete when it takes them away, a delete plus a put when it changes one, an update
  when only projected attributes change, nothing when no projected attribute changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from observability.transitions.sizing import item_size, write_units

__all__ = ["Charge", "Index", "TableShape", "charge"]

Item = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Index:
    """A global secondary index: its key attributes and what it projects."""

    name: str
    keys: tuple[str, ...]
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    include: tuple[str, ...] = ()

    def project(self, item: Item | None, table_keys: Sequence[str]) -> dict[str, Any] | None:
        """The index entry of `item`, or None when it lacks an index key (sparse index)."""
        if item is None or any(k not in item for k in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        names = {*table_keys, *self.keys}
        if self.projection == "INCLUDE":
            names.update(self.include)
        return {k: v for k, v in item.items() if k in names}

    @classmethod
    def from_description(cls, gsi: Mapping[str, Any]) -> Index:
        """From one entry of DescribeTable's GlobalSecondaryIndexes."""
        projection = gsi.get("Projection", {})
        return cls(
            name=str(gsi["IndexName"]),
            keys=tuple(str(k["AttributeName"]) for k in gsi["KeySchema"]),
            projection=str(projection.get("ProjectionType", "ALL")),
            include=tuple(str(a) for a in projection.get("NonKeyAttributes", ())),
        )


@dataclass(frozen=True, slots=True)
class TableShape:
    """What a write's cost depends on besides the items: the keys and the indexes."""

    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    @classmethod
    def from_description(cls, table: Mapping[str, Any]) -> TableShape:
        """From DescribeTable's `Table`."""
        return cls(
            keys=tuple(str(k["AttributeName"]) for k in table["KeySchema"]),
            indexes=tuple(
                Index.from_description(g) for g in table.get("GlobalSecondaryIndexes", ())
            ),
        )


@dataclass(frozen=True, slots=True)
class Charge:
    """Units one write costs: on the table, on its indexes, and how many index writes."""

    table: int
    index: int = 0
    index_writes: int = 0

    @property
    def total(self) -> int:
        return self.table + self.index


def _index_units(
    index: Index, keys: Sequence[str], before: Item | None, after: Item | None
) -> tuple[int, int]:
    old, new = index.project(before, keys), index.project(after, keys)
    if old is None and new is None:
        return 0, 0
    if old is None:
        return write_units(item_size(new or {})), 1
    if new is None:
        return write_units(item_size(old)), 1
    if any(old[k] != new[k] for k in index.keys):
        return write_units(item_size(old)) + write_units(item_size(new)), 2
    if old == new:
        return 0, 0
    return write_units(item_size(old), item_size(new)), 1


def charge(
    shape: TableShape,
    before: Item | None,
    after: Item | None,
    *,
    transactional: bool = False,
    refused: bool = False,
    attempted: Item | None = None,
) -> Charge:
    """The units of one write that left `before` as `after` (None: no item), or that was
    refused on its condition (`attempted`: the item a refused put tried to write)."""
    factor = 2 if transactional else 1
    if refused:
        sizes = [item_size(before or {}), item_size(attempted or {})]
        return Charge(table=factor * write_units(*sizes))
    table = factor * write_units(item_size(before or {}), item_size(after or {}))
    units = writes = 0
    for index in shape.indexes:
        u, w = _index_units(index, shape.keys, before, after)
        units, writes = units + u, writes + w
    return Charge(table=table, index=units, index_writes=writes)
