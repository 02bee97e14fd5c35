"""A job's calendar: which batches it must produce, and by when. Pure (zoneinfo only).

Two forms. Recurring: one batch per period (`every` hour, day or month, or a `cron`
expression), its id the period's start formatted with `format` in the job's time zone,
from the batch `start` names; each is due `deadline` after its period ends, counted on the
zone's wall clock (the batch of 2024-07-01 with +6h is due by 2024-07-02 06:00 there,
whether or not a daylight-saving change fell in between). Explicit: a list of ids (or an
integer range), all due at one moment.

Walking a calendar is a cursor: `upcoming` yields the batches after a cursor in deadline
order, and each comes with the cursor that resumes after it, so a reader never walks the
periods it has already handled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from observability.errors import InvalidInput
from observability.models.cron import Cron
from observability.models.keys import validate_id

__all__ = [
    "EVERY",
    "MAX_EXPLICIT_IDS",
    "Calendar",
    "Expected",
    "parse_duration",
]

EVERY = ("hour", "day", "month")
# 10,000 ids of a dozen characters are about 150 KB of the item's 400 KB.
MAX_EXPLICIT_IDS = 20_000
_MAX_EXPLICIT_BYTES = 300_000
_MAX_DEADLINE = timedelta(days=366)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\+?\s*((?:\d+\s*[smhd]\s*)+)$")
_PART = re.compile(r"(\d+)\s*([smhd])")


def parse_duration(field: str, text: str) -> int:
    """`+6h`, `+1d12h`, `90m`, `+30s` in seconds; InvalidInput naming the field."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise InvalidInput(field, f"must be a duration such as +6h, +1d or +90m, got {text!r}")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(match.group(1)))
    if seconds > _MAX_DEADLINE.total_seconds():
        raise InvalidInput(field, f"must be at most 366 days, got {text!r}")
    return seconds


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("tz", f"is not a known time zone: {tz!r}") from None


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time of `zone` as an aware UTC moment (the earlier of two
    readings at a fall-back hour; a time skipped by spring-forward moves past the gap)."""
    aware = moment.replace(tzinfo=zone)
    back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != moment:  # in the gap: the moment the clock reads it after the jump
        aware = (moment + (moment - back)).replace(tzinfo=zone)
    return aware.astimezone(UTC)


def _add_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month)


@dataclass(frozen=True, slots=True)
class Expected:
    """One expected batch: its id, when it can run (its period has ended) and when it is
    due (UTC), and the cursor after it."""

    batch_id: str
    opens: datetime
    due: datetime
    after: str


@dataclass(frozen=True, slots=True)
class Calendar:
    """A validated calendar (build one with `recurring` or `explicit`)."""

    every: str | None = None
    cron: str | None = None
    format: str | None = None
    start: str | None = None
    tz: str = "UTC"
    deadline_seconds: int = 0
    batches: tuple[str, ...] = ()
    due_at: str | None = None  # the explicit form's single deadline, ISO 8601 UTC
    max_run_seconds: int | None = None

    # -- building -------------------------------------------------------------------------

    @classmethod
    def recurring(
        cls, *, every: str | None = None, cron: str | None = None, format: str, start: str,
        tz: str = "UTC", deadline: str | int = 0, max_run_seconds: int | None = None,
    ) -> Calendar:  # fmt: skip
        if (every is None) == (cron is None):
            raise InvalidInput("every", "give exactly one of --every (hour, day, month) or --cron")
        if every is not None and every not in EVERY:
            raise InvalidInput("every", f"must be one of {', '.join(EVERY)}, got {every!r}")
        if cron is not None:
            Cron.parse(cron)  # InvalidInput naming the field
        zone = _zone(tz)
        if not format or "%" not in format:
            raise InvalidInput(
                "format", f"must be a strftime pattern such as %Y-%m-%d, got {format!r}"
            )
        seconds = parse_duration("deadline", deadline) if isinstance(deadline, str) else deadline
        limit = _max_run(max_run_seconds)
        made = cls(every=every, cron=cron, format=format, start=start, tz=tz,
                   deadline_seconds=int(seconds), max_run_seconds=limit)  # fmt: skip
        first = made._first(zone)
        if first.replace(tzinfo=zone).strftime(format) != start:
            raise InvalidInput("start", f"{start!r} is not a batch id of this calendar "
                               f"(its first period reads {first.strftime(format)!r})")  # fmt: skip
        validate_id("start", start)
        return made

    @classmethod
    def explicit(
        cls, *, batches: list[str] | tuple[str, ...], due: datetime,
        max_run_seconds: int | None = None,
    ) -> Calendar:  # fmt: skip
        ids = tuple(dict.fromkeys(batches))
        if not ids:
            raise InvalidInput("batches", "name at least one batch id")
        if len(ids) > MAX_EXPLICIT_IDS:
            raise InvalidInput("batches", f"at most {MAX_EXPLICIT_IDS} ids, got {len(ids)}")
        if sum(len(b.encode("utf-8")) + 3 for b in ids) > _MAX_EXPLICIT_BYTES:
            raise InvalidInput("batches", f"the ids must fit in {_MAX_EXPLICIT_BYTES} bytes")
        for batch_id in ids:
            validate_id("batches", batch_id)
        if due.tzinfo is None:
            raise InvalidInput("deadline", "must name its time zone (an offset or Z)")
        stamp = due.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return cls(batches=ids, due_at=stamp, max_run_seconds=_max_run(max_run_seconds))

    # -- storing --------------------------------------------------------------------------

    def to_json(self) -> str:
        data: dict[str, object] = {"tz": self.tz}
        for name in ("every", "cron", "format", "start", "due_at", "max_run_seconds"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.deadline_seconds:
            data["deadline_seconds"] = self.deadline_seconds
        if self.batches:
            data["batches"] = list(self.batches)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Calendar:
        data = json.loads(text)
        return cls(
            every=data.get("every"), cron=data.get("cron"), format=data.get("format"),
            start=data.get("start"), tz=data.get("tz", "UTC"),
            deadline_seconds=int(data.get("deadline_seconds", 0)),
            batches=tuple(data.get("batches", ())), due_at=data.get("due_at"),
            max_run_seconds=data.get("max_run_seconds"),
        )  # fmt: skip

    def describe(self) -> str:
        """One line for a person: `every day (%Y-%m-%d) from 2024-07-01 in UTC, due +6h`."""
        if self.batches:
            return f"{len(self.batches)} batches due by {self.due_at}"
        period = f"every {self.every}" if self.every else f"cron {self.cron!r}"
        due = _human(self.deadline_seconds)
        return (
            f"{period} ({self.format}) from {self.start} in {self.tz}, due {due} after each period"
        )

    # -- walking --------------------------------------------------------------------------

    def upcoming(self, cursor: str | None = None) -> Iterator[Expected]:
        """The expected batches after `cursor` (None: from the first), in deadline order."""
        if self.batches:
            assert self.due_at is not None
            due = datetime.fromisoformat(self.due_at.replace("Z", "+00:00"))
            for index in range(int(cursor or 0), len(self.batches)):
                yield Expected(self.batches[index], due, due, str(index + 1))
            return
        zone = _zone(self.tz)
        assert self.format is not None
        start = datetime.fromisoformat(cursor) if cursor else self._first(zone)
        while start.year < 9000:
            end = self._next(start)
            batch_id = start.replace(tzinfo=zone).strftime(self.format)
            due = self._due(end, zone)
            yield Expected(batch_id, _wall(end, zone), due, end.isoformat())
            start = end

    def due_by(self, now: datetime, cursor: str | None = None, *, limit: int) -> list[Expected]:
        """At most `limit` batches after `cursor` whose deadline has passed at `now`."""
        out: list[Expected] = []
        for expected in self.upcoming(cursor):
            if expected.due > now or len(out) >= limit:
                break
            out.append(expected)
        return out

    def next_due(self, cursor: str | None) -> datetime | None:
        """The deadline of the first batch after `cursor`, or None when there is none."""
        return next((e.due for e in self.upcoming(cursor)), None)

    def _first(self, zone: ZoneInfo) -> datetime:
        """The first period's start, naive wall-clock time of the zone."""
        assert self.format is not None
        assert self.start is not None
        try:
            parsed = datetime.strptime(self.start, self.format)  # noqa: DTZ007 - a zone's wall clock
        except ValueError:
            raise InvalidInput(
                "start", f"{self.start!r} does not match --format {self.format!r}"
            ) from None
        if self.every == "month":
            return parsed.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if self.every == "day":
            return parsed.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.every == "hour":
            return parsed.replace(minute=0, second=0, microsecond=0)
        assert self.cron is not None
        return Cron.parse(self.cron).at_or_after(parsed)

    def _next(self, start: datetime) -> datetime:
        if self.every == "month":
            return _add_month(start)
        if self.every == "day":
            return start + timedelta(days=1)
        if self.every == "hour":
            return start + timedelta(hours=1)
        assert self.cron is not None
        return Cron.parse(self.cron).at_or_after(start + timedelta(minutes=1))

    def _due(self, end: datetime, zone: ZoneInfo) -> datetime:
        return _wall(end + timedelta(seconds=self.deadline_seconds), zone)


def _max_run(value: int | None) -> int | None:
    if value is None:
        return None
    if value < 1 or value > 7 * 86400:
        raise InvalidInput("max_run_seconds", f"must be 1 to 604800 seconds, got {value}")
    return int(value)


def _human(seconds: int) -> str:
    if seconds % 86400 == 0 and seconds:
        return f"+{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"+{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"+{seconds // 60}m"
    return f"+{seconds}s"
