"""`Batch` (what `trail.batch(...)` returns: a context manager and a decorator) and `BatchRun`
(one run of one batch, handed out by `with trail.batch(...) as run`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar

from observability.errors import ObservabilityError, RunSuperseded
from observability.logger import bind
from observability.models.keys import BatchKey
from observability.models.records import BatchState
from observability.retry.rules import RetryPolicy
from observability.settings import Settings
from observability.telemetry.runtrace import RunTrace
from observability.trail import shapes
from observability.triggers import Trigger

if TYPE_CHECKING:
    from opentelemetry.context import Context

__all__ = ["Batch", "BatchRun", "RunOwner"]

log = logging.getLogger("observability")

P = ParamSpec("P")
R = TypeVar("R")


class RunOwner(Protocol):
    """What a batch needs of the trail that writes its runs (`trail.run.RunWrites`): named
    here so this module does not import the one that imports it."""

    settings: Settings
    actor: str

    def now(self) -> datetime: ...
    def _recall(self, key: BatchKey) -> BatchState | None: ...
    def _start(
        self,
        key: BatchKey,
        trigger: Trigger | None,
        retry: RetryPolicy | None = None,
        *,
        trace_id: str | None = None,
    ) -> BatchRun: ...
    def _beat(self, run: BatchRun) -> None: ...
    def _finish(self, run: BatchRun, exc: BaseException | None) -> None: ...
    def _heartbeat(self, state: BatchState, now: datetime) -> BatchState: ...


class BatchRun:
    """One run of one batch, handed out by `with trail.batch(...) as run`."""

    def __init__(self, trail: RunOwner, state: BatchState) -> None:
        self._trail = trail
        self.state = state
        self._last_beat = trail.now()
        # The automatic heartbeat (another thread) and this run's owner share `state`.
        self._guard = threading.Lock()
        self._ended = False
        self._stop_beats: Callable[[], None] | None = None
        self.read_back = False  # the outcome's reply was lost; the item was read back

    job_id = property(lambda self: self.state.job_id)
    batch_id = property(lambda self: self.state.batch_id)
    attempt = property(lambda self: self.state.attempt)
    trace_id = property(lambda self: self.state.trace_id)
    run_id = property(lambda self: self.state.run_id)

    def heartbeat(self, *, force: bool = False) -> bool:
        """Tell the remediator this run is alive; returns True when a write was made.

        Cheap to call in a loop: at most one write per quarter of the stale window (and at
        most one a minute) unless `force`. Raises RunSuperseded when the run lost its batch;
        after the batch ended there is nothing to keep alive: False, no write.
        """
        with self._guard:
            if self._ended:
                return False
            now = self._trail.now()
            interval = min(self._trail.settings.stale_after_seconds / 4, 60.0)
            if not force and (now - self._last_beat).total_seconds() < interval:
                return False
            self.state = self._trail._heartbeat(self.state, now)
            self._last_beat = now
            return True

    def _beat_alone(self) -> bool:
        """The automatic heartbeat's beat; False once the run needs no more."""
        try:
            self.heartbeat(force=True)
        except RunSuperseded as lost:
            log.warning("%s", lost)
            return False
        except ObservabilityError as exc:  # the next beat may get through
            log.warning("heartbeat of %s/%s not written: %s", self.job_id, self.batch_id, exc)
        return not self._ended

    def _end(self) -> None:
        """No beat after this (one in flight is waited for): the outcome is written next."""
        with self._guard:
            self._ended = True
        if self._stop_beats is not None:
            self._stop_beats()


class Batch:
    """`with trail.batch(job, batch) as run:` or `@trail.batch(job, batch)`."""

    def __init__(
        self,
        trail: RunOwner,
        key: BatchKey,
        trigger: Trigger | None,
        retry: RetryPolicy | None = None,
        parent: Context | None = None,
    ) -> None:
        self._trail = trail
        self.key = key
        self.trigger = trigger
        self.retry = retry
        self.parent = parent
        self._stack: list[tuple[BatchRun, ExitStack, RunTrace]] = []

    def __enter__(self) -> BatchRun:
        traced = RunTrace.begin(self.key, self.parent, self._trail._recall, self._trail.actor)
        try:
            run = self._trail._start(self.key, self.trigger, self.retry, trace_id=traced.trace_id)
        except BaseException as exc:
            traced.abort(exc)
            raise
        return self._entered(run, traced)

    async def __aenter__(self) -> BatchRun:
        import asyncio  # loaded by the caller's event loop; a sync pipeline never pays for it

        traced = RunTrace.begin(self.key, self.parent, self._trail._recall, self._trail.actor)
        try:  # writes in a worker thread (with this context): the event loop runs on
            run = await asyncio.to_thread(
                self._trail._start, self.key, self.trigger, self.retry, trace_id=traced.trace_id
            )
        except BaseException as exc:
            traced.abort(exc)
            raise
        return self._entered(run, traced)

    def _entered(self, run: BatchRun, traced: RunTrace) -> BatchRun:
        traced.started(run.state)
        context = ExitStack()
        context.enter_context(
            bind(
                job_id=run.job_id,
                batch_id=run.batch_id,
                attempt=run.attempt,
                trace_id=run.trace_id,
            )
        )
        self._stack.append((run, context, traced))
        self._trail._beat(run)
        return run

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        run, context, traced = self._stack.pop()
        run._end()
        with context, traced.finishing(run, exc):
            self._trail._finish(run, exc)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import asyncio

        run, context, traced = self._stack.pop()
        run._end()
        with context, traced.finishing(run, exc):
            await asyncio.to_thread(self._trail._finish, run, exc)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """A fresh batch per call, over the whole of the work: awaited for a coroutine
        function, iterated for a generator function (see observability.trail.shapes)."""

        def fresh() -> Batch:
            return Batch(self._trail, self.key, self.trigger, self.retry, self.parent)

        return shapes.wrap(fn, fresh, fresh)
