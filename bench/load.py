"""Bulk loading for the fixtures: BatchWriteItem (25 a call) and SendMessageBatch (10)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from observability.models import Item

__all__ = ["batch_write", "send_batch"]

_WRITE_BATCH = 25
_SEND_BATCH = 10


def _write_chunks(client: Any, table: str, chunks: list[list[Item]]) -> None:
    for chunk in chunks:
        pending: list[dict[str, Any]] = [{"PutRequest": {"Item": item}} for item in chunk]
        for round_ in range(10):
            reply = client.batch_write_item(RequestItems={table: pending})
            pending = reply.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                break
            time.sleep(0.05 * 2**round_)
        else:
            raise RuntimeError(f"BatchWriteItem left {len(pending)} items unprocessed")


def batch_write(client: Any, table: str, items: Sequence[Item], *, threads: int = 3) -> None:
    """Put every item, a few requests in flight so the server never waits for the client."""
    chunks = [list(items[i : i + _WRITE_BATCH]) for i in range(0, len(items), _WRITE_BATCH)]
    errors: list[BaseException] = []

    def worker(mine: list[list[Item]]) -> None:
        try:
            _write_chunks(client, table, mine)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(chunks[n::threads],)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def send_batch(sqs: Any, queue_url: str, messages: Sequence[dict[str, Any]]) -> None:
    """Send messages ({"MessageBody": ..., "MessageAttributes": ...}) ten at a time."""
    for start in range(0, len(messages), _SEND_BATCH):
        entries = [{"Id": str(n), **m} for n, m in enumerate(messages[start : start + _SEND_BATCH])]
        reply = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if reply.get("Failed"):
            raise RuntimeError(f"SendMessageBatch refused {len(reply['Failed'])} messages")
