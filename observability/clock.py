"""The clock a process writes with: its own, corrected by its measured offset from AWS's.

Every time written decides something: a heartbeat that looks 10 minutes old gets a live run
declared stale; a retry stamped 10 minutes ahead waits as much. Each process measures its
offset from the `Date` header of the AWS responses it already gets (no extra call) and,
past `threshold_seconds` (the header has one-second resolution), adds it to the times it
writes, once warned about, with a metric.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

__all__ = ["SkewClock"]

log = logging.getLogger("observability")


class SkewClock:
    """`clock()` plus the offset measured from AWS's `Date` headers, once it matters."""

    def __init__(
        self,
        base: Callable[[], datetime] | None = None,
        *,
        threshold_seconds: float = 2.0,
        on_skew: Callable[[float], None] | None = None,
    ) -> None:
        self._base = base or (lambda: datetime.now(UTC))
        self.threshold = threshold_seconds
        self._on_skew = on_skew
        self._offset = 0.0
        self._warned = False
        self._lock = threading.Lock()
        # The header changes once a second: each value is parsed once.
        self._last: tuple[str, datetime] | None = None

    @classmethod
    def unless_given(
        cls,
        clock: Callable[[], datetime] | None,
        listen: Callable[[Callable[[str | None], None]], None],
        on_skew: Callable[[float], None],
    ) -> Callable[[], datetime]:
        """`clock` if one is given, else a SkewClock; a SkewClock (given or not) is handed
        every `Date` header by `listen` (`AwsClients.listen_dates`)."""
        chosen = clock or cls(on_skew=on_skew)
        if isinstance(chosen, SkewClock):
            listen(chosen.observe)
        return chosen

    @property
    def offset_seconds(self) -> float:
        return self._offset

    def __call__(self) -> datetime:
        offset = self._offset
        return self._base() + timedelta(seconds=offset) if offset else self._base()

    def observe(self, date_header: str | None) -> None:
        """One response's `Date`: the endpoint's time when it answered."""
        if not date_header:
            return
        last = self._last
        if last is not None and last[0] == date_header:
            server = last[1]
        else:
            try:
                server = parsedate_to_datetime(date_header)
            except (TypeError, ValueError):
                return
            if server.tzinfo is None:
                return
            self._last = (date_header, server)
        # The header is truncated to the second: the endpoint's time is in [server, +1 s).
        measured = (server + timedelta(seconds=0.5) - self._base()).total_seconds()
        with self._lock:
            if abs(measured) < self.threshold:
                self._offset = 0.0
                return
            self._offset = measured
            first = not self._warned
            self._warned = True
        if first:
            log.warning(
                "this host's clock is %.0f s %s AWS's: the times written are corrected by it",
                abs(measured),
                "behind" if measured > 0 else "ahead of",
            )
            if self._on_skew is not None:
                self._on_skew(measured)
