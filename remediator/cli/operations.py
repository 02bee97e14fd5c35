"""`remediator replay --all-jobs | --job JOB ...` (a bulk replay stored in the table) and
`remediator operations [show ID | cancel ID]`: parse, call `remediator.ops.operations`,
render."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable

from observability.models import TERMINAL_FAILURES, Status
from observability.models.keys import validate_id
from remediator.bulk.items import OperationItems
from remediator.bulk.model import ACTIVE, DONE
from remediator.cli.context import (
    EXIT_FAILED,
    EXIT_OK,
    CommandFailed,
    Context,
    UsageError,
    confirm,
    parse_since,
)
from remediator.ops import operations
from remediator.ops import replay as replaying
from remediator.views.operations import follow_bar, operation_detail, operations_table

__all__ = ["add_bulk_flags", "add_operations_command", "cmd_bulk_replay", "cmd_operations"]

_POLL_SECONDS = 1.0


def add_bulk_flags(p: argparse.ArgumentParser) -> None:
    """`replay`'s flags for a stored operation across jobs."""
    p.add_argument("--all-jobs", action="store_true", help="store an operation over every job")
    p.add_argument("--job", dest="jobs", action="append", metavar="JOB",
                   help="store an operation over this job (repeatable)")  # fmt: skip
    p.add_argument("--status", action="append", choices=sorted(s.value for s in
                   operations.BULK_STATUSES), help="with --all-jobs/--job: only this status "
                   "(repeatable; default FAILED and EXHAUSTED)")  # fmt: skip
    p.add_argument("--error-match", metavar="REGEX", help="with --all-jobs/--job: the stored "
                   "error message matches")  # fmt: skip
    p.add_argument("--rule", help="with --all-jobs/--job: failures governed by this rule")
    p.add_argument("--max-in-flight", type=_count, default=10, metavar="N", help="with --all-jobs"
                   "/--job: at most N of its batches STARTED or RETRYING (default 10)")  # fmt: skip
    p.add_argument("--follow", action="store_true", help="show its progress until it ends")


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be from 1 to 1000")
    return value


def _statuses(args: argparse.Namespace) -> frozenset[Status]:
    statuses = frozenset(Status(s) for s in args.status or ()) or TERMINAL_FAILURES
    if Status.SUCCESS in statuses and not args.include_success:
        raise UsageError("--status SUCCESS reprocesses batches that succeeded: --include-success")
    if args.include_success:
        statuses |= {Status.SUCCESS}
    return statuses


def cmd_bulk_replay(ctx: Context) -> int:
    args = ctx.args
    if args.job is not None or args.batches:
        raise UsageError("--all-jobs and --job select by filter: name no JOB or BATCH before them")
    if args.all_jobs and args.jobs:
        raise UsageError("--all-jobs or --job JOB, not both")
    if args.all_failed or args.range or args.create:
        raise UsageError("--all-failed, --range and --create name batches of one JOB")
    settings = ctx.settings()
    now = ctx.now()
    jobs = None if args.all_jobs else tuple(validate_id("job_id", j) for j in args.jobs)
    try:
        flt = operations.Filter(
            jobs, _statuses(args), error_type=args.error_type, error_match=args.error_match,
            rule=args.rule, since=parse_since(args.since, now) if args.since else None,
        )  # fmt: skip
        chosen = operations.select(ctx.store(), now, flt, shards=settings.retry_shards)
    except operations.NotSelectable as exc:
        raise CommandFailed(str(exc)) from None
    if args.dry_run:
        if args.output == "json":
            ctx.json({"dry_run": True, "filter": flt.as_dict(), "plan": replaying.plan(chosen)})
        else:
            ctx.print(f"plan: an operation of {len(chosen)} batch(es), at most "
                      f"{args.max_in_flight} at once")  # fmt: skip
            for s in chosen[:20]:
                ctx.print(f"  {s.job_id}/{s.batch_id} ({s.status.value}, attempt {s.attempt})")
            if len(chosen) > 20:
                ctx.print(f"  ... and {len(chosen) - 20} more")
            ctx.print("dry run: nothing was stored")
        return EXIT_OK
    actor = ctx.actor()  # before the question: a caller who cannot be named is refused first
    question = f"store an operation re-triggering {len(chosen)} batch(es)?"
    if not args.yes and not confirm(question):
        raise CommandFailed("not confirmed; nothing was stored (pass --yes to skip the question)")
    items = OperationItems(ctx.clients(), settings.table_name)
    op = operations.create(
        items, chosen, flt, actor=actor, now=now, max_in_flight=args.max_in_flight,
        rate=args.rate, reason=args.reason, max_attempts=args.max_attempts,
        ttl_days=settings.ttl_days,
    )  # fmt: skip
    if args.output == "json" and not args.follow:
        ctx.json({"operation_id": op.operation_id, "total": op.total, "actor": actor.arn})
        return EXIT_OK
    if args.output != "json":
        ctx.print(f"operation {op.operation_id} stored: {op.total} batch(es); the service "
                  f"carries it out (`remediator operations show {op.operation_id}`)")  # fmt: skip
        ctx.out.flush()
    if not args.follow:
        return EXIT_OK
    return _follow(ctx, items, op.operation_id)


def _follow(ctx: Context, items: OperationItems, operation_id: str) -> int:
    pause = threading.Event()
    first = items.get(operation_id, ctx.now())
    last = follow_bar(
        first,
        sys.stderr,
        poll=lambda: items.get(operation_id, ctx.now()),
        wait=lambda: pause.wait(_POLL_SECONDS),  # the service's progress, read once a second
    )
    if ctx.args.output == "json":
        ctx.json(last.as_dict())
    else:
        ctx.print(operation_detail(last))
    return EXIT_OK if last.state == DONE and not last.failed else EXIT_FAILED


def cmd_operations(ctx: Context) -> int:
    args = ctx.args
    items = OperationItems(ctx.clients(), ctx.settings().table_name)
    now = ctx.now()
    if args.action in (None, "list"):
        ops = items.all(now)
        if args.output == "json":
            ctx.json([op.as_dict() for op in ops])
        else:
            ctx.print(operations_table(ops, ctx.style()))
        return EXIT_OK
    if not args.id:
        raise UsageError(f"operations {args.action}: name the operation ID")
    op = operations.show(items, args.id, now)
    if args.action == "show":
        ctx.json(op.as_dict()) if args.output == "json" else ctx.print(operation_detail(op))
        return EXIT_OK
    if op.state != ACTIVE:
        raise CommandFailed(f"operation {op.operation_id} is {op.state}: nothing to cancel")
    if args.dry_run:
        if args.output == "json":
            ctx.json({"dry_run": True, "operation": op.as_dict()})
        else:
            ctx.print(f"would cancel operation {op.operation_id} ({op.progress()['left']} not "
                      "started); dry run: nothing was written")  # fmt: skip
        return EXIT_OK
    actor = ctx.actor()
    if not args.yes and not confirm(f"cancel operation {op.operation_id}?"):
        raise CommandFailed("not confirmed; nothing was written (pass --yes to skip the question)")
    cancelled, after = operations.cancel(items, op.operation_id, actor=actor, now=now)
    if args.output == "json":
        ctx.json({"dry_run": False, "cancelled": cancelled, "actor": actor.arn,
                  "operation": after.as_dict()})  # fmt: skip
    else:
        ctx.print(operation_detail(after))
    if not cancelled:
        raise CommandFailed(f"operation {op.operation_id} ended ({after.state}) before the cancel")
    return EXIT_OK


def add_operations_command(
    command: Callable[[str, Callable[[Context], int], str, str], argparse.ArgumentParser],
    output: Callable[[argparse.ArgumentParser], None],
) -> None:
    """`operations`, added through the parser's own `command` and `--output`."""
    p = command(
        "operations",
        cmd_operations,
        "bulk replays stored in the table and carried out by the service: list with progress, "
        "show one, cancel one (what is running finishes, nothing new starts)",
        "remediator operations cancel 20240501T120000-1a2b3c --yes",
    )
    p.add_argument("action", nargs="?", choices=("list", "show", "cancel"))
    p.add_argument("id", nargs="?", metavar="ID")
    p.add_argument("--dry-run", action="store_true", help="cancel: show it; write nothing")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--operator", help="a name recorded beside the caller's AWS identity")
    output(p)
