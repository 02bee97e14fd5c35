"""`remediator resolve` and `remediator cancel`: parse, call `remediator.ops.close`, render."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from observability.audit.shape import agreed_shards
from observability.models import BatchState, Status
from observability.models.keys import validate_id
from observability.notifier import Notifier
from observability.transitions import TableConfig
from remediator.cli.context import (
    EXIT_FAILED,
    EXIT_OK,
    CommandFailed,
    Context,
    confirm,
)
from remediator.ops import close
from remediator.ops.identity import Actor
from remediator.views.closing import closing_plan, closing_result

__all__ = ["add_closing_commands", "cmd_cancel", "cmd_resolve"]

_DONE_AS = {"resolve": "resolved", "cancel": "cancelled"}
# Outcomes of a batch that did what was asked.
_DONE = frozenset(_DONE_AS.values())

Act = Callable[[Sequence[BatchState], Actor, TableConfig], list[dict[str, Any]]]


def cmd_resolve(ctx: Context) -> int:
    note = close.checked_text("--note", ctx.args.note)
    notifier = Notifier(ctx.clients(), ctx.settings().topic_arn)
    return _close(
        ctx,
        verb="resolve",
        allowed=close.RESOLVABLE,
        becomes=Status.RESOLVED.value,
        act=lambda chosen, actor, table: close.resolve(
            ctx.store(), notifier, chosen, actor=actor, note=note, now=ctx.now(), table=table
        ),
    )


def cmd_cancel(ctx: Context) -> int:
    reason = close.checked_text("--reason", ctx.args.reason)
    return _close(
        ctx,
        verb="cancel",
        allowed=close.CANCELLABLE,
        becomes=f"{Status.EXHAUSTED.value} (cancelled)",
        act=lambda chosen, actor, table: close.cancel(
            ctx.store(), chosen, actor=actor, reason=reason, now=ctx.now(), table=table
        ),
    )


def add_closing_commands(
    command: Callable[[str, Callable[[Context], int], str, str], argparse.ArgumentParser],
    output: Callable[[argparse.ArgumentParser], None],
) -> None:
    """`resolve` and `cancel`, added through the parser's own `command` and `--output`."""
    for name, fn, help_, example, option, meaning in (
        (
            "resolve",
            cmd_resolve,
            "close FAILED or EXHAUSTED batches by hand (RESOLVED: pending() skips them, their "
            "alert is resolved); recorded with the caller's AWS identity",
            "remediator resolve ingest-sales 2024-05 --note 'rows patched by hand' --yes",
            "--note",
            "why it is closed, for the audit trail and the alert",
        ),
        (
            "cancel",
            cmd_cancel,
            "stop the automatic retries of FAILED batches now (EXHAUSTED, reason cancelled, "
            "no page); recorded with the caller's AWS identity",
            "remediator cancel ingest-sales 2024-05 --reason 'target down all day' --yes",
            "--reason",
            "why the retries stop, for the audit trail",
        ),
    ):
        p = command(name, fn, help_, example)
        p.add_argument("job")
        p.add_argument("batches", nargs="+", metavar="BATCH")
        p.add_argument(option, required=True, help=meaning)
        p.add_argument("--dry-run", action="store_true", help="show the plan; write nothing")
        p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        p.add_argument(
            "--operator", help="a name recorded beside the caller's AWS identity (not instead)"
        )
        output(p)


def _close(ctx: Context, *, verb: str, allowed: frozenset[Status], becomes: str, act: Act) -> int:
    args = ctx.args
    job = validate_id("job_id", args.job)
    store = ctx.store()
    try:
        chosen = close.select(
            store, job, args.batches, ctx.now(), allowed=allowed, verb=_DONE_AS[verb]
        )
    except close.NotClosable as exc:
        raise CommandFailed(str(exc)) from None
    plan = close.plan(chosen, becomes)
    if args.dry_run:
        if args.output == "json":
            ctx.json({"dry_run": True, "plan": plan})
        else:
            ctx.print(closing_plan(verb, job, plan))
            ctx.print("dry run: nothing was written")
        return EXIT_OK
    if args.output != "json":
        ctx.print(closing_plan(verb, job, plan))
    actor = ctx.actor()  # before the question: a caller who cannot be named is refused first
    if not args.yes and not confirm(f"{verb} {len(chosen)} batch(es) of {job}?"):
        raise CommandFailed("not confirmed; nothing was written (pass --yes to skip the question)")
    settings = ctx.settings()
    table = TableConfig(
        shards=agreed_shards(store.shape(), settings),
        stale_after_seconds=settings.stale_after_seconds,
        ttl_days=settings.ttl_days,
    )
    results = act(chosen, actor, table)
    if args.output == "json":
        ctx.json(
            {"dry_run": False, "actor": actor.arn, "operator": actor.operator, "results": results}
        )
    else:
        for result in results:
            ctx.print(closing_result(result))
    failed = [
        r for r in results if r["outcome"] not in _DONE or str(r.get("alert", "")).startswith("not")
    ]
    return EXIT_FAILED if failed else EXIT_OK
