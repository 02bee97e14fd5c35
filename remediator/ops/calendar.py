"""`remediator schedule`: a job's calendar of expected batches, set, shown and cleared.

The calendar itself (periods, ids, deadlines in a zone) is `observability.models.calendar`;
the item and its audited change are `observability.audit.schedules`. This module reads
what a person typed and says what is expected now: the batches due and not done (never
written, or written and not SUCCESS/RESOLVED), and the next deadline. (`schedule` in this
package is a rule's retry delays, a different thing.)
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from observability.audit import AuditStore, ConditionFailed
from observability.audit.schedules import JobSchedule, change_schedule, read_schedule
from observability.errors import ConcurrentChange, InvalidInput
from observability.models import BatchState, Status, iso
from observability.models.calendar import MAX_EXPLICIT_IDS, Calendar, Expected
from remediator.ops.identity import Actor

__all__ = [
    "MAX_SHOWN",
    "apply_schedule",
    "expand_range",
    "expected_among",
    "expected_now",
    "parse_calendar",
]

MAX_SHOWN = 1_000  # due batches `show` and `status` read at most (one BatchGetItem per 100)
_RANGE = re.compile(r"^(\d+)\.\.(\d+)$")


def expand_range(text: str) -> list[str]:
    """`FIRST..LAST` of integer ids, zero padding kept (`001..120`); InvalidInput otherwise."""
    match = _RANGE.match(text.strip())
    if not match:
        raise InvalidInput("--range", f"must be FIRST..LAST of integer ids, got {text!r}")
    first, last = match.groups()
    if int(last) < int(first):
        raise InvalidInput("--range", f"LAST must not come before FIRST, got {text!r}")
    if int(last) - int(first) >= MAX_EXPLICIT_IDS:
        raise InvalidInput("--range", f"at most {MAX_EXPLICIT_IDS} ids, got {text!r}")
    width = len(first) if first.startswith("0") else 0
    return [str(n).zfill(width) for n in range(int(first), int(last) + 1)]


def parse_calendar(
    *, every: str | None, cron: str | None, format: str | None, start: str | None, tz: str,
    deadline: str | None, batches: str | None, id_range: str | None,
    due: datetime | None, max_run_seconds: int | None,
) -> Calendar:  # fmt: skip
    """The calendar a `schedule set` describes, checked; InvalidInput names the option."""
    explicit = batches is not None or id_range is not None
    if explicit:
        if every or cron:
            raise InvalidInput("--batches/--range", "cannot be combined with --every or --cron")
        if due is None:
            raise InvalidInput("--deadline", "explicit batches need a deadline WHEN (ISO 8601)")
        if id_range:
            ids = expand_range(id_range)
        else:
            ids = [b.strip() for b in (batches or "").split(",") if b.strip()]
        return Calendar.explicit(batches=ids, due=due, max_run_seconds=max_run_seconds)
    if not format or not start:
        raise InvalidInput("--format/--start", "a recurring calendar needs both")
    return Calendar.recurring(
        every=every, cron=cron, format=format, start=start, tz=tz or "UTC",
        deadline=deadline or "+0h", max_run_seconds=max_run_seconds,
    )  # fmt: skip


def apply_schedule(
    store: AuditStore, job_id: str, calendar: Calendar | None, *, actor: Actor, now: datetime,
    shards: int,
) -> tuple[JobSchedule | None, JobSchedule]:  # fmt: skip
    """Write one audited change (a calendar, or None to clear); returns (before, after)."""
    before = read_schedule(store, job_id)
    current = before or JobSchedule(job_id)
    write = change_schedule(
        current, calendar, actor=actor.arn, now=now, shards=shards, operator=actor.operator
    )
    try:
        after = JobSchedule.from_plain(job_id, store.commit(write))
    except ConditionFailed:
        raise ConcurrentChange(
            f"the schedule of job {job_id!r} changed while this change was made: run it again"
        ) from None
    return before, after


def expected_now(store: AuditStore, schedule: JobSchedule, now: datetime) -> dict[str, Any]:
    """What the calendar expects by now and is not done, reading the due batches' items
    (the last `MAX_SHOWN` of them), never the job's whole partition."""
    due = _due(schedule, now)[0]
    return expected_among(schedule, store.get_many(schedule.job_id, due, now), now)


def expected_among(
    schedule: JobSchedule, states: Mapping[str, BatchState], now: datetime
) -> dict[str, Any]:
    """Pure: `missing` (due, never written), `late` (due, written, not SUCCESS/RESOLVED),
    the next deadline, from the states of the job's batches the caller holds."""
    due, upcoming, count = _due(schedule, now)
    missing = [b for b in due if b not in states]
    late = [
        {"batch_id": b, "status": states[b].status.value, "attempt": states[b].attempt}
        for b in due
        if b in states and states[b].status not in (Status.SUCCESS, Status.RESOLVED)
    ]
    return {
        "missing": missing,
        "late": late,
        "next_due": None if upcoming is None else {"batch_id": upcoming.batch_id,
                                                   "due": iso(upcoming.due)},
        "truncated": count > MAX_SHOWN,
    }  # fmt: skip


def _due(schedule: JobSchedule, now: datetime) -> tuple[list[str], Expected | None, int]:
    """The last `MAX_SHOWN` ids due by `now`, the next expected batch, how many are due."""
    cal = schedule.calendar
    if cal is None:
        return [], None, 0
    tail: deque[str] = deque(maxlen=MAX_SHOWN)
    count = 0
    for expected in cal.upcoming():
        if expected.due > now:
            return list(dict.fromkeys(tail)), expected, count
        tail.append(expected.batch_id)
        count += 1
    return list(dict.fromkeys(tail)), None, count
