"""What a job's deadlines call for, from its schedule and the states of a few batches. Pure.

`look` names the batches one visit of the sweep must read: those whose deadline passed
since the last visit (at most `LIMIT`), those already late (to see them land), and, for a
job with `max_run_seconds`, those whose period has ended but whose deadline has not come
(a run of them may be going on too long). `decide` turns their states into actions and the
schedule's next step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from observability.audit.schedules import UNPAGED, JobSchedule
from observability.models import BatchState, Status, from_iso, iso
from observability.models.calendar import Expected

__all__ = [
    "LIMIT",
    "MAX_LATE",
    "MAX_PAGES",
    "RECHECK",
    "UNPAGED",
    "Decision",
    "Look",
    "decide",
    "look",
]

LIMIT = 100  # newly due batches per visit: one BatchGetItem; more come at the next sweep
MAX_LATE = 1_000  # late batches a schedule follows (the oldest are let go past it)
RECHECK = timedelta(seconds=60)  # how often a late batch is looked at until it lands
# Late batches paged one by one at a time: past it, one alert per visit names the others
# (10,000 expected ids that never came are not 10,000 pages), and their landing is not
# announced either.
MAX_PAGES = 10
_DONE = (Status.SUCCESS, Status.RESOLVED)


@dataclass(frozen=True, slots=True)
class Look:
    due: list[Expected]
    watched: list[str]
    cursor: str | None
    more: bool  # more batches were due than one visit takes

    def ids(self, schedule: JobSchedule) -> list[str]:
        """Every batch id to read, once each."""
        wanted = [e.batch_id for e in self.due] + list(schedule.late) + self.watched
        return list(dict.fromkeys(wanted))


@dataclass(slots=True)
class Decision:
    trigger: list[str] = field(default_factory=list)  # never started: run them
    missed: list[tuple[str, datetime, BatchState | None]] = field(default_factory=list)
    unpaged: list[str] = field(default_factory=list)  # missed too, told in one summary
    met: list[tuple[str, BatchState]] = field(default_factory=list)  # paged late, now landed
    slow: list[BatchState] = field(default_factory=list)
    late: dict[str, str] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)
    checked_through: str | None = None
    next_at: datetime | None = None

    def lag_seconds(self, now: datetime) -> float:
        """How long the oldest late batch has been overdue (0 when none is)."""
        if not self.late:
            return 0.0
        oldest = min(from_iso(d.removeprefix(UNPAGED)) for d in self.late.values())
        return max(0.0, (now - oldest).total_seconds())


def _let_go_order(due: str) -> tuple[bool, str]:
    return (not due.startswith(UNPAGED), due.removeprefix(UNPAGED))


def _watch_every(max_run: int) -> timedelta:
    return timedelta(seconds=min(900, max(60, max_run // 4)))


def look(schedule: JobSchedule, now: datetime) -> Look:
    """The batches this visit reads, and where the calendar will stand after it."""
    cal = schedule.calendar
    if cal is None:
        return Look([], [], schedule.cursor, more=False)
    # Only a calendar changed (its cursor dropped) is walked from its start: what its old
    # self handled (deadlines up to `checked_through`) is not handled again.
    through = (
        from_iso(schedule.checked_through)
        if schedule.checked_through and schedule.cursor is None
        else None
    )
    due: list[Expected] = []
    watched: list[str] = []
    cursor = schedule.cursor
    for expected in cal.upcoming(schedule.cursor):
        if expected.due > now:
            if cal.max_run_seconds and expected.opens <= now and len(watched) < LIMIT:
                watched.append(expected.batch_id)
                continue
            break
        if len(due) >= LIMIT:
            return Look(due, watched, cursor, more=True)
        cursor = expected.after
        # A changed calendar: no deadline handled twice, no late batch paged twice.
        if (through is None or expected.due > through) and expected.batch_id not in schedule.late:
            due.append(expected)
    return Look(due, watched, cursor, more=False)


def decide(
    schedule: JobSchedule, seen: Look, states: dict[str, BatchState], now: datetime, *,
    can_trigger: bool,
) -> Decision:  # fmt: skip
    """What to do with what the visit read."""
    cal = schedule.calendar
    out = Decision(late=dict(schedule.late), flagged=dict(schedule.slow))
    paged = sum(1 for d in schedule.late.values() if not d.startswith(UNPAGED))
    out.checked_through = schedule.checked_through
    for expected in seen.due:
        state = states.get(expected.batch_id)
        out.checked_through = iso(expected.due)
        if state is not None and state.status in _DONE:
            continue  # on time
        if state is None and can_trigger:  # a pause holds it in the backfill (gate)
            out.trigger.append(expected.batch_id)
        if paged + len(out.missed) < MAX_PAGES:
            out.missed.append((expected.batch_id, expected.due, state))
            out.late[expected.batch_id] = iso(expected.due)
        else:
            out.unpaged.append(expected.batch_id)
            out.late[expected.batch_id] = UNPAGED + iso(expected.due)
    for batch_id in list(schedule.late):
        state = states.get(batch_id)
        if state is not None and state.status in _DONE:
            if not schedule.late[batch_id].startswith(UNPAGED):
                out.met.append((batch_id, state))
            del out.late[batch_id]
    if len(out.late) > MAX_LATE:
        # Let go of the unpaged first (nobody waits for their landing), then the oldest.
        order = sorted(out.late, key=lambda b: _let_go_order(out.late[b]))
        for batch_id in order[: len(out.late) - MAX_LATE]:
            del out.late[batch_id]
    if cal is not None and cal.max_run_seconds:
        limit = timedelta(seconds=cal.max_run_seconds)
        for batch_id in [*seen.watched, *out.late]:
            state = states.get(batch_id)
            if state is None or state.status is not Status.STARTED or not state.started_at:
                continue
            if (
                now - from_iso(state.started_at) > limit
                and out.flagged.get(batch_id) != state.attempt
            ):
                out.slow.append(state)
                out.flagged[batch_id] = state.attempt
    out.flagged = {b: a for b, a in out.flagged.items() if b in out.late or b in seen.watched}
    out.next_at = _next_at(schedule, seen, out, now)
    return out


def _next_at(schedule: JobSchedule, seen: Look, out: Decision, now: datetime) -> datetime | None:
    cal = schedule.calendar
    if cal is None:
        return None
    if seen.more:
        return now  # the rest of what is due, at the next sweep
    candidates = [d for d in [cal.next_due(seen.cursor)] if d is not None]
    if out.late:
        candidates.append(now + RECHECK)
    if cal.max_run_seconds and seen.watched:
        candidates.append(now + _watch_every(cal.max_run_seconds))
    elif cal.max_run_seconds and candidates:
        # A period may open before the next look: watch from then.
        nxt = next(iter(cal.upcoming(seen.cursor)), None)
        if nxt is not None and nxt.opens > now:
            candidates.append(nxt.opens + _watch_every(cal.max_run_seconds))
    return min(candidates) if candidates else None
