"""What the parts of a remediation share: one replica's store, table, clock and lookups.

The orchestrator builds it once; claim, fire, record and close read it, so none of them
calls back into the orchestrator.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from observability.audit import AuditStore
from observability.audit.jobs import JobPolicies, JobPolicy
from observability.errors import ObservabilityError
from observability.models import BatchState
from observability.retry import StoredRetry
from observability.retry.backoff import RetryRule
from observability.telemetry.metrics import Metrics
from observability.transitions import TableConfig
from remediator.settings import RemediatorSettings

__all__ = ["Context", "Outcome"]

log = logging.getLogger("remediator")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one batch: `kind` is counted, `detail` is for logs and the CLI."""

    kind: str
    key: str = ""
    attempt: int = 0
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Context:
    """One replica's view of the table; `table` is replaced once the shape is agreed."""

    settings: RemediatorSettings
    store: AuditStore
    table: TableConfig
    metrics: Metrics
    clock: Callable[[], datetime]
    rng: random.Random
    sleep: Callable[[float], None]
    # Only for batches recorded without a policy: every other decision is the batch's own.
    fallback: RetryRule
    jobs: JobPolicies
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The replica's AWS identity (its STS ARN), read once when the service starts.
    identity: str | None = None

    @property
    def name(self) -> str:
        """The replica's name: the owner of its leases."""
        return self.settings.replica_id

    @property
    def actor(self) -> str:
        """Who the events this replica writes are recorded by: its AWS identity, else (not
        read: a replica built in-process, the demo) its name."""
        return self.identity or self.name

    def beside(self) -> dict[str, str]:
        """What an event's detail carries beside an `actor` that is an identity: the replica."""
        return {"replica": self.name} if self.identity else {}

    def now(self) -> datetime:
        return self.clock()

    def count(self, outcome: Outcome) -> Outcome:
        with self.lock:
            self.counts[outcome.kind] += 1
        return outcome

    def job(self, job_id: str) -> JobPolicy | None:
        try:
            return self.jobs.get(job_id)
        except ObservabilityError as exc:
            log.warning("job policy of %s not read, deciding without it: %s", job_id, exc)
            return None

    def trigger_of(self, state: BatchState) -> dict[str, Any] | None:
        """The batch's own trigger, else its job's default trigger."""
        if state.trigger:
            return state.trigger
        job = self.job(state.job_id)
        return job.trigger if job else None

    def rule_of(self, state: BatchState) -> RetryRule:
        """The rule that governs the batch's current failure (for the delay after a trigger
        that did not go out)."""
        kept = StoredRetry.from_json(state.retry)
        job = self.job(state.job_id)
        for policy in (kept.own if kept else None, job.retry if job else None, kept and kept.env):
            found = policy.find(state.rule) if policy and state.rule else None
            if found is not None:
                return found
        return self.fallback
