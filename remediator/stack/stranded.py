"""Which retry-index shards a shard count other than the table's would leave unswept.

A producer indexes a batch in shard crc32(key) % count and the sweep reads shards 0..count-1:
with two counts, the shards between them hold work one side writes and the other never reads.
"""

from __future__ import annotations

from typing import Any

from observability.models.keys import DELIMITER, DUE_INDEX, DUE_PK

__all__ = ["KINDS", "due_items", "stranded_shards"]

# The partitions of the due index, per shard (observability.models.keys).
KINDS = ("FAILED", "LIVE", "EXHAUSTED", "DEADLINE")


def stranded_shards(declared: int, configured: int) -> list[int]:
    """Shards in one count's range and not the other's: empty when they agree."""
    return list(range(min(declared, configured), max(declared, configured)))


def due_items(ddb: Any, table: str, shards: list[int]) -> int:
    """Items due in those shards now (one page per partition: a floor, enough to warn)."""
    total = 0
    for shard in shards:
        for kind in KINDS:
            reply = ddb.query(
                TableName=table,
                IndexName=DUE_INDEX,
                KeyConditionExpression=f"{DUE_PK} = :p",
                ExpressionAttributeValues={":p": {"S": f"{kind}{DELIMITER}{shard}"}},
                Select="COUNT",
            )
            total += int(reply.get("Count", 0))
    return total
