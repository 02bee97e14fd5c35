"""The service's side of the bulk operations: at every sweep, each replica advances each
active operation by one step.

A step reads the header (from the one Query that lists the operations), the items of the
entries in flight (BatchGetItem: at most the in-flight cap), classifies them (see
`model.classify`), and writes the next header on condition of the version it read: of two
replicas stepping one operation at once, one writes and the other leaves it for its next
sweep. Only the winner starts the entries its header reserved, each with the claim of any
replay (conditional on the version selected, `operation` stamped on the item): a batch is
triggered once per selection, whichever replicas die or race. An entry reserved by a
replica that died before its claim is still untouched at the next step, and is started by
whoever steps next.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from observability.models import BatchState
from remediator.bulk.items import Lost, OperationItems
from remediator.bulk.model import CHUNK_SIZE, Entry, Operation, classify, step
from remediator.ops.identity import Actor
from remediator.ops.replay import replay
from remediator.remediation import Remediator
from remediator.remediation.policy import Trigger

__all__ = ["Runner"]

log = logging.getLogger("remediator.operations")


class Runner:
    """Advances the stored operations; one per replica, called by its sweep."""

    def __init__(self, remediator: Remediator) -> None:
        self.remediator = remediator
        self.items = OperationItems(remediator.store.clients, remediator.settings.table_name)
        self._chunks: dict[tuple[str, int], list[str]] = {}  # written once: kept

    def advance(self) -> Counter[str]:
        """One step of every operation not ended; what happened, by kind."""
        seen: Counter[str] = Counter()
        now = self.remediator.now()
        for op in self.items.all(now):
            if not op.ended and not self.remediator.stopping.is_set():
                seen.update(self._step(op, now))
        return seen

    def _entry(self, op: Operation, index: int) -> Entry:
        n = index // CHUNK_SIZE
        key = (op.operation_id, n)
        if key not in self._chunks:
            self._chunks[key] = self.items.chunk(op.operation_id, n)
        return Entry.decode(self._chunks[key][index % CHUNK_SIZE])

    def _read(self, entries: Iterable[Entry], now: datetime) -> dict[tuple[str, str], BatchState]:
        by_job: dict[str, list[str]] = {}
        for e in entries:
            by_job.setdefault(e.job_id, []).append(e.batch_id)
        store = self.remediator.store
        return {
            (job, s.batch_id): s
            for job, ids in by_job.items()
            for s in store.get_many(job, list(dict.fromkeys(ids)), now).values()
        }

    def _held(self, state: BatchState | None, now: datetime) -> bool:
        if state is None:
            return False
        return self.remediator.hold.check(state, Trigger(state.attempt + 1), now) is not None

    def _skip(self, op: Operation, refused: dict[int, str], now: datetime) -> None:
        """Count entries that cannot start (no trigger anywhere) and let their slots go."""
        classes = {i: refused.get(i, "running") for i in op.inflight}
        # Lost: the next step meets them untouched again, and tries once more.
        with contextlib.suppress(Lost):
            self.items.save(op, step(op, classes, now, reserve=False).header)

    def _step(self, op: Operation, now: datetime) -> Counter[str]:
        flying = {i: self._entry(op, i) for i in op.inflight}
        states = self._read(flying.values(), now)
        classes = {}
        for index, entry in flying.items():
            state = states.get((entry.job_id, entry.batch_id))
            held = self._held(state, now)
            classes[index] = classify(entry, state, op.operation_id, paused=held)
        planned = step(op, classes, now)
        if planned.changed:
            try:
                self.items.save(op, planned.header)
            except Lost:
                return Counter({"operation_busy": 1})  # another replica stepped it
        fresh = [i for i in planned.start if i not in flying]
        entries = {i: flying.get(i) or self._entry(op, i) for i in planned.start}
        if fresh:
            states.update(self._read((entries[i] for i in fresh), now))
        seen: Counter[str] = Counter()
        refused: dict[int, str] = {}
        actor = Actor(arn=op.created_by, operator=op.operator)
        for index in planned.start:
            if self.remediator.stopping.is_set():
                break  # reserved and untouched: the next step starts it
            entry = entries[index]
            state = states.get((entry.job_id, entry.batch_id))
            verdict = classify(entry, state, op.operation_id, paused=self._held(state, now))
            if verdict != "start" or state is None:
                continue  # the next step counts it as what it is now
            outcome = replay(
                self.remediator, state, actor=actor, reason=op.reason,
                max_attempts=op.max_attempts, include_success=op.include_success,
                operation=op.operation_id,
            )  # fmt: skip
            seen[f"operation_{outcome.kind}"] += 1
            if outcome.kind in ("no_trigger", "skipped"):
                refused[index] = f"skipped:{outcome.kind}"  # untouched: never startable
        if refused:
            self._skip(planned.header, refused, now)
        if planned.header.ended and not op.ended:
            log.info("operation ended", extra={"operation": op.operation_id, **op.progress()})
        return seen
