"""Expected batches and deadlines on the moto server: missing batches run, late ones paged
once and resolved when they land, DST days, runs too slow, and a sweep whose reads do not
grow with the number of scheduled jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.load import batch_write
from observability import RetryPolicy, RunSuperseded, SqsTrigger, Status
from observability.clients import AwsClients
from observability.clock import SkewClock
from observability.models import from_iso, iso
from observability.models.calendar import Calendar
from observability.models.keys import breaker_key, deadline_partition, schedule_key
from observability.models.records import av_map
from observability.models.signals import DEADLINE_MET
from observability.telemetry.metrics import Metrics
from remediator.ops.identity import Actor
from remediator.ops.pause import Scope, pause, plan_pause, resume
from remediator.remediation import Remediator
from remediator.remediation.lateness import RECHECK
from remediator.service.deadlines import DeadlineWatch
from tests.conftest import Clock, drain, new_id
from tests.counting import ReadCountingProxy
from tests.integration.harness import Stack


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    clock.now = datetime(2024, 7, 15, 12, tzinfo=UTC)
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def alerts(stack: Stack, resources: Any) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in drain(stack.clients.sqs(), resources.alerts_queue_url)]


def monthly(stack: Stack, job: str, *, trigger: bool) -> None:
    if trigger:
        stack.trail.set_job_policy(
            job, trigger=SqsTrigger(queue_url=stack.work_queue, body={"job": job})
        )
    stack.trail.expect(job, every="month", format="%Y-%m", start="2024-07", deadline="+6h")


def at(stack: Stack, moment: datetime) -> None:
    stack.clock.now = moment


DUE = datetime(2024, 8, 1, 6, tzinfo=UTC)


def lags(stack: Stack) -> list[float]:
    """Every FreshnessLagSeconds the service emitted, in order."""
    lines = stack.emf.getvalue().splitlines()
    return [json.loads(line)["FreshnessLagSeconds"] for line in lines if "FreshnessLag" in line]


def test_a_month_that_never_starts_is_triggered_at_its_deadline_heals_and_pages_once(
    stack: Stack, resources: Any
):
    job = new_id()
    monthly(stack, job, trigger=True)
    stack.service.run_once()
    at(stack, DUE - timedelta(seconds=1))
    stack.service.run_once()
    assert stack.work() == []  # not before its deadline
    assert alerts(stack, resources) == []

    at(stack, DUE + timedelta(seconds=1))
    summary = stack.service.run_once()
    assert summary.outcomes.get("deadline_backfill") == 1
    triggers = stack.work()
    assert [(m["batch_id"], m["attempt"]) for m in triggers] == [("2024-07", "1")]
    assert triggers[0]["body"] == {"job": job}
    missed = alerts(stack, resources)
    assert [(a["event"], a["batch_id"]) for a in missed] == [("DEADLINE_MISSED", "2024-07")]
    assert "triggered through the job's default trigger" in missed[0]["error_message"]

    stack.rerun(triggers, job, lambda _: None)  # the worker runs it: attempt 1, SUCCESS
    state = stack.trail.get(job, "2024-07")
    assert (state.status, state.attempt) == (Status.SUCCESS, 1)
    history = [e.event.value for e in stack.trail.history(job, "2024-07")]
    assert history == ["REPLAY_TRIGGERED", "STARTED", "SUCCESS"]
    assert stack.trail.history(job, "2024-07")[0].detail["backfill"] == "true"

    for _ in range(3):
        stack.clock.advance(RECHECK.total_seconds())
        stack.service.run_once()
    after = alerts(stack, resources)
    assert [(a["event"], a["batch_id"], a["reason"]) for a in after] == [
        ("RECOVERED", "2024-07", DEADLINE_MET)
    ]
    assert stack.work() == []
    assert stack.metric_total("BatchesLate") == 1  # late once, then 0 at each later look
    assert lags(stack)[-1] == 0.0  # landed: nothing overdue


def test_without_a_default_trigger_it_pages_once_and_runs_nothing(stack: Stack, resources: Any):
    job = new_id()
    monthly(stack, job, trigger=False)
    at(stack, DUE + timedelta(minutes=1))
    for _ in range(4):
        stack.service.run_once()
        stack.clock.advance(RECHECK.total_seconds())
    assert stack.work() == []
    paged = alerts(stack, resources)
    assert [(a["event"], a["batch_id"], a["status"]) for a in paged] == [
        ("DEADLINE_MISSED", "2024-07", "MISSING")
    ]
    assert stack.trail.pending(job) == ["2024-07"]  # the calendar's due ids not done
    assert stack.trail.get(job, "2024-07") is None
    # How long the batch has been overdue, at each look: a minute at the first, then more.
    seen = lags(stack)
    assert seen[0] == 60.0
    assert len(seen) > 1
    assert seen == sorted(set(seen))  # strictly growing while it stays late


def test_a_deadline_during_a_pause_triggers_nothing_pages_once_and_runs_when_it_ends(
    stack: Stack, resources: Any
):
    job = new_id()
    monthly(stack, job, trigger=True)
    actor = Actor("arn:aws:iam::123456789012:user/ops")
    scope = Scope.of(job, None)
    held = plan_pause(scope, actor=actor, now=stack.clock.now, reason="migration")
    pause(stack.clients, stack.settings.table_name, held)
    at(stack, DUE + timedelta(minutes=1))
    for _ in range(3):
        stack.service.run_once()
        stack.clock.advance(RECHECK.total_seconds())
    assert stack.work() == []
    [missed] = alerts(stack, resources)
    assert missed["event"] == "DEADLINE_MISSED"
    assert "its backfill: paused (the job is paused" in missed["error_message"]
    resume(stack.clients, stack.settings.table_name, scope, actor=actor, now=stack.clock.now)
    stack.clock.advance(stack.settings.pause_refresh_seconds + 1)  # replicas see it end
    stack.service.run_once()
    triggers = stack.work()
    assert [(m["batch_id"], m["attempt"]) for m in triggers] == [("2024-07", "1")]
    stack.rerun(triggers, job, lambda _: None)
    assert stack.trail.get(job, "2024-07").status is Status.SUCCESS  # type: ignore[union-attr]


def test_a_paused_target_holds_the_backfill_too_and_pages_once(stack: Stack, resources: Any):
    job = new_id()
    monthly(stack, job, trigger=True)
    actor = Actor("arn:aws:iam::123456789012:user/ops")
    scope = Scope.of(None, stack.work_queue)  # the queue the job's default trigger sends to
    held = plan_pause(scope, actor=actor, now=stack.clock.now, reason="queue migration")
    pause(stack.clients, stack.settings.table_name, held)
    at(stack, DUE + timedelta(minutes=1))
    for _ in range(3):
        stack.service.run_once()
        stack.clock.advance(RECHECK.total_seconds())
    assert stack.work() == []
    [missed] = [a for a in alerts(stack, resources) if a["event"] == "DEADLINE_MISSED"]
    assert "its backfill: paused" in missed["error_message"]
    resume(stack.clients, stack.settings.table_name, scope, actor=actor, now=stack.clock.now)
    stack.clock.advance(stack.settings.pause_refresh_seconds + 1)
    stack.service.run_once()
    assert [(m["batch_id"], m["attempt"]) for m in stack.work()] == [("2024-07", "1")]


def test_a_batch_failing_at_its_deadline_is_paged_once_and_left_to_its_retries(
    stack: Stack, resources: Any
):
    job = new_id()
    monthly(stack, job, trigger=True)
    at(stack, DUE - timedelta(hours=1))
    stack.fail(job, "2024-07", error=ValueError)  # ValueError: retried like any error
    at(stack, DUE + timedelta(minutes=1))
    stack.service.run_once()
    paged = [a for a in alerts(stack, resources) if a["event"] == "DEADLINE_MISSED"]
    assert [(a["batch_id"], a["status"]) for a in paged] == [("2024-07", "RETRYING")] or [
        (a["batch_id"], a["status"]) for a in paged
    ] == [("2024-07", "FAILED")]
    triggers = stack.work()
    assert [m["attempt"] for m in triggers] == ["2"]  # its retry, not a backfill


def test_a_daily_job_across_a_dst_change_expects_one_batch_a_day(stack: Stack, resources: Any):
    job = new_id()
    at(stack, datetime(2024, 3, 8, 12, tzinfo=UTC))
    stack.trail.expect(
        job, every="day", format="%Y-%m-%d", start="2024-03-08", tz="America/New_York",
        deadline="+6h",
    )  # fmt: skip
    seen: list[str] = []
    while stack.clock.now <= datetime(2024, 3, 13, 12, tzinfo=UTC):
        stack.service.run_once()
        seen += [a["batch_id"] for a in alerts(stack, resources) if a["event"] == "DEADLINE_MISSED"]
        stack.clock.advance(3 * 3600)
    assert seen == ["2024-03-08", "2024-03-09", "2024-03-10", "2024-03-11", "2024-03-12"]


def test_a_run_past_max_run_seconds_is_flagged_once(stack: Stack, resources: Any):
    job = new_id()
    at(stack, datetime(2024, 7, 1, 12, tzinfo=UTC))
    stack.trail.expect(
        job, every="day", format="%Y-%m-%d", start="2024-07-01", deadline="+12h",
        max_run_seconds=3600,
    )  # fmt: skip
    at(stack, datetime(2024, 7, 2, 0, 5, tzinfo=UTC))
    with stack.trail.batch(job, "2024-07-01") as run:
        for _ in range(8):  # 2 hours in 15-minute steps, heartbeating all along
            stack.clock.advance(900)
            run.heartbeat()
            stack.service.run_once()
        slow = [a for a in alerts(stack, resources) if a["event"] == "TOO_SLOW"]
    assert [(a["batch_id"], a["attempt"]) for a in slow] == [("2024-07-01", 1)]
    assert "max_run_seconds 3600" in slow[0]["error_message"]
    assert stack.trail.get(job, "2024-07-01").status is Status.SUCCESS  # not killed


def _schedule_many(stack: Stack, jobs: int) -> None:
    """`jobs` monthly schedules whose first deadline is DUE, put directly (the figure is the
    sweep's reading, not the writing)."""
    cal = Calendar.recurring(every="month", format="%Y-%m", start="2024-07", deadline="+6h")
    shards = stack.remediator.table.shards
    items = []
    for n in range(jobs):
        job = f"sched-{n:04d}"
        pk, sk = schedule_key(job)
        plain = {"pk": pk, "sk": sk, "calendar": cal.to_json(), "version": 1,
                 "due_pk": deadline_partition(job, shards), "due_at": iso(DUE)}  # fmt: skip
        items.append(av_map(plain))
    batch_write(stack.clients.dynamodb(), stack.settings.table_name, items)


@pytest.mark.parametrize("jobs", [10, 1_000])
def test_an_idle_sweeps_deadline_reads_do_not_grow_with_the_jobs(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock, jobs: int
):
    clock.now = datetime(2024, 7, 15, tzinfo=UTC)
    stack = Stack(settings_kwargs, clients, moto_endpoint, clock)
    _schedule_many(stack, jobs)
    proxy = ReadCountingProxy(moto_endpoint).start()
    try:
        counted = AwsClients(region=stack.clients.region, endpoint_url=proxy.url)
        remediator = Remediator(stack.settings, clients=counted, metrics=Metrics(), clock=clock)
        stack.clock.advance(86400)
        assert DeadlineWatch(remediator).advance() == {}
        assert sum(proxy.read.values()) == 0, proxy.read  # nothing due: nothing read
        queries = sum(n for t, n in proxy.counts.items() if t.endswith(".Query"))
        assert queries == remediator.table.shards  # one per DEADLINE# shard
    finally:
        proxy.stop()


@pytest.mark.parametrize("jobs", [10, 100])
def test_a_periods_reads_are_the_same_per_job_for_10_or_100_jobs(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock, jobs: int
):
    clock.now = datetime(2024, 7, 15, tzinfo=UTC)
    stack = Stack(settings_kwargs, clients, moto_endpoint, clock)
    _schedule_many(stack, jobs)
    proxy = ReadCountingProxy(moto_endpoint).start()
    try:
        counted = AwsClients(region=stack.clients.region, endpoint_url=proxy.url)
        remediator = Remediator(stack.settings, clients=counted, metrics=Metrics(), clock=clock)
        at(stack, DUE + timedelta(minutes=1))
        assert DeadlineWatch(remediator).advance() == {"deadline_checked": jobs}
        # Per job: its index entry and its schedule item; its missing batch, policy (none
        # here) and the pauses item (none) read nothing.
        assert sum(proxy.read.values()) == 2 * jobs, proxy.read
        calls = {t.rsplit(".", 1)[-1]: n for t, n in proxy.counts.items() if "DynamoDB" in t}
        # schedule and policy per job; the pauses only for a backfill (none without a trigger)
        assert calls["GetItem"] == 2 * jobs
        assert calls["BatchGetItem"] == jobs
        assert calls["UpdateItem"] == jobs  # the schedule's step
    finally:
        proxy.stop()


def test_a_schedule_changed_while_a_batch_is_late_does_not_page_it_again(
    stack: Stack, resources: Any
):
    job = new_id()
    monthly(stack, job, trigger=False)
    at(stack, DUE + timedelta(minutes=1))
    stack.service.run_once()
    assert [a["event"] for a in alerts(stack, resources)] == ["DEADLINE_MISSED"]
    # The deadline moves later while 2024-07 is late: it is not paged again.
    changed = stack.trail.expect(
        job, every="month", format="%Y-%m", start="2024-07", deadline="+12h"
    )
    assert "2024-07" in changed.late
    for _ in range(3):
        stack.clock.advance(6 * 3600)
        stack.service.run_once()
    assert alerts(stack, resources) == []


def test_a_host_clock_behind_aws_is_corrected_and_does_not_miss_a_deadline(
    stack: Stack, resources: Any
):
    job = new_id()
    monthly(stack, job, trigger=True)
    at(stack, DUE - timedelta(days=1))  # this host: a day before the deadline
    stack.service.run_once()
    assert stack.work() == []  # uncorrected, nothing is due yet
    # The same host measuring its offset from AWS's Date headers (moto's: the real time,
    # long after the deadline): the sweep acts on AWS's time.
    skewed = stack.make_remediator(replica="skewed")
    corrected = SkewClock(stack.clock)
    skewed.context.clock = corrected
    skewed.store.clients.listen_dates(corrected.observe)
    stack.make_service(skewed).run_once()
    assert corrected.offset_seconds > 86_400
    assert "2024-07" in [m["batch_id"] for m in stack.work()]
    paged = [a["batch_id"] for a in alerts(stack, resources) if a["event"] == "DEADLINE_MISSED"]
    assert "2024-07" in paged


def test_a_policy_naming_too_slow_makes_a_slow_run_a_failure_it_retries(
    stack: Stack, resources: Any
):
    job = new_id()
    rule = {"name": "slow", "errors": ["TooSlow"], "max_attempts": 3, "base_seconds": 0}
    stack.trail.set_job_policy(
        job,
        retry=RetryPolicy.from_dict({"rules": [rule]}),
        trigger=SqsTrigger(queue_url=stack.work_queue, body={"job": job}),
    )
    at(stack, datetime(2024, 7, 1, 12, tzinfo=UTC))
    stack.trail.expect(
        job, every="day", format="%Y-%m-%d", start="2024-07-01", deadline="+12h",
        max_run_seconds=3600,
    )  # fmt: skip
    at(stack, datetime(2024, 7, 2, 0, 5, tzinfo=UTC))
    with pytest.raises(RunSuperseded), stack.trail.batch(job, "2024-07-01") as run:
        for _ in range(6):
            stack.clock.advance(900)
            run.heartbeat()
            stack.service.run_once()
            if stack.trail.get(job, "2024-07-01").status is not Status.STARTED:
                break
    state = stack.trail.get(job, "2024-07-01")
    assert state.error_type == "TooSlow"
    stack.service.run_once()  # its rule retries it (base 0: due now)
    assert [(m["batch_id"], m["attempt"]) for m in stack.work()] == [("2024-07-01", "2")]
    assert [a["event"] for a in alerts(stack, resources)] == ["TOO_SLOW"]


def test_a_backfill_waits_for_the_jobs_circuit_and_then_runs_as_a_retry(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock, resources: Any
):
    """A deadline's backfill is no person's decision: an open circuit holds it as it holds a
    retry. The batch is created claimed until the circuit closes; the sweep then runs it."""
    clock.now = datetime(2024, 7, 15, 12, tzinfo=UTC)
    stack = Stack(settings_kwargs, clients, moto_endpoint, clock, breaker_failures=1)
    job = new_id()
    monthly(stack, job, trigger=True)
    at(stack, DUE + timedelta(seconds=1))
    opened = stack.remediator.breaker.record_failure(breaker_key(job), "f1", stack.clock.now)
    assert opened is not None
    stack.service.run_once()
    assert stack.work() == []  # held: nothing went out
    [missed] = [a for a in alerts(stack, resources) if a["event"] == "DEADLINE_MISSED"]
    assert "its backfill: paused (the job's circuit is open" in missed["error_message"]
    held = stack.trail.get(job, "2024-07")
    assert held is not None
    assert (held.status, held.attempt, held.lease_expires_at) == (Status.RETRYING, 0, opened)

    at(stack, from_iso(opened) + timedelta(seconds=10))  # the circuit closed
    stack.service.run_once()
    triggers = stack.work()
    assert [(m["batch_id"], m["attempt"]) for m in triggers] == [("2024-07", "1")]
    stack.rerun(triggers, job, lambda _: None)
    history = [e.event.value for e in stack.trail.history(job, "2024-07")]
    assert history == ["RETRY_TRIGGERED", "STARTED", "SUCCESS"]


def test_backfills_pay_the_fleets_budget_and_the_rest_go_in_the_next_minutes(
    settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock, resources: Any
):
    clock.now = datetime(2024, 7, 15, 12, tzinfo=UTC)
    stack = Stack(settings_kwargs, clients, moto_endpoint, clock, budget_per_minute=1)
    job = new_id()
    monthly(stack, job, trigger=True)
    # Three months never started (July to September); a minute of its own for the budget.
    at(stack, datetime(2024, 10, 1, 7, 43, 13, tzinfo=UTC))
    stack.service.run_once()
    sent = [m["batch_id"] for m in stack.work()]
    assert len(sent) == 1
    paged = [a for a in alerts(stack, resources) if a["event"] == "DEADLINE_MISSED"]
    assert len(paged) == 3
    assert sum("its backfill: budget" in a["error_message"] for a in paged) == 2
    for _ in range(2):  # one a minute, as the budget allows
        stack.clock.advance(60)
        stack.service.run_once()
        sent += [m["batch_id"] for m in stack.work()]
    assert sorted(sent) == ["2024-07", "2024-08", "2024-09"]
