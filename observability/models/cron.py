"""Five-field cron expressions (minute hour day-of-month month day-of-week). Pure.

Enough of cron for a calendar: `*`, numbers, lists, ranges and steps (`*/15`, `1-5`,
`0,30`), and the rule that a restricted day-of-month and day-of-week match either. Times
are a zone's naive wall clock; the calendar turns them into moments.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from observability.errors import InvalidInput

__all__ = ["Cron"]

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 7))
_SEARCH_DAYS = 366 * 5  # a 29 February with a weekday recurs within 28 years; 5 cover any sane one


def _values(name: str, text: str, low: int, high: int) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if body == "*":
                first, last = low, high
            elif "-" in body:
                a, b = body.split("-", 1)
                first, last = int(a), int(b)
            else:
                first = last = int(body)
                if step_text:
                    last = high
        except ValueError:
            raise InvalidInput("cron", f"{name} field {text!r} is not cron syntax") from None
        if step < 1 or first < low or last > high or first > last:
            raise InvalidInput("cron", f"{name} field {text!r} must lie within {low}-{high}")
        out.update(range(first, last + 1, step))
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def parse(expression: str) -> Cron:
        fields = expression.split()
        if len(fields) != 5:
            raise InvalidInput(
                "cron", f"needs 5 fields (minute hour day month weekday), got {expression!r}"
            )
        sets = [_values(n, f, lo, hi) for (n, lo, hi), f in zip(_FIELDS, fields, strict=True)]
        weekdays = frozenset(d % 7 for d in sets[4])
        return Cron(
            sets[0], sets[1], sets[2], sets[3], weekdays, fields[2] == "*", fields[4] == "*"
        )

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def at_or_after(self, moment: datetime) -> datetime:
        """The first time the expression names at or after `moment` (to the minute)."""
        if moment.second or moment.microsecond:
            moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = moment.replace(hour=0, minute=0)
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= moment:
                            return candidate
            day += timedelta(days=1)
        raise InvalidInput("cron", "names no time within five years")
