"""The bench's write-unit model (bench/units.py): DynamoDB's published sizing rules."""

from __future__ import annotations

from typing import Any

from bench.units import Charge, Index, TableShape, charge
from observability.models.keys import DUE_INDEX, DUE_INDEX_PROJECTION
from remediator.stack.provision import table_definition

KB = 1024
# The project's own table: keys pk/sk, the sparse due-index projecting DUE_INDEX_PROJECTION.
SHAPE = TableShape.from_description(table_definition("t"))


def s(text: str) -> dict[str, str]:
    return {"S": text}


def item(**attrs: Any) -> dict[str, Any]:
    base = {"pk": s("JOB#j"), "sk": s("STATE#b")}
    return {**base, **{k: v if isinstance(v, dict) else s(v) for k, v in attrs.items()}}


def pad(total: int, **attrs: Any) -> dict[str, Any]:
    """An item of exactly `total` bytes: the attributes given plus a padding string."""
    small = item(**attrs)
    used = sum(len(k) + len(v["S"]) for k, v in small.items())
    return {**small, "pad": s("x" * (total - used - len("pad")))}


def test_the_projects_table_is_read_from_its_definition() -> None:
    (index,) = SHAPE.indexes
    assert SHAPE.keys == ("pk", "sk")
    assert index.name == DUE_INDEX
    assert index.keys == ("due_pk", "due_at")
    assert index.projection == "INCLUDE"
    assert index.include == DUE_INDEX_PROJECTION


def test_a_new_item_without_index_keys_costs_one_unit_per_started_kb() -> None:
    assert charge(SHAPE, None, pad(KB)) == Charge(table=1)
    assert charge(SHAPE, None, pad(KB + 1)) == Charge(table=2)


def test_an_update_pays_for_the_larger_of_the_item_before_and_after() -> None:
    assert charge(SHAPE, pad(3 * KB), pad(100)).table == 3
    assert charge(SHAPE, pad(100), pad(2 * KB + 5)).table == 3


def test_a_put_that_gives_the_item_index_keys_is_one_index_put() -> None:
    got = charge(SHAPE, None, item(due_pk="LIVE#1", due_at="2026", status="STARTED"))
    assert got == Charge(table=1, index=1, index_writes=1)


def test_removing_the_index_keys_is_one_index_delete() -> None:
    before = item(due_pk="LIVE#1", due_at="2026", status="STARTED")
    assert charge(SHAPE, before, item(status="SUCCESS")) == Charge(1, 1, 1)


def test_changing_an_index_key_is_a_delete_plus_a_put() -> None:
    before = item(due_pk="LIVE#1", due_at="2026-01", status="STARTED")
    moved_partition = item(due_pk="FAILED#1", due_at="2026-01", status="FAILED")
    moved_sort_key = item(due_pk="LIVE#1", due_at="2026-02", status="STARTED")
    assert charge(SHAPE, before, moved_partition) == Charge(1, 2, 2)
    assert charge(SHAPE, before, moved_sort_key) == Charge(1, 2, 2)


def test_an_index_is_written_only_when_a_projected_attribute_changes() -> None:
    before = item(due_pk="LIVE#1", due_at="2026", status="STARTED", run_id="r1")
    projected = item(due_pk="LIVE#1", due_at="2026", status="RETRYING", run_id="r1")
    not_projected = item(due_pk="LIVE#1", due_at="2026", status="STARTED", run_id="r2")
    assert "status" in DUE_INDEX_PROJECTION
    assert "run_id" not in DUE_INDEX_PROJECTION
    assert charge(SHAPE, before, projected) == Charge(1, 1, 1)
    assert charge(SHAPE, before, not_projected) == Charge(1, 0, 0)


def test_an_index_write_is_sized_by_the_projected_item_only() -> None:
    """A 3 KB history outside the projection leaves the index write at one unit."""
    big = {**item(due_pk="FAILED#1", due_at="2026"), "events": s("e" * (3 * KB))}
    assert charge(SHAPE, None, big) == Charge(table=4, index=1, index_writes=1)
    keys_only = TableShape(("pk", "sk"), (Index("i", ("due_pk", "due_at"), "KEYS_ONLY"),))
    everything = TableShape(("pk", "sk"), (Index("i", ("due_pk", "due_at"), "ALL"),))
    assert charge(keys_only, None, big).index == 1
    assert charge(everything, None, big).index == 4


def test_a_refused_write_pays_for_the_existing_item_and_writes_no_index() -> None:
    existing = pad(1500, due_pk="LIVE#1", due_at="2026")
    assert charge(SHAPE, existing, None, refused=True) == Charge(table=2)
    assert charge(SHAPE, None, None, refused=True) == Charge(table=1)
    # A refused put: the larger of the item there and the one it tried to write.
    assert charge(SHAPE, pad(100), None, refused=True, attempted=pad(2 * KB + 1)).table == 3


def test_a_delete_pays_for_the_item_it_deletes() -> None:
    assert charge(SHAPE, pad(KB + 1, due_pk="X#1", due_at="t"), None) == Charge(2, 1, 1)


def test_a_transaction_costs_twice_on_the_table() -> None:
    assert charge(SHAPE, None, pad(KB + 1), transactional=True) == Charge(table=4)
