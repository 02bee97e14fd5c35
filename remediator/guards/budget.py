"""A retry budget shared by every replica: re-triggers per calendar minute, fleet-wide.

It lives in the audit table, so it holds across replicas and restarts: a dead downstream
is not hammered by N replicas each keeping its own count.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from observability.models.keys import budget_key
from remediator.guards.item import Item

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["RetryBudget"]


class RetryBudget:
    """At most `per_minute` re-triggers per calendar minute across the whole fleet.

    One atomic counter per minute (ADD under a condition); 0 means unlimited, no call made.
    A replica reserves a small block of the minute's budget at a time and spends it
    locally, so most re-triggers make no call here and the counter is no hot key; at most
    one block per replica goes unspent when the minute ends.
    """

    def __init__(
        self, clients: AwsClients, table: str, per_minute: int, block: int | None = None
    ) -> None:
        self._item = Item(clients, table)
        self.per_minute = per_minute
        # A sixtieth of the budget (a second's worth), between 1 and 10.
        self.block = block or max(1, min(10, per_minute // 60))
        self._window = ""
        self._left = 0
        self._lock = threading.Lock()

    def _reserve(self, window: str, count: int, now: datetime) -> bool:
        reply = self._item.update(
            budget_key(window),
            UpdateExpression="ADD #used :count SET #expires_at = :expires",
            ConditionExpression="attribute_not_exists(#used) OR #used <= :most",
            ExpressionAttributeNames={"#used": "used", "#expires_at": "expires_at"},
            ExpressionAttributeValues={
                ":count": {"N": str(count)},
                ":most": {"N": str(self.per_minute - count)},
                ":expires": {"N": str(int((now + timedelta(days=1)).timestamp()))},
            },
        )
        return reply is not None

    def left(self, now: datetime) -> int | None:
        """Re-triggers the fleet has left this minute (one read); None when unlimited."""
        if self.per_minute <= 0:
            return None
        item = self._item.get(budget_key(now.strftime("%Y-%m-%dT%H:%M")))
        used = int(item.get("used", {}).get("N", "0"))
        return max(0, self.per_minute - used)

    def take(self, now: datetime) -> bool:
        if self.per_minute <= 0:
            return True
        window = now.strftime("%Y-%m-%dT%H:%M")
        with self._lock:
            if self._window != window:
                self._window, self._left = window, 0
            if self._left > 0:
                self._left -= 1
                return True
        # The last few tokens of a minute go one at a time, so no block is refused whole.
        for count in dict.fromkeys((self.block, 1)):
            if self._reserve(window, count, now):
                with self._lock:
                    if self._window == window:
                        self._left += count - 1
                return True
        return False
