"""The guarantee behind the signals: every shard of the due-index, read for what has come due.

Signals give speed; the sweep gives progress when a signal is lost, a replica died holding a
lease, or a run stopped without a word. What the index returns is a hint: every action on it
is a conditional write against the base table.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from observability.models.keys import failed_partitions, live_partitions
from remediator.bulk.runner import Runner
from remediator.remediation import Remediator
from remediator.service.deadlines import DeadlineWatch

__all__ = ["Sweeper"]


class Sweeper:
    """Reads only the sparse index (what needs action), never the whole table."""

    def __init__(self, remediator: Remediator, *, rng: random.Random | None = None) -> None:
        self.remediator = remediator
        self._rng = rng or random.Random(remediator.replica)
        self.operations = Runner(remediator)  # the stored bulk replays
        self.deadlines = DeadlineWatch(remediator)  # expected batches at their deadlines

    def partitions(self) -> list[str]:
        # Stale runs first: marking them FAILED makes them due in the same sweep. Each replica
        # walks shards in its own order so that replicas rarely race for the same batch.
        shards = self.remediator.table.shards  # the table's, agreed at start
        live, failed = live_partitions(shards), failed_partitions(shards)
        self._rng.shuffle(live)
        self._rng.shuffle(failed)
        return live + failed

    def sweep(self, progress: Callable[[], None] = lambda: None) -> Counter[str]:
        """One pass over every shard; returns what happened, by outcome kind.

        `progress` is called before each shard and each batch: a long sweep is busy, not
        stuck, as long as each of those steps ends.
        """
        seen: Counter[str] = Counter()
        self.remediator.flush_unrecorded()
        store = self.remediator.store
        for partition in self.partitions():
            progress()
            for state in store.due(
                partition, until=self.remediator.now(), now=self.remediator.now()
            ):
                if self.remediator.stopping.is_set():
                    return seen
                progress()
                seen[self.remediator.remediate(state).kind] += 1
        progress()
        seen.update(self.operations.advance())
        progress()
        seen.update(self.deadlines.advance(progress))
        return seen
