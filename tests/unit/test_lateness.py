"""What a job's deadlines call for, from its schedule and a few batches' states (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from observability.audit.schedules import JobSchedule
from observability.models import BatchState, Status, iso
from observability.models.calendar import Calendar
from remediator.remediation.lateness import LIMIT, MAX_LATE, MAX_PAGES, RECHECK, decide, look

MONTHLY = Calendar.recurring(every="month", format="%Y-%m", start="2024-07", deadline="+6h")
DUE = datetime(2024, 8, 1, 6, tzinfo=UTC)


def state(batch: str, status: Status, **kw: object) -> BatchState:
    return BatchState(job_id="j", batch_id=batch, status=status, attempt=1, version=2, **kw)  # type: ignore[arg-type]


def test_nothing_due_before_the_deadline_and_the_next_look_is_the_deadline() -> None:
    schedule = JobSchedule("j", MONTHLY)
    now = DUE - timedelta(seconds=1)
    seen = look(schedule, now)
    assert seen.due == []
    out = decide(schedule, seen, {}, now, can_trigger=True)
    assert (out.trigger, out.missed, out.next_at) == ([], [], DUE)


def test_a_batch_never_started_is_triggered_once_and_late() -> None:
    schedule = JobSchedule("j", MONTHLY)
    seen = look(schedule, DUE)
    out = decide(schedule, seen, {}, DUE, can_trigger=True)
    assert out.trigger == ["2024-07"]
    assert [m[0] for m in out.missed] == ["2024-07"]
    assert out.late == {"2024-07": iso(DUE)}
    assert out.next_at == DUE + RECHECK
    # The step written, the next visit expects nothing new and sees it land.
    after = JobSchedule(
        "j", MONTHLY, cursor=seen.cursor, checked_through=out.checked_through, late=out.late
    )
    later = DUE + RECHECK
    again = look(after, later)
    assert again.due == []
    landed = decide(
        after, again, {"2024-07": state("2024-07", Status.SUCCESS)}, later,
        can_trigger=True,
    )  # fmt: skip
    assert ([b for b, _ in landed.met], landed.late, landed.missed) == (["2024-07"], {}, [])
    assert landed.next_at == datetime(2024, 9, 1, 6, tzinfo=UTC)


def test_without_a_trigger_it_is_only_late() -> None:
    schedule = JobSchedule("j", MONTHLY)
    seen = look(schedule, DUE)
    out = decide(schedule, seen, {}, DUE, can_trigger=False)
    assert out.trigger == []
    assert len(out.missed) == 1
    assert decide(schedule, seen, {}, DUE, can_trigger=True).trigger == ["2024-07"]


def test_on_time_batches_are_neither_late_nor_alerted() -> None:
    schedule = JobSchedule("j", MONTHLY)
    seen = look(schedule, DUE)
    done = {"2024-07": state("2024-07", Status.SUCCESS)}
    out = decide(schedule, seen, done, DUE, can_trigger=True)
    assert (out.trigger, out.missed, out.late) == ([], [], {})


def test_a_failing_batch_is_late_but_left_to_its_remediation() -> None:
    schedule = JobSchedule("j", MONTHLY)
    seen = look(schedule, DUE)
    failing = {"2024-07": state("2024-07", Status.FAILED)}
    out = decide(schedule, seen, failing, DUE, can_trigger=True)
    assert out.trigger == []
    assert out.missed[0][2] is failing["2024-07"]


def test_a_changed_calendar_does_not_handle_a_deadline_twice() -> None:
    daily = Calendar.recurring(every="day", format="%Y-%m", start="2024-07", deadline="+6h")
    schedule = JobSchedule("j", daily, checked_through=iso(DUE))
    seen = look(schedule, DUE + timedelta(hours=1))
    assert all(e.due > DUE for e in seen.due)


def test_a_long_backlog_is_taken_limit_at_a_time() -> None:
    daily = Calendar.recurring(every="day", format="%Y-%m-%d", start="2020-01-01")
    schedule = JobSchedule("j", daily)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    seen = look(schedule, now)
    assert len(seen.due) == LIMIT
    assert seen.more
    out = decide(schedule, seen, {}, now, can_trigger=False)
    assert out.next_at == now


def test_a_run_past_max_run_is_flagged_once_per_attempt() -> None:
    cal = Calendar.recurring(
        every="day", format="%Y-%m-%d", start="2024-07-01", deadline="+12h", max_run_seconds=3600
    )
    schedule = JobSchedule("j", cal)
    now = datetime(2024, 7, 2, 2, tzinfo=UTC)  # the period ended, its deadline not yet
    seen = look(schedule, now)
    assert seen.watched == ["2024-07-01"]
    running = {
        "2024-07-01": state("2024-07-01", Status.STARTED, started_at=iso(now - timedelta(hours=2)))
    }
    out = decide(schedule, seen, running, now, can_trigger=True)
    assert [s.batch_id for s in out.slow] == ["2024-07-01"]
    flagged = JobSchedule("j", cal, slow=out.flagged)
    again = decide(flagged, look(flagged, now), running, now, can_trigger=True)
    assert again.slow == []
    assert out.next_at is not None
    assert out.next_at <= now + timedelta(minutes=15)


def test_ten_thousand_expected_ids_that_never_came_page_ten_then_summaries() -> None:
    due = DUE
    cal = Calendar.explicit(batches=[f"{n:05d}" for n in range(10_000)], due=due)
    schedule = JobSchedule("j", cal)
    now = due + timedelta(minutes=1)
    handled: list[str] = []
    paged = summaries = visits = 0
    while True:
        seen = look(schedule, now)
        out = decide(schedule, seen, {}, now, can_trigger=True)
        visits += 1
        handled += out.trigger
        paged += len(out.missed)
        summaries += bool(out.unpaged)
        assert len(seen.ids(schedule)) <= LIMIT + MAX_LATE  # one visit's reads stay bounded
        schedule = JobSchedule(
            "j", cal, cursor=seen.cursor, checked_through=out.checked_through, late=out.late
        )
        if not seen.more:
            break
    assert handled == [f"{n:05d}" for n in range(10_000)]  # each triggered once, in order
    assert (visits, paged, summaries) == (100, MAX_PAGES, 100)
    assert len(schedule.late) == MAX_LATE
