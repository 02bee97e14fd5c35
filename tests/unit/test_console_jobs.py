"""The console's jobs page: each job's week of outcomes, and the order it lists jobs in.
Pure: no AWS."""

from __future__ import annotations

from datetime import UTC, datetime

from observability.models import BatchState, Status
from remediator.console.reads import SPARK_DAYS, JobRow, day_outcomes, worst_first
from remediator.guards.pauses import Pause
from remediator.ops.jobs import ATTENTION, JobHealth

NOW = datetime(2024, 7, 10, 12, tzinfo=UTC)


def state(batch: str, status: Status, updated_at: str) -> BatchState:
    return BatchState("job", batch, status, attempt=1, version=2, updated_at=updated_at)


def test_a_week_of_outcomes_counts_successes_and_failures_by_the_day_of_their_last_update():
    states = [
        state("a", Status.SUCCESS, "2024-07-10T01:00:00.000000Z"),
        state("b", Status.SUCCESS, "2024-07-10T11:00:00.000000Z"),
        state("c", Status.EXHAUSTED, "2024-07-10T02:00:00.000000Z"),
        state("d", Status.FAILED, "2024-07-04T23:59:59.000000Z"),  # the oldest day shown
        state("e", Status.SUCCESS, "2024-07-03T12:00:00.000000Z"),  # eight days ago: not shown
        state("f", Status.STARTED, "2024-07-09T12:00:00.000000Z"),  # running: neither
    ]
    week = day_outcomes(states, NOW)
    assert len(week) == SPARK_DAYS
    assert week[0] == ("2024-07-04", 0, 1)
    assert week[-1] == ("2024-07-10", 2, 1)
    assert sum(ok + bad for _, ok, bad in week) == 4


def health(job: str, *, paused: bool = False, **counts: int) -> JobHealth:
    held = Pause(scope="JOB", name=job, reason="r", actor="a", at="t") if paused else None
    return JobHealth(job, counts={**dict.fromkeys(ATTENTION, 0), **counts}, paused=held)


def test_jobs_are_listed_worst_first_exhausted_then_failing_then_stale_then_paused():
    rows = [
        JobRow(health("calm"), []),
        JobRow(health("paused", paused=True), []),
        JobRow(health("stale", stale=3), []),
        JobRow(health("failing", failing=1), []),
        JobRow(health("exhausted-b", exhausted=1), []),
        JobRow(health("exhausted-a", exhausted=1), []),
        JobRow(health("worse", exhausted=2), []),
    ]
    order = [r.health.job_id for r in worst_first(rows)]
    assert order == [
        "worse", "exhausted-a", "exhausted-b", "failing", "stale", "paused", "calm",
    ]  # fmt: skip
