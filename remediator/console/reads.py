"""What each page shows, read through `remediator.ops` (the functions the CLI's read commands
call): data in, data out, nothing rendered and nothing written.

A job's grid reads what `status` reads (one Query of the job's partition) and keeps one
page of cells; the filters (status, rule, error text, time) are applied to that read, so
the page costs what `status` costs whatever the job's size.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from observability.audit.jobs import JobPolicy
from observability.models import TERMINAL_FAILURES, AuditEvent, BatchState, Status, iso
from observability.models.keys import validate_id
from observability.retry.backoff import RetryRule
from remediator.cli.context import UsageError, parse_since
from remediator.console.backend import Backend
from remediator.console.links import aws_links
from remediator.guards.pauses import Pause
from remediator.ops import jobs as listing
from remediator.ops import operations
from remediator.ops import pause as pausing
from remediator.ops.explain import explain
from remediator.ops.history import history
from remediator.ops.holds import pause_told, read_holds
from remediator.ops.status import batches, is_stale, shown_attempt, status_counts
from remediator.views.explain import explanation
from remediator.views.render import Style
from remediator.views.waterfall import SpanLine, label, ordered

__all__ = [
    "PAGE_SIZE",
    "BatchPage",
    "GridFilter",
    "GridPage",
    "JobRow",
    "Sparklines",
    "WaterfallRow",
    "batch_page",
    "bulk_filter",
    "day_outcomes",
    "failures",
    "grid",
    "job_rows",
    "waterfall_rows",
    "worst_first",
]

PAGE_SIZE = 500  # cells per page of a grid: 10,000 batches are 20 pages, each light
SPARK_DAYS = 7
_SPARK_TTL_SECONDS = 60.0


def day_outcomes(states: Iterable[BatchState], now: datetime) -> list[tuple[str, int, int]]:
    """(day, succeeded, failed) for each of the last SPARK_DAYS days (UTC), oldest first, by
    each batch's last update; a batch still running counts in neither. Pure."""
    days = [(now - timedelta(days=n)).date().isoformat() for n in range(SPARK_DAYS - 1, -1, -1)]
    ok: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    for state in states:
        day = (state.updated_at or "")[:10]
        if state.status is Status.SUCCESS:
            ok[day] += 1
        elif state.status in TERMINAL_FAILURES:
            bad[day] += 1
    return [(d, ok[d], bad[d]) for d in days]


def worst_first(rows: Iterable[JobRow]) -> list[JobRow]:
    """Jobs ordered by exhausted, then failing, then stale batches, then paused; by id."""
    return sorted(rows, key=lambda r: (tuple(-n for n in r.worst), r.health.job_id))


class Sparklines:
    """Each job's outcomes per day over the last week, read at most once a minute (a job's
    read is a Query of its partition: the jobs page polls more often than that)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, list[tuple[str, int, int]]]] = {}
        self._lock = threading.Lock()

    def of(self, backend: Backend, job_id: str, now: datetime) -> list[tuple[str, int, int]]:
        """(day, succeeded, failed) per day, oldest first, by each batch's last update."""
        with self._lock:
            hit = self._cache.get(job_id)
        if hit and time.monotonic() - hit[0] < _SPARK_TTL_SECONDS:
            return hit[1]
        found = day_outcomes(batches(backend.store(), job_id, now), now)
        with self._lock:
            self._cache[job_id] = (time.monotonic(), found)
        return found


@dataclass(frozen=True, slots=True)
class JobRow:
    health: listing.JobHealth
    spark: list[tuple[str, int, int]]

    @property
    def worst(self) -> tuple[int, ...]:
        c = self.health.counts
        return (c["exhausted"], c["failing"], c["stale"], int(self.health.paused is not None))


def job_rows(backend: Backend, sparks: Sparklines) -> list[JobRow]:
    """Every job (`remediator jobs`), worst first, with its week's sparkline."""
    now = backend.now()
    found = listing.jobs(
        backend.clients, backend.settings.table_name, now, shards=backend.settings.retry_shards
    )
    return worst_first(JobRow(j, sparks.of(backend, j.job_id, now)) for j in found)


@dataclass(frozen=True, slots=True)
class GridFilter:
    """Which cells a grid shows (every field optional, as typed in its form)."""

    status: str = ""
    rule: str = ""
    error: str = ""
    since: str = ""

    @classmethod
    def of(cls, query: dict[str, str]) -> GridFilter:
        return cls(**{k: query.get(k, "").strip() for k in ("status", "rule", "error", "since")})

    def keeps(self, state: BatchState, since: datetime | None) -> bool:
        if self.status and state.status.value != self.status:
            return False
        if self.rule and state.rule != self.rule:
            return False
        text = f"{state.error_type or ''}: {state.error_message or ''}"
        if self.error and self.error.lower() not in text.lower():
            return False
        return not since or (state.updated_at or "") >= iso(since)

    def query(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("status", self.status),
                ("rule", self.rule),
                ("error", self.error),
                ("since", self.since),
            )
            if v
        }


@dataclass(frozen=True, slots=True)
class GridPage:
    job_id: str
    counts: dict[str, int]
    cells: list[dict[str, Any]]
    matched: int
    total: int
    page: int
    pages: int
    stale: int
    policy: JobPolicy | None
    paused: Pause | None
    rules: list[str] = field(default_factory=list)


def grid(backend: Backend, job_id: str, flt: GridFilter, page: int) -> GridPage:
    """One page of a job's cells, filtered; its counts are the whole job's."""
    now = backend.now()
    job = validate_id("job_id", job_id)
    if flt.status and flt.status not in {s.value for s in Status}:
        raise UsageError(f"status {flt.status!r}: one of {', '.join(s.value for s in Status)}")
    since = parse_since(flt.since, now) if flt.since else None
    states = batches(backend.store(), job, now)
    stale_after = backend.settings.stale_after_seconds
    chosen = [s for s in states if flt.keeps(s, since)]
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    cells = [
        {
            "batch_id": s.batch_id,
            "status": s.status.value,
            "attempt": shown_attempt(s),
            "stale": is_stale(s, now, stale_after),
            "title": f"{s.batch_id}: {s.status.value}, attempt {shown_attempt(s)}"
            + (f" - {s.error_type}: {s.error_message}" if s.error_type else ""),
        }
        for s in chosen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    ]
    held = pausing.pauses(backend.clients, backend.settings.table_name).job(job, now)
    return GridPage(
        job_id=job,
        counts=status_counts(states),
        cells=cells,
        matched=len(chosen),
        total=len(states),
        page=page,
        pages=pages,
        stale=sum(is_stale(s, now, stale_after) for s in states),
        policy=backend.store().job_policy(job) if states else None,
        paused=held,
        rules=sorted({s.rule for s in states if s.rule}),
    )


@dataclass(frozen=True, slots=True)
class WaterfallRow:
    depth: int
    label: str
    offset: str
    duration: str
    left: float  # percent of the trace's length
    width: float
    error: bool


def waterfall_rows(spans: list[SpanLine]) -> list[WaterfallRow]:
    """The demo's waterfall (`remediator.views.waterfall`), as rows for a page."""
    if not spans:
        return []
    start = min(s.start_ns for s in spans)
    total = max(max(s.end_ns for s in spans) - start, 1)
    return [
        WaterfallRow(
            depth=depth,
            label=label(s),
            offset=f"+{(s.start_ns - start) / 1e9:.3f}s",
            duration=f"{(s.end_ns - s.start_ns) / 1e6:.1f} ms",
            left=round(100 * (s.start_ns - start) / total, 2),
            width=max(round(100 * (s.end_ns - s.start_ns) / total, 2), 0.5),
            error=s.error,
        )
        for depth, s in ordered(spans)
    ]


@dataclass(frozen=True, slots=True)
class BatchPage:
    state: BatchState | None
    events: list[AuditEvent]
    trigger: dict[str, Any] | None
    trigger_from: str
    links: list[tuple[str, str]]
    waterfall: list[WaterfallRow] | None  # None: no spans recorded in this process
    paused: Pause | None
    explained: str | None = None  # what `remediator explain` prints of it


def _last_run(events: list[AuditEvent]) -> str | None:
    """What the latest trigger started (its event's `response_id`), if it says."""
    for e in reversed(events):
        if e.event.value in ("RETRY_TRIGGERED", "REPLAY_TRIGGERED"):
            found = e.detail.get("response_id")
            return str(found) if found else None
    return None


def batch_page(backend: Backend, job_id: str, batch_id: str) -> BatchPage:
    """The batch as `history` tells it, with its trigger, links and recorded trace."""
    now = backend.now()
    store = backend.store()
    events = history(store, job_id, batch_id, now)
    found = store.get_many(validate_id("job_id", job_id), [batch_id], now)
    state = found.get(batch_id)
    trigger, source = (state.trigger, "the batch's own") if state and state.trigger else (None, "")
    policy = store.job_policy(state.job_id) if state else None
    if state and trigger is None and policy and policy.trigger:
        trigger, source = policy.trigger, "the job's default"
    spans = None
    if state and state.trace_id and backend.spans is not None:
        spans = waterfall_rows(list(backend.spans(state.trace_id)))
    held = pausing.pauses(backend.clients, backend.settings.table_name)
    paused = held.holding(job_id, trigger, now) if state else None
    explained = None
    if state is not None:
        told = pause_told(paused) if paused else None
        settings = backend.settings
        holds = read_holds(backend.clients, settings, state, trigger, now, paused=told)
        fallback = RetryRule.from_settings(settings)
        said = explain(state, events, now, job=policy, fallback=fallback, holds=holds)
        explained = explanation(said, now, Style(colour=False))
    return BatchPage(
        state=state,
        events=events,
        trigger=trigger,
        trigger_from=source,
        links=aws_links(
            trigger, state.trace_id if state else None, backend.region, _last_run(events)
        ),
        waterfall=spans,
        paused=paused,
        explained=explained,
    )


def failures(backend: Backend, flt: operations.Filter) -> list[BatchState]:
    """The batches `replay --all-jobs | --job` would store an operation over."""
    return operations.select(
        backend.store(), backend.now(), flt, shards=backend.settings.retry_shards
    )


def bulk_filter(query: dict[str, str], now: datetime) -> operations.Filter:
    """The failures page's form as `replay`'s bulk filter (FAILED and EXHAUSTED only)."""
    job = query.get("job", "").strip()
    status = query.get("status", "").strip()
    if status and status not in {s.value for s in TERMINAL_FAILURES}:
        raise UsageError(f"status {status!r}: FAILED or EXHAUSTED")
    statuses = frozenset({Status(status)}) if status else TERMINAL_FAILURES
    match = query.get("error_match", "").strip()
    since = query.get("since", "").strip()
    return operations.Filter(
        (validate_id("job_id", job),) if job else None,
        statuses,
        error_type=query.get("error_type", "").strip() or None,
        error_match=match or None,
        rule=query.get("rule", "").strip() or None,
        since=parse_since(since, now) if since else None,
    )
