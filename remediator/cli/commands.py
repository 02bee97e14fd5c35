"""Each command parses what it needs, calls the operations (or the stack, or the service),
and renders the result: no logic of its own."""

from __future__ import annotations

import signal
import sys
import threading

from observability.clients import AwsClients
from observability.errors import ConfigError, InvalidInput
from observability.logger import configure_logging
from observability.models.keys import validate_id
from observability.settings import load_settings
from observability.telemetry.metrics import Metrics
from remediator.cli.context import (
    EXIT_FAILED,
    EXIT_OK,
    CommandFailed,
    Context,
    UsageError,
    confirm,
    parse_since,
    remediator_settings,
)
from remediator.cli.operations import cmd_bulk_replay
from remediator.cli.pausing import held_batches, pause_lines
from remediator.cli.scheduling import expected_lines, job_expected
from remediator.ops import backfill
from remediator.ops import replay as replaying
from remediator.ops.failed import failed
from remediator.ops.history import history
from remediator.ops.identity import caller
from remediator.ops.names import check_job, check_name
from remediator.ops.policy import apply_change, parse_json_argument
from remediator.ops.status import batches, status
from remediator.remediation import Outcome, Remediator
from remediator.service import Service
from remediator.service.consumer import SignalConsumer
from remediator.settings import RemediatorSettings
from remediator.stack.demo import run_demo
from remediator.stack.doctor import FAIL, examine
from remediator.stack.provision import bootstrap
from remediator.views.render import (
    Progress,
    doctor_report,
    failed_table,
    history_table,
    render_policy,
    replay_plan,
    status_table,
)

__all__ = [
    "cmd_bootstrap",
    "cmd_demo",
    "cmd_doctor",
    "cmd_failed",
    "cmd_history",
    "cmd_policy",
    "cmd_replay",
    "cmd_run",
    "cmd_status",
]


def cmd_bootstrap(ctx: Context) -> int:
    settings = ctx.settings()
    explicit = "retry_shards" in settings.model_fields_set
    resources = bootstrap(
        ctx.clients(),
        settings.table_name,
        prefix=ctx.args.prefix,
        shards=settings.retry_shards if explicit else None,
    )
    if ctx.args.output == "json":
        ctx.json(resources.as_dict())
    else:
        for line in resources.exports():
            ctx.print(line)
    return EXIT_OK


def cmd_status(ctx: Context) -> int:
    settings = ctx.settings()
    job = validate_id("job_id", ctx.args.job)
    now = ctx.now()
    states = batches(ctx.store(), job, now)
    expected = job_expected(ctx, job, states, now)  # None: no calendar
    if not states and expected is None:  # a misspelt job is named, no empty table printed
        if ctx.args.output == "json":
            ctx.json({**status(job, states, now, settings.stale_after_seconds), "paused": {}})
        check_job(ctx.clients(), ctx.store(), job, now)
        raise CommandFailed(f"no batches recorded for job {job!r} (check the job id and table)")
    held = held_batches(ctx, states, now)
    if ctx.args.output == "json":
        paused = {k: p.as_dict() for k, p in held.items()}
        shown = status(job, states, now, settings.stale_after_seconds)
        ctx.json({**shown, "paused": paused, "expected": expected})
    else:
        for line in [*pause_lines(held, now), *expected_lines(expected)]:
            ctx.print(line)
        ctx.print(status_table(job, states, now, settings.stale_after_seconds, ctx.style()))
    return EXIT_OK


def cmd_run(ctx: Context) -> int:
    settings = remediator_settings(ctx)
    if not settings.queue_url:
        raise ConfigError(
            "REMEDIATOR_QUEUE_URL is not set: `remediator run` needs the signal queue"
        )
    configure_logging(ctx.args.log_level)
    remediator = Remediator(settings, clients=ctx.clients())
    remediator.agree_on_shape()  # a process configured otherwise than its table stops here
    # Its AWS identity, read once: the actor of every event it writes (unknown: it stops).
    remediator.context.identity = caller(ctx.sts()).arn
    consumer = SignalConsumer(
        ctx.clients(),
        settings.queue_url,
        wait_seconds=settings.poll_wait_seconds,
        visibility_timeout=settings.visibility_timeout_seconds,
    )
    service = Service(remediator, consumer)
    if not ctx.args.once:
        return service.run_forever(early_signal=ctx.early_signal)
    summary = service.run_once()
    if ctx.args.output == "json":
        ctx.json({"signals": summary.signals, "swept": summary.swept, "outcomes": summary.outcomes})
    else:
        outcomes = (
            ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items())) or "nothing to do"
        )
        ctx.print(f"signals {summary.signals}, swept {summary.swept}: {outcomes}")
    return EXIT_OK


def cmd_failed(ctx: Context) -> int:
    settings = ctx.settings()
    now = ctx.now()
    job, rule = ctx.args.job, ctx.args.rule
    states = failed(ctx.store(), now, shards=settings.retry_shards, job_id=job, rule=rule)
    if not states and job:
        check_job(ctx.clients(), ctx.store(), job, now)
    if not states and rule:
        # The rules that govern the failures there are: nothing failing, nothing to compare.
        others = failed(ctx.store(), now, shards=settings.retry_shards, job_id=job)
        if others:
            check_name("rule", rule, {s.rule for s in others if s.rule} | {"never"})
    held = held_batches(ctx, states, now)
    if ctx.args.output == "json":
        ctx.json([{**s.as_dict(), "paused": p.as_dict() if (p := held.get(s.key.token)) else None}
                  for s in states])  # fmt: skip
    elif states:
        ctx.print("\n".join([*pause_lines(held, now), failed_table(states, now, ctx.style())]))
    else:
        ctx.print("no FAILED or EXHAUSTED batches")
    return EXIT_OK


def cmd_replay(ctx: Context) -> int:
    args = ctx.args
    if args.all_jobs or args.jobs:
        return cmd_bulk_replay(ctx)  # a stored operation, carried out by the service
    settings = remediator_settings(ctx)
    if args.job is None:
        raise UsageError("name a JOB, or select across jobs with --all-jobs or --job JOB")
    job = validate_id("job_id", args.job)
    if bool(args.batches or args.range) == bool(args.all_failed):
        raise UsageError("name the batches (or a --range), or pass --all-failed (not both)")
    if (args.since or args.error_type) and not args.all_failed:
        raise UsageError("--since and --error-type select among --all-failed")
    if args.create and not args.batches:
        raise UsageError("--create backfills batch ids named on the command line")
    now = ctx.now()
    since = parse_since(args.since, now) if args.since else None
    store = ctx.store()
    try:
        between = replaying.parse_range(args.range) if args.range else None
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None
    try:
        chosen = replaying.select(
            store, job, now, batch_ids=args.batches, since=since, error_type=args.error_type,
            include_success=args.include_success, between=between, skip_unrecorded=args.create,
        )  # fmt: skip
        new = replaying.unrecorded(store, job, args.batches, now) if args.create else []
        if new:
            backfill.default_trigger(store, job)  # refused in one line when the job has none
    except (replaying.NotReplayable, backfill.NoDefaultTrigger) as exc:
        raise CommandFailed(str(exc)) from None
    if not chosen and not args.batches:
        check_job(ctx.clients(), store, job, now)
        if args.error_type:
            others = replaying.select(store, job, now, since=since)
            if others:
                check_name("error type", args.error_type, {s.error_type or "" for s in others})
    plan = replaying.plan(chosen) + [
        {"job_id": job, "batch_id": b, "status": None, "attempt": 0, "next_attempt": 1,
         "backfill": True} for b in new
    ]  # fmt: skip
    if args.output == "json" and args.dry_run:
        ctx.json({"dry_run": True, "plan": plan})
        return EXIT_OK
    if args.output != "json":
        ctx.print(replay_plan(chosen, ctx.style()))
        for batch_id in new:
            ctx.print(f"{batch_id}: never recorded: backfilled through the job's default trigger")
    if not plan:
        return EXIT_OK
    if args.dry_run:
        ctx.print("dry run: nothing was written or triggered")
        return EXIT_OK
    actor = ctx.actor()  # before the question: a caller who cannot be named is refused first
    if not args.yes and not confirm(f"re-trigger {len(plan)} batch(es) of {job}?"):
        raise CommandFailed(
            "not confirmed; nothing was triggered (pass --yes to skip the question)"
        )
    # EMF lines belong to the service's log stream, not to a person's terminal.
    remediator = Remediator(settings, clients=ctx.clients(), metrics=Metrics(enabled=False))
    progress = Progress(len(plan), sys.stderr, show=len(plan) > 10 and sys.stderr.isatty())

    def done(batch_id: str, outcome: Outcome) -> None:
        progress.step()
        if args.output != "json" and not progress.show:
            ctx.print(f"{batch_id}: {outcome.kind} {' '.join(outcome.detail.values())}".rstrip())

    results = replaying.replay_all(
        remediator, chosen, actor=actor, reason=args.reason, max_attempts=args.max_attempts,
        include_success=args.include_success, rate=args.rate or 5.0,
        done=lambda state, outcome: done(state.batch_id, outcome),
    )  # fmt: skip
    for batch_id in new:
        outcome = backfill.backfill(remediator, job, batch_id, actor=actor, reason=args.reason)
        done(batch_id, outcome)
        results.append({"batch_id": batch_id, "outcome": outcome.kind, "backfill": "true",
                        **outcome.detail})  # fmt: skip
    if args.output == "json":
        ctx.json(
            {"dry_run": False, "actor": actor.arn, "operator": actor.operator, "results": results}
        )
    failures = [r for r in results if r["outcome"] != "triggered"]
    return EXIT_FAILED if failures else EXIT_OK


def cmd_demo(ctx: Context) -> int:
    if ctx.args.output == "json":
        raise UsageError("demo tells a story: it has no --output json")

    def wait_forever() -> None:
        # Explicit handlers: a process started in the background by a shell inherits SIGINT
        # as ignored, and then Ctrl-C would never become a KeyboardInterrupt.
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
        ctx.print("\nstopped")

    result = run_demo(
        ctx.out, colour=ctx.style().colour, keep=ctx.args.keep, wait_forever=wait_forever
    )
    if not result.ok:
        raise CommandFailed(
            f"the story did not complete in time (healed={result.healed}, "
            f"exhausted={result.exhausted}, alerts={result.alerts})"
        )
    return EXIT_OK


def cmd_doctor(ctx: Context) -> int:
    findings = examine(
        lambda: load_settings(RemediatorSettings),
        lambda settings: AwsClients(region=settings.region),
    )
    if ctx.args.output == "json":
        ctx.json([f.as_dict() for f in findings])
    else:
        ctx.print(doctor_report(findings, ctx.style()))
    return EXIT_FAILED if any(f.status == FAIL for f in findings) else EXIT_OK


def cmd_history(ctx: Context) -> int:
    job, batch = ctx.args.job, ctx.args.batch
    events = history(ctx.store(), job, batch, ctx.now())
    if ctx.args.output == "json":  # JSON stays a document, empty or not
        ctx.json([e.as_dict() for e in events])
    elif events:
        ctx.print(history_table(events, ctx.style()))
    if not events:
        check_job(ctx.clients(), ctx.store(), job, ctx.now())
        raise CommandFailed(f"no history for batch {job}/{batch}")
    return EXIT_OK


def cmd_policy(ctx: Context) -> int:
    args = ctx.args
    job = validate_id("job_id", args.job)
    store = ctx.store()
    if args.action == "show":
        policy = store.job_policy(job)
        if policy is None:
            check_job(ctx.clients(), store, job, ctx.now())
        if args.output == "json":
            empty = {"job_id": job, "retry": None, "trigger": None}
            ctx.json(policy.as_dict() if policy else empty)
        else:
            ctx.print(render_policy(policy, job))
        return EXIT_OK
    actor = ctx.actor()
    if args.action == "set":
        if args.retry is None and args.trigger is None and args.source is None:
            raise UsageError(
                "policy set: give --retry JSON and/or --trigger JSON (or @file), or --source"
            )
        before, after = apply_change(
            store,
            job,
            actor=actor,
            now=ctx.now(),
            retry=parse_json_argument("--retry", args.retry) if args.retry else None,
            trigger=parse_json_argument("--trigger", args.trigger) if args.trigger else None,
            source=args.source,
        )
    else:
        both = not (args.retry_only or args.trigger_only or args.source_only)
        before, after = apply_change(
            store,
            job,
            actor=actor,
            now=ctx.now(),
            clear_retry=both or args.retry_only,
            clear_trigger=both or args.trigger_only,
            clear_source=args.source_only,
        )
    if args.output == "json":
        ctx.json({"before": before.as_dict() if before else None, "after": after.as_dict()})
    else:
        ctx.print(render_policy(after, job))
    return EXIT_OK
