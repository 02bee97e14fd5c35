"""The automatic heartbeat: one daemon thread per process beats every running batch.

A batch is added when its STARTED is written and its first beat is due one interval later,
so a batch shorter than the interval costs no write at all. A beat is a callable that
returns False once its batch needs no more (ended, or lost to another run). The thread is
started on first use, never at import, and started again in a forked child, which inherits
none of its parent's threads (nor the parent's batches: those are the parent's to beat).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

from observability import forksafe

__all__ = ["Pulse", "pulse"]

log = logging.getLogger("observability")


class _Entry:
    __slots__ = ("beat", "interval", "stopped")

    def __init__(self, beat: Callable[[], bool], interval: float) -> None:
        self.beat = beat
        self.interval = interval
        self.stopped = False


class Pulse:
    """A scheduler of periodic beats on one daemon thread."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._fresh()
        forksafe.after_fork(self._fresh)

    def _fresh(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._due: list[tuple[float, int, _Entry]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, beat: Callable[[], bool], interval: float) -> Callable[[], None]:
        """Beat every `interval` seconds from now on; returns the function that stops it."""
        entry = _Entry(beat, interval)
        with self._cond:
            heapq.heappush(self._due, (self._monotonic() + interval, next(self._order), entry))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="observability-heartbeat", daemon=True
                )
                self._thread.start()
            elif self._due[0][2] is entry:
                self._cond.notify()

        def stop() -> None:
            entry.stopped = True

        return stop

    def pending(self) -> int:
        """Batches still scheduled (stopped ones leave at their next due time)."""
        with self._cond:
            return sum(1 for _, _, e in self._due if not e.stopped)

    def _next(self) -> _Entry:
        with self._cond:
            while True:
                if not self._due:
                    self._cond.wait()
                    continue
                at, _, entry = self._due[0]
                if entry.stopped:
                    heapq.heappop(self._due)
                    continue
                wait = at - self._monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._due)
                return entry

    def _loop(self) -> None:
        while True:
            entry = self._next()
            try:
                again = entry.beat()
            except Exception:  # a beat must never end the thread that beats every batch
                log.exception("automatic heartbeat failed")
                again = True
            if again and not entry.stopped:
                with self._cond:
                    at = self._monotonic() + entry.interval
                    heapq.heappush(self._due, (at, next(self._order), entry))


_pulse: Pulse | None = None
_pulse_lock = threading.Lock()


def pulse() -> Pulse:
    """The process's scheduler, built on first use."""
    global _pulse
    if _pulse is None:
        with _pulse_lock:
            if _pulse is None:
                _pulse = Pulse()
    return _pulse
