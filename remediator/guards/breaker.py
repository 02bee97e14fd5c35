"""Circuit breakers, per job and per trigger target, kept in the audit table.

Shared by every replica and surviving restarts, like the budget: the fleet pauses a broken
scope together.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from observability.models import iso
from remediator.guards.item import Item

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["CircuitBreaker"]


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
        self._item = Item(clients, table)
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
