"""Items DynamoDB read for the requests that pass, counted at the endpoint (a proxy)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from tests.proxy import FaultProxy, Request

__all__ = ["ReadCountingProxy", "items_read"]


def items_read(operation: str, reply: dict[str, Any]) -> int:
    """What one reply says the table read: Query/Scan their ScannedCount, GetItem its item,
    BatchGetItem every item it returns."""
    if operation in ("Query", "Scan"):
        return int(reply.get("ScannedCount", 0))
    if operation == "GetItem":
        return 1 if reply.get("Item") else 0
    if operation == "BatchGetItem":
        return sum(len(v) for v in reply.get("Responses", {}).values())
    return 0


class ReadCountingProxy(FaultProxy):
    """The fault proxy, also counting the items each DynamoDB reply read, by operation."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.read: Counter[str] = Counter()
        self._read_lock = threading.Lock()

    def _forward(self, upstream: Any, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        status, headers, body = super()._forward(upstream, request)
        if request.target.startswith("DynamoDB_") and status == 200:
            n = items_read(request.operation, json.loads(body or b"{}"))
            with self._read_lock:
                self.read[request.operation] += n
        return status, headers, body
