"""The table's own shape: what every process must agree on, declared once at bootstrap.

The shard count of the retry index decides in which partitions a batch is indexed; a
producer and a remediator that disagree lose work in silence (the remediator never sweeps
the other shards). So the count is written into the table (`remediator bootstrap`, or
Terraform's META item) and every process reads it once and uses it. REMEDIATOR_RETRY_SHARDS
chooses it at bootstrap only; set in a process, it must match, or the process refuses to
start, naming both values. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from observability.errors import ConfigError
from observability.models.keys import LAYOUT_VERSION

if TYPE_CHECKING:
    from observability.settings import Settings

__all__ = ["TableShape", "agreed_shards"]


@dataclass(frozen=True, slots=True)
class TableShape:
    layout: int
    shards: int

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> TableShape:
        return cls(layout=int(item["layout"]["N"]), shards=int(item["shards"]["N"]))


def agreed_shards(shape: TableShape | None, settings: Settings) -> int:
    """The shard count this process must use, or ConfigError saying why it cannot start."""
    table, configured = settings.table_name, settings.retry_shards
    explicit = "retry_shards" in settings.model_fields_set
    if shape is None:
        # A table without its record (made by hand, or before the record existed): the
        # configured count, as before; `remediator doctor` says to bootstrap it.
        return configured
    if shape.layout != LAYOUT_VERSION:
        raise ConfigError(
            f"table {table!r} declares layout {shape.layout}; this version reads and writes "
            f"layout {LAYOUT_VERSION}: use a table bootstrapped by this version"
        )
    if explicit and configured != shape.shards:
        raise ConfigError(
            f"REMEDIATOR_RETRY_SHARDS is {configured} here but table {table!r} was "
            f"bootstrapped with {shape.shards}: unset it (the table's count is used) or "
            "set it to the table's"
        )
    return shape.shards
