"""`remediator explain JOB BATCH` and `remediator policy test JOB --error`: parse, read, call
`remediator.ops.explain`, render. Nothing is written."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from observability.models.keys import BatchKey, validate_id
from observability.retry import RetryPolicy
from observability.retry.backoff import RetryRule
from remediator.cli.commands import cmd_policy
from remediator.cli.context import EXIT_OK, CommandFailed, Context, UsageError, remediator_settings
from remediator.ops.explain import explain, try_error
from remediator.ops.holds import pause_told, read_holds
from remediator.ops.pause import pauses
from remediator.ops.schedule import parse_error
from remediator.views.explain import explanation, rule_test

__all__ = ["add_explain", "cmd_explain", "cmd_policy_or_test", "cmd_policy_test"]


def cmd_explain(ctx: Context) -> int:
    settings = remediator_settings(ctx)
    key = BatchKey.of(validate_id("job_id", ctx.args.job), ctx.args.batch)
    store, now = ctx.store(), ctx.now()
    state = store.get(key, now)
    if state is None:
        raise CommandFailed(f"no record of batch {key.job_id}/{key.batch_id}")
    job = store.job_policy(key.job_id)
    trigger = state.trigger or (job.trigger if job else None)
    # One more GetItem (the pauses item): the service reads the same one, every few seconds.
    pause = pauses(ctx.clients(), settings.table_name).holding(key.job_id, trigger, now)
    holds = read_holds(
        ctx.clients(), settings, state, trigger, now, paused=pause_told(pause) if pause else None
    )
    found = explain(
        state,
        store.history(key, now),
        now,
        job=job,
        fallback=RetryRule.from_settings(settings),
        holds=holds,
    )
    if ctx.args.output == "json":
        ctx.json(found.as_dict())
    else:
        ctx.print(explanation(found, now, ctx.style()))
    return EXIT_OK


def cmd_policy_test(ctx: Context) -> int:
    if not ctx.args.error:
        raise UsageError('policy test: give --error "Type: message" [--code CODE]')
    try:
        error = parse_error(
            ctx.args.error, ctx.args.code, exit_code=ctx.args.exit_code, reason=ctx.args.reason
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    job_id = validate_id("job_id", ctx.args.job)
    settings = ctx.settings()
    found = try_error(
        job_id,
        error,
        job=ctx.store().job_policy(job_id),
        settings=RetryPolicy.from_settings(settings),
        fallback=RetryRule.from_settings(settings),
    )
    if ctx.args.output == "json":
        ctx.json(found.as_dict())
    else:
        ctx.print(rule_test(found))
    return EXIT_OK


def cmd_policy_or_test(ctx: Context) -> int:
    """`policy test` here; show, set and clear are `cmd_policy`'s."""
    return cmd_policy_test(ctx) if ctx.args.action == "test" else cmd_policy(ctx)


def add_explain(
    command: Callable[..., Any], output: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Registers `explain` with the parser's `command` helper."""
    p = command(
        "explain",
        cmd_explain,
        "why a batch is (not) retried: its rule and layer, the episode, the next delays, "
        "when it gives up",
        "remediator explain ingest-sales 2024-05",
    )
    p.add_argument("job")
    p.add_argument("batch")
    output(p)
