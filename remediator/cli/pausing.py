"""`pause`, `resume` and `jobs`: parse, call remediator.ops, render. No logic of their own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from observability.audit.jobs import JobPolicy
from observability.errors import InvalidInput
from observability.models import BatchState
from remediator.cli.context import (
    EXIT_OK,
    CommandFailed,
    Context,
    UsageError,
    confirm,
    parse_until,
)
from remediator.guards.pauses import Pause, scope_attribute
from remediator.ops import jobs as listing
from remediator.ops import pause as pausing
from remediator.views.render import relative, table

__all__ = [
    "cmd_jobs",
    "cmd_pause",
    "cmd_resume",
    "describe_pause",
    "held_batches",
    "pause_lines",
]


def describe_pause(pause: Pause, now: datetime) -> str:
    """One line: what is paused, by whom, why, until when."""
    who = f"{pause.actor} ({pause.operator})" if pause.operator else pause.actor
    until = f" until {pause.until} ({relative(pause.until, now)})" if pause.until else ""
    return f"PAUSED {pause.scope} {pause.name} by {who} at {pause.at}{until}: {pause.reason}"


def _scope(ctx: Context) -> pausing.Scope:
    try:
        return pausing.Scope.of(ctx.args.job, ctx.args.target)
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None


def cmd_pause(ctx: Context) -> int:
    args = ctx.args
    scope = _scope(ctx)
    now = ctx.now()
    until = parse_until(args.until, now) if args.until else None
    actor = ctx.actor()
    try:
        planned = pausing.plan_pause(scope, actor=actor, now=now, reason=args.reason, until=until)
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None
    if args.dry_run:
        if args.output == "json":
            ctx.json({"dry_run": True, "pause": planned.as_dict()})
        else:
            ctx.print(f"would write: {describe_pause(planned, now)}")
            ctx.print("dry run: nothing was written")
        return EXIT_OK
    if not args.yes and not confirm(f"pause {scope.kind} {scope.name}?"):
        raise CommandFailed("not confirmed; nothing was written (pass --yes to skip the question)")
    result = pausing.pause(ctx.clients(), ctx.settings().table_name, planned)
    if args.output == "json":
        ctx.json({"dry_run": False, **result})
    else:
        ctx.print(describe_pause(planned, now))
    return EXIT_OK


def cmd_resume(ctx: Context) -> int:
    args = ctx.args
    scope = _scope(ctx)
    now = ctx.now()
    actor = ctx.actor()
    table_name = ctx.settings().table_name
    if args.dry_run:
        held = pausing.pauses(ctx.clients(), table_name)
        current = held.pauses.get(scope_attribute(scope.kind, scope.name))
        current = current if current and current.active(now) else None
        if args.output == "json":
            ctx.json({"dry_run": True, "would_resume": current.as_dict() if current else None})
        else:
            ctx.print(f"would resume: {describe_pause(current, now)}" if current else "not paused")
            ctx.print("dry run: nothing was written")
        return EXIT_OK
    if not args.yes and not confirm(f"resume {scope.kind} {scope.name}?"):
        raise CommandFailed("not confirmed; nothing was written (pass --yes to skip the question)")
    try:
        result = pausing.resume(ctx.clients(), table_name, scope, actor=actor, now=now)
    except pausing.NotPaused as exc:
        raise CommandFailed(str(exc)) from None
    if args.output == "json":
        ctx.json({"dry_run": False, **result})
    else:
        closed = " (its open circuit closed)" if result["circuit_closed"] else ""
        ctx.print(f"resumed {scope.kind} {scope.name} by {actor}{closed}")
    return EXIT_OK


def cmd_jobs(ctx: Context) -> int:
    settings = ctx.settings()
    now = ctx.now()
    found = listing.jobs(ctx.clients(), settings.table_name, now, shards=settings.retry_shards)
    if ctx.args.output == "json":
        ctx.json([j.as_dict() for j in found])
        return EXIT_OK
    if not found:
        ctx.print("no jobs recorded yet")
        return EXIT_OK
    style = ctx.style()
    # A LATE column only where some job has a calendar: the others' table stays as it was.
    late = any(j.late is not None for j in found)
    rows = [
        [
            j.job_id,
            *(str(j.counts[k]) if j.counts[k] else "-" for k in listing.ATTENTION),
            *([str(j.late) if j.late else "-"] if late else []),
            relative(j.last_success_at, now) if j.last_success_at else "never",
            style.status("PAUSED") + f" by {j.paused.actor}" if j.paused else "",
        ]
        for j in found
    ]
    heads = ["JOB", *(k.upper() for k in listing.ATTENTION), *(["LATE"] if late else [])]
    ctx.print(table([*heads, "LAST SUCCESS", "PAUSED"], rows))
    return EXIT_OK


def held_batches(ctx: Context, states: Sequence[BatchState], now: datetime) -> dict[str, Pause]:
    """The pause holding each of `states` (by batch token), for `failed` and `status`: one
    read of the pauses item, and of a job's policy only while a target is paused."""
    held = pausing.pauses(ctx.clients(), ctx.settings().table_name)
    if not held.active(now):
        return {}
    store, policies = ctx.store(), dict[str, JobPolicy | None]()
    found: dict[str, Pause] = {}
    for state in states:
        trigger = state.trigger
        if trigger is None and held.targets_paused(now):
            if state.job_id not in policies:
                policies[state.job_id] = store.job_policy(state.job_id)
            policy = policies[state.job_id]
            trigger = policy.trigger if policy else None
        pause = held.holding(state.job_id, trigger, now)
        if pause is not None:
            found[state.key.token] = pause
    return found


def pause_lines(held: dict[str, Pause], now: datetime) -> list[str]:
    """Each pause once, for the lines above a table."""
    return [describe_pause(p, now) for p in {p.attribute: p for p in held.values()}.values()]
