"""`schedule set|show|clear JOB`: parse, call remediator.ops.calendar, render."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from observability.audit.schedules import JobSchedule, read_schedule
from observability.audit.shape import agreed_shards
from observability.errors import InvalidInput
from observability.models import BatchState
from observability.models.calendar import EVERY
from observability.models.keys import validate_id
from remediator.cli.context import EXIT_OK, CommandFailed, Context, UsageError, confirm, parse_until
from remediator.ops import calendar as calendars

__all__ = [
    "add_schedule_command",
    "cmd_schedule",
    "expected_lines",
    "job_expected",
    "schedule_lines",
]


def add_schedule_command(command: Callable[..., Any], output: Callable[..., None]) -> None:
    p = command(
        "schedule",
        cmd_schedule,
        "a job's expected batches and their deadlines: set, show, clear; a batch never "
        "started by its deadline runs through the job's default trigger, and a late one pages",
        "remediator schedule set ingest-sales --every month --format %Y-%m --start 2024-07 "
        "--deadline +6h --yes",
    )
    p.add_argument("action", choices=("set", "show", "clear"))
    p.add_argument("job")
    p.add_argument("--every", choices=EVERY, help="set: one batch per hour, day or month")
    p.add_argument("--cron", help="set: one batch per time a 5-field cron expression names")
    p.add_argument("--format", help="set: the batch id of each period, strftime (%%Y-%%m-%%d)")
    p.add_argument("--start", help="set: the first expected batch id")
    p.add_argument("--tz", default="UTC", help="set: the periods' time zone (default UTC)")
    p.add_argument(
        "--deadline", help="set: +DURATION after each period (+6h), or WHEN (ISO 8601) for "
        "--batches/--range",
    )  # fmt: skip
    p.add_argument("--batches", help="set: explicit ids, comma-separated")
    p.add_argument("--range", dest="id_range", help="set: explicit integer ids FIRST..LAST")
    p.add_argument("--max-run-seconds", type=int, help="set: a run going longer is TOO_SLOW")
    p.add_argument("--operator", help="who you are, recorded beside your AWS identity")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    output(p)


def job_expected(
    ctx: Context, job: str, states: Sequence[BatchState], now: datetime
) -> dict[str, Any] | None:
    """For `status`: what the job's calendar expects by now and is not done (None: the job
    has no calendar). One GetItem; the batches are the ones `status` read already."""
    schedule = read_schedule(ctx.store(), job)
    if schedule is None or schedule.calendar is None:
        return None
    return calendars.expected_among(schedule, {s.batch_id: s for s in states}, now)


def expected_lines(expected: dict[str, Any] | None) -> list[str]:
    """The lines `status` prints above its table for a job with a calendar."""
    if not expected:
        return []
    lines = []
    missing, late = expected["missing"], expected["late"]
    if missing:
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        lines.append(f"EXPECTED, never written: {', '.join(missing[:20])}{more}")
    if late:
        shown = ", ".join(f"{e['batch_id']} ({e['status']})" for e in late[:20])
        more = f" and {len(late) - 20} more" if len(late) > 20 else ""
        lines.append(f"LATE, past their deadline: {shown}{more}")
    return lines


def schedule_lines(schedule: JobSchedule | None, expected: dict[str, Any]) -> list[str]:
    """The text of `schedule show` (and of a change)."""
    if schedule is None or schedule.calendar is None:
        job = schedule.job_id if schedule else "?"
        return [f"{job}: no schedule (set one with `remediator schedule set {job} ...`)"]
    cal = schedule.calendar
    lines = [f"{schedule.job_id}: {cal.describe()}"]
    if cal.max_run_seconds:
        lines.append(f"  a run longer than {cal.max_run_seconds} s is TOO_SLOW")
    nxt = expected.get("next_due")
    if nxt:
        lines.append(f"  next: {nxt['batch_id']} due by {nxt['due']}")
    missing, late = expected.get("missing", []), expected.get("late", [])
    if missing:
        lines.append(f"  missing (never written): {', '.join(missing[:20])}"
                     + (f" and {len(missing) - 20} more" if len(missing) > 20 else ""))  # fmt: skip
    for entry in late[:20]:
        lines.append(f"  late: {entry['batch_id']} {entry['status']} at attempt {entry['attempt']}")
    if not missing and not late:
        lines.append("  every batch due so far is done")
    if schedule.updated_by:
        lines.append(f"  set by {schedule.updated_by} at {schedule.updated_at}")
    return lines


def cmd_schedule(ctx: Context) -> int:
    args = ctx.args
    job = validate_id("job_id", args.job)
    store = ctx.store()
    now = ctx.now()
    if args.action == "show":
        current = read_schedule(store, job)
        expected = calendars.expected_now(store, current, now) if current else {}
        if args.output == "json":
            ctx.json({**(current or JobSchedule(job)).as_dict(), "expected": expected})
        else:
            ctx.print("\n".join(schedule_lines(current or JobSchedule(job), expected)))
        return EXIT_OK
    calendar = None
    if args.action == "set":
        due = None
        if (args.batches or args.id_range) and args.deadline:
            due = parse_until(args.deadline, now)
        try:
            calendar = calendars.parse_calendar(
                every=args.every, cron=args.cron, format=args.format, start=args.start,
                tz=args.tz, deadline=args.deadline, batches=args.batches, id_range=args.id_range,
                due=due, max_run_seconds=args.max_run_seconds,
            )  # fmt: skip
        except InvalidInput as exc:
            raise UsageError(str(exc)) from None
    what = f"set the schedule of {job}: {calendar.describe()}" if calendar else ""
    what = what or f"clear the schedule of {job}"
    if not args.yes and not confirm(f"{what}?"):
        raise CommandFailed("not confirmed; nothing was written (pass --yes to skip the question)")
    shards = agreed_shards(store.shape(), ctx.settings())
    before, after = calendars.apply_schedule(
        store, job, calendar, actor=ctx.actor(), now=now, shards=shards
    )
    if args.output == "json":
        ctx.json({"before": before.as_dict() if before else None, "after": after.as_dict()})
    else:
        expected = calendars.expected_now(store, after, now)
        ctx.print("\n".join(schedule_lines(after, expected)))
    return EXIT_OK
