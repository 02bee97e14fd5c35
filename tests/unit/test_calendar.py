"""A job's calendar: periods, batch ids, deadlines in a zone (DST included), cron, limits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from observability.errors import InvalidInput
from observability.models.calendar import Calendar, parse_duration
from observability.models.cron import Cron

NY = ZoneInfo("America/New_York")


def test_monthly_batch_is_due_six_hours_after_its_month() -> None:
    cal = Calendar.recurring(every="month", format="%Y-%m", start="2024-07", deadline="+6h")
    first, second = list(zip(range(2), cal.upcoming(), strict=False))
    assert first[1].batch_id == "2024-07"
    assert first[1].opens == datetime(2024, 8, 1, tzinfo=UTC)
    assert first[1].due == datetime(2024, 8, 1, 6, tzinfo=UTC)
    assert second[1].batch_id == "2024-08"
    assert second[1].due == datetime(2024, 9, 1, 6, tzinfo=UTC)


def test_the_issue_example_daily_with_six_hours() -> None:
    cal = Calendar.recurring(every="day", format="%Y-%m-%d", start="2024-07-01", deadline="+6h")
    assert next(cal.upcoming()).due == datetime(2024, 7, 2, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "days"),
    [("2024-03-05", 10), ("2024-10-30", 10)],  # spring forward 03-10, fall back 11-03
)
def test_daily_across_dst_expects_one_batch_a_day_due_at_local_six(start: str, days: int) -> None:
    cal = Calendar.recurring(
        every="day", format="%Y-%m-%d", start=start, tz="America/New_York", deadline="+6h"
    )
    expected = [e for _, e in zip(range(days), cal.upcoming(), strict=False)]
    ids = [e.batch_id for e in expected]
    first = datetime.strptime(start, "%Y-%m-%d").date()  # noqa: DTZ007 - a date
    assert ids == [(first + timedelta(days=n)).isoformat() for n in range(days)]
    for e in expected:
        local = e.due.astimezone(NY)
        assert (local.hour, local.minute) == (6, 0)
        day = datetime.strptime(e.batch_id, "%Y-%m-%d").date()  # noqa: DTZ007 - a date
        assert local.date() == day + timedelta(days=1)
    gaps = {(b.due - a.due) for a, b in itertools.pairwise(expected)}
    assert gaps == {timedelta(hours=24), timedelta(hours=23)} or gaps == {
        timedelta(hours=24),
        timedelta(hours=25),
    }


def test_hourly_ids_and_due_by_is_bounded() -> None:
    cal = Calendar.recurring(every="hour", format="%Y-%m-%dT%H", start="2024-07-01T00")
    due = cal.due_by(datetime(2024, 7, 1, 5, 30, tzinfo=UTC), limit=100)
    assert [e.batch_id for e in due] == [f"2024-07-01T0{h}" for h in range(5)]
    assert len(cal.due_by(datetime(2024, 9, 1, tzinfo=UTC), limit=100)) == 100


def test_a_cursor_resumes_after_the_batch_it_follows() -> None:
    cal = Calendar.recurring(every="day", format="%Y-%m-%d", start="2024-07-01")
    first = next(cal.upcoming())
    assert next(cal.upcoming(first.after)).batch_id == "2024-07-02"


def test_cron_weekdays_at_six() -> None:
    cal = Calendar.recurring(cron="0 6 * * 1-5", format="%Y-%m-%d", start="2024-07-05")
    ids = [e.batch_id for _, e in zip(range(3), cal.upcoming(), strict=False)]
    assert ids == ["2024-07-05", "2024-07-08", "2024-07-09"]  # the weekend skipped


def test_cron_parser_fields() -> None:
    cron = Cron.parse("*/15 0-2 1,15 * *")
    assert cron.minutes == frozenset({0, 15, 30, 45})
    assert cron.hours == frozenset({0, 1, 2})
    naive = datetime(2024, 7, 2, 3, 0)  # noqa: DTZ001 - a wall clock
    assert cron.at_or_after(naive) == datetime(2024, 7, 15, 0, 0)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"every": "week"}, "every"),
        ({"every": None}, "every"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"start": "2024-07-01"}, "start"),
        ({"format": "plain"}, "format"),
        ({"deadline": "soon"}, "deadline"),
        ({"deadline": "+400d"}, "deadline"),
        ({"every": None, "cron": "0 6 * *"}, "cron"),
        ({"every": None, "cron": "0 25 * * *"}, "cron"),
        ({"max_run_seconds": 0}, "max_run_seconds"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"every": "month", "format": "%Y-%m", "start": "2024-07"}
    with pytest.raises(InvalidInput) as raised:
        Calendar.recurring(**{**args, **kwargs})  # type: ignore[arg-type]
    assert raised.value.field == field


def test_durations() -> None:
    assert parse_duration("deadline", "+6h") == 21600
    assert parse_duration("deadline", "1d12h") == 129600
    assert parse_duration("deadline", "+90m") == 5400


def test_explicit_calendar_of_ten_thousand_ids() -> None:
    due = datetime(2024, 8, 1, 6, tzinfo=UTC)
    ids = [f"{n:05d}" for n in range(10_000)]
    cal = Calendar.explicit(batches=ids, due=due)
    assert Calendar.from_json(cal.to_json()) == cal
    assert len(cal.to_json()) < 200_000
    assert cal.due_by(due - timedelta(seconds=1), limit=100) == []
    page = cal.due_by(due, limit=100)
    assert [e.batch_id for e in page] == ids[:100]
    assert next(cal.upcoming(page[-1].after)).batch_id == "00100"


def test_explicit_calendar_limits() -> None:
    due = datetime(2024, 8, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="at most 20000"):
        Calendar.explicit(batches=[str(n) for n in range(20_001)], due=due)
    with pytest.raises(InvalidInput, match="time zone"):
        Calendar.explicit(batches=["a"], due=due.replace(tzinfo=None))
    with pytest.raises(InvalidInput):
        Calendar.explicit(batches=["a#b"], due=due)
