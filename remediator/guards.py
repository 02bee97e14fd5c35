"""Fleet safety: a retry budget shared by every replica, and a circuit breaker per job.

Both live in the audit table, so they hold across replicas and restarts: a dead downstream
is not hammered by N replicas each keeping its own count.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from observability.errors import StoreUnavailable
from observability.models import iso
from observability.models.keys import budget_key

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["CircuitBreaker", "RetryBudget"]


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class _Item:
    """Conditional updates of one small item; ClientErrors become StoreUnavailable."""

    def __init__(self, clients: AwsClients, table: str) -> None:
        self._clients = clients
        self.table = table

    def update(self, key: tuple[str, str], **kwargs: Any) -> dict[str, Any] | None:
        """The new attributes, or None when the condition failed."""
        try:
            reply = self._clients.client("dynamodb").update_item(
                TableName=self.table,
                Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}},
                ReturnValues="ALL_NEW",
                **kwargs,
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise StoreUnavailable(f"UpdateItem on {self.table!r} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"UpdateItem on {self.table!r} failed: {exc}") from exc
        return dict(reply.get("Attributes", {}))

    def get(self, key: tuple[str, str]) -> dict[str, Any]:
        try:
            reply = self._clients.client("dynamodb").get_item(
                TableName=self.table, Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}}
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable(f"GetItem on {self.table!r} failed: {exc}") from exc
        return dict(reply.get("Item", {}))


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
        self._item = _Item(clients, table)
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


class CircuitBreaker:
    """`failures` distinct failures within `window_seconds` pause a scope's retries.

    A scope is a job (its re-runs failed) or a trigger target (it refused or failed to take
    re-triggers): a broken target pauses what goes to it, not the healthy batches of the
    same job that use another. Each failure is counted once by its key (`batch#attempt`):
    the keys go into a string set, and adding one twice (SQS delivers at least once) is a
    no-op. Opening is a conditional write, so exactly one replica wins it and sends the
    one alert. Whether a scope is paused is cached for a few seconds per replica.
    """

    def __init__(
        self,
        clients: AwsClients,
        table: str,
        *,
        failures: int,
        window_seconds: float,
        pause_seconds: float,
        cache_seconds: float = 5.0,
        ttl_days: int = 7,
    ) -> None:
        self._item = _Item(clients, table)
        self.failures = failures
        self.window = timedelta(seconds=window_seconds)
        self.pause = timedelta(seconds=pause_seconds)
        self._cache_seconds = cache_seconds
        self._ttl = timedelta(days=ttl_days)
        self._cache: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.failures > 0

    def record_failure(self, scope: tuple[str, str], key: str, now: datetime) -> str | None:
        """Count one failure (once per `key`); returns the pause's end when this call opened
        the scope's circuit."""
        if not self.enabled:
            return None
        names = {"#seen": "seen", "#window_start": "window_start", "#exp": "expires_at"}
        expires = {"N": str(int((now + self._ttl).timestamp()))}
        cutoff = {"S": iso(now - self.window)}
        counted = self._item.update(
            scope,
            UpdateExpression="ADD #seen :key SET #exp = :exp",
            ConditionExpression="#window_start > :cutoff",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":key": {"SS": [key]}, ":cutoff": cutoff, ":exp": expires},
        )
        if counted is None:  # no window yet, or it ended: start a new one with this failure
            counted = self._item.update(
                scope,
                UpdateExpression="SET #seen = :key, #window_start = :now, #exp = :exp",
                ConditionExpression=(
                    "attribute_not_exists(#window_start) OR #window_start <= :cutoff"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":key": {"SS": [key]},
                    ":now": {"S": iso(now)},
                    ":cutoff": cutoff,
                    ":exp": expires,
                },
            )
            if counted is None:  # another replica just started the window: count in it
                return self.record_failure(scope, key, now)
        if len(counted.get("seen", {}).get("SS", [])) < self.failures:
            return None
        until = iso(now + self.pause)
        opened = self._item.update(
            scope,
            UpdateExpression="SET #open_until = :until, #window_start = :now REMOVE #seen",
            ConditionExpression="attribute_not_exists(#open_until) OR #open_until <= :now",
            ExpressionAttributeNames={
                "#open_until": "open_until",
                "#seen": "seen",
                "#window_start": "window_start",
            },
            ExpressionAttributeValues={":until": {"S": until}, ":now": {"S": iso(now)}},
        )
        if opened is None:
            return None
        with self._lock:
            self._cache[scope] = (time.monotonic(), until)
        return until

    def paused_until(self, scope: tuple[str, str], now: datetime) -> str | None:
        """When the scope's retries resume, if they are paused now."""
        if not self.enabled:
            return None
        with self._lock:
            cached = self._cache.get(scope)
        if cached is None or time.monotonic() - cached[0] > self._cache_seconds:
            item = self._item.get(scope)
            until = item.get("open_until", {}).get("S")
            cached = (time.monotonic(), until)
            with self._lock:
                self._cache[scope] = cached
        until = cached[1]
        return until if until and until > iso(now) else None
