"""`remediator` command line: provision, run the service, and look at jobs and batches.

Exit codes: 0 done, 1 failed, 2 usage. Errors are one line on stderr (`--debug` for the trace).
"""

from __future__ import annotations

import argparse
import faulthandler
import getpass
import json
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from observability.audit import AuditStore
from observability.clients import AwsClients
from observability.errors import ConfigError, ObservabilityError
from observability.logger import configure_logging
from observability.models import TERMINAL_FAILURES, iso
from observability.models.keys import BatchKey, exhausted_partitions, failed_partitions, validate_id
from observability.retry.backoff import MAX_ATTEMPTS_LIMIT
from observability.settings import Settings, load_settings
from observability.telemetry.metrics import Metrics
from observability.telemetry.tracing import configure_tracing
from remediator.consumer import SignalConsumer
from remediator.demo import run_demo
from remediator.diagnose import explain
from remediator.doctor import FAIL, examine
from remediator.errors import RemediatorError
from remediator.job_policy import apply_change, parse_json_argument, render_policy
from remediator.provision import bootstrap
from remediator.remediation import Remediator
from remediator.render import (
    Progress,
    Style,
    doctor_report,
    failed_table,
    history_table,
    is_stale,
    replay_plan,
    shown_attempt,
    status_counts,
    status_table,
)
from remediator.service import Service
from remediator.settings import RemediatorSettings

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandFailed(Exception):
    """A command ran and found something wrong; the message is for the user."""


class UsageError(Exception):
    """The command line asks for something contradictory: exit 2."""


class Context:
    """What every command needs, built lazily so `--help` never touches AWS."""

    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        self._settings: Settings | None = None
        self._clients: AwsClients | None = None

    def settings(self, cls: type[Settings] = Settings) -> Settings:
        if self._settings is None or not isinstance(self._settings, cls):
            self._settings = load_settings(cls)
        return self._settings

    def clients(self) -> AwsClients:
        if self._clients is None:
            self._clients = AwsClients(region=self.settings().region)
        return self._clients

    def store(self) -> AuditStore:
        return AuditStore(self.clients(), self.settings().table_name)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def style(self) -> Style:
        return Style(colour=self.out.isatty())

    def json(self, data: Any) -> None:
        json.dump(data, self.out, indent=2, default=str)
        self.out.write("\n")

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")


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
    states = list(ctx.store().states(job, now))
    if ctx.args.output == "json":
        ctx.json(
            {
                "job_id": job,
                "counts": status_counts(states),
                "batches": [
                    {
                        **s.as_dict(),
                        "attempt": shown_attempt(s),
                        "stale": is_stale(s, now, settings.stale_after_seconds),
                    }
                    for s in states
                ],
            }
        )
    else:
        ctx.print(status_table(job, states, now, settings.stale_after_seconds, ctx.style()))
    if not states:
        raise CommandFailed(f"no batches recorded for job {job!r} (check the job id and table)")
    return EXIT_OK


def _remediator_settings(ctx: Context) -> RemediatorSettings:
    settings = ctx.settings(RemediatorSettings)
    assert isinstance(settings, RemediatorSettings)
    return settings


def cmd_run(ctx: Context) -> int:
    settings = _remediator_settings(ctx)
    if not settings.queue_url:
        raise ConfigError(
            "REMEDIATOR_QUEUE_URL is not set: `remediator run` needs the signal queue"
        )
    configure_logging(ctx.args.log_level)
    remediator = Remediator(settings, clients=ctx.clients())
    remediator.agree_on_shape()  # a process configured otherwise than its table stops here
    consumer = SignalConsumer(
        ctx.clients(),
        settings.queue_url,
        wait_seconds=settings.poll_wait_seconds,
        visibility_timeout=settings.visibility_timeout_seconds,
    )
    service = Service(remediator, consumer)
    if not ctx.args.once:
        return service.run_forever()
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
    store = ctx.store()
    if ctx.args.job:
        job = validate_id("job_id", ctx.args.job)
        states = [s for s in store.states(job, now) if s.status in TERMINAL_FAILURES]
    else:
        shape = store.shape()
        shards = shape.shards if shape else settings.retry_shards
        partitions = failed_partitions(shards) + exhausted_partitions(shards)
        far = now + timedelta(days=3650)
        hints = [
            s
            for p in partitions
            for s in store.due(p, until=far, now=now)
            if s.status in TERMINAL_FAILURES
        ]
        # The index holds what the sweep needs; the items hold the errors people read.
        jobs: dict[str, list[str]] = {}
        for hint in hints:
            jobs.setdefault(hint.job_id, []).append(hint.batch_id)
        states = [
            s
            for job_id, batch_ids in jobs.items()
            for s in store.get_many(job_id, batch_ids, now).values()
            if s.status in TERMINAL_FAILURES
        ]
        states.sort(key=lambda s: (s.job_id, s.batch_id))
    if ctx.args.rule:
        states = [s for s in states if s.rule == ctx.args.rule]
    if ctx.args.output == "json":
        ctx.json([s.as_dict() for s in states])
    elif states:
        ctx.print(failed_table(states, now, ctx.style()))
    else:
        ctx.print("no FAILED or EXHAUSTED batches")
    return EXIT_OK


def cmd_replay(ctx: Context) -> int:
    settings = _remediator_settings(ctx)
    args = ctx.args
    job = validate_id("job_id", args.job)
    if bool(args.batches) == bool(args.all_failed):
        raise UsageError("name the batches to replay, or pass --all-failed (not both)")
    if (args.since or args.error_type) and not args.all_failed:
        raise UsageError("--since and --error-type select among --all-failed")
    now = ctx.now()
    store = ctx.store()
    if args.all_failed:
        chosen = [s for s in store.states(job, now) if s.status in TERMINAL_FAILURES]
        if args.since:
            since = iso(parse_since(args.since, now))
            chosen = [s for s in chosen if (s.updated_at or "") >= since]
        if args.error_type:
            chosen = [s for s in chosen if s.error_type == args.error_type]
    else:
        # Named twice is meant once (BatchGetItem refuses duplicate keys): first mention wins.
        keys = list(dict.fromkeys(BatchKey.of(job, b) for b in args.batches))
        found = store.get_many(job, [k.batch_id for k in keys], now)
        missing = [k.batch_id for k in keys if k.batch_id not in found]
        if missing:
            raise CommandFailed(f"no record of batch(es) {', '.join(missing)} in job {job!r}")
        chosen = [found[k.batch_id] for k in keys]
        refused = [s for s in chosen if s.status not in TERMINAL_FAILURES]
        if refused:
            listing = ", ".join(f"{s.batch_id} ({s.status.value})" for s in refused)
            raise CommandFailed(f"only FAILED or EXHAUSTED batches are replayed; not {listing}")
    plan = [
        {
            "job_id": s.job_id,
            "batch_id": s.batch_id,
            "status": s.status.value,
            "attempt": s.attempt,
            "next_attempt": s.attempt + 1,
        }
        for s in chosen
    ]
    if args.output == "json" and args.dry_run:
        ctx.json({"dry_run": True, "plan": plan})
        return EXIT_OK
    if args.output != "json":
        ctx.print(replay_plan(chosen, ctx.style()))
    if not chosen:
        return EXIT_OK
    if args.dry_run:
        ctx.print("dry run: nothing was written or triggered")
        return EXIT_OK
    if not args.yes and not _confirm(f"re-trigger {len(chosen)} batch(es) of {job}?"):
        raise CommandFailed(
            "not confirmed; nothing was triggered (pass --yes to skip the question)"
        )
    # EMF lines belong to the service's log stream, not to a person's terminal.
    remediator = Remediator(settings, clients=ctx.clients(), metrics=Metrics(enabled=False))
    operator = args.operator or _operator()
    results = []
    progress = Progress(len(chosen), sys.stderr, show=len(chosen) > 10 and sys.stderr.isatty())
    pause = 1.0 / args.rate
    for index, state in enumerate(chosen):
        if index:
            time.sleep(pause)  # a replay of hundreds must not stampede the downstream
        outcome = remediator.replay(
            state, operator=operator, reason=args.reason, max_attempts=args.max_attempts
        )
        progress.step()
        results.append({"batch_id": state.batch_id, "outcome": outcome.kind, **outcome.detail})
        if args.output != "json" and not progress.show:
            ctx.print(
                f"{state.batch_id}: {outcome.kind} {' '.join(outcome.detail.values())}".rstrip()
            )
    if args.output == "json":
        ctx.json({"dry_run": False, "operator": operator, "results": results})
    failed = [r for r in results if r["outcome"] != "triggered"]
    return EXIT_FAILED if failed else EXIT_OK


def _attempts(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_ATTEMPTS_LIMIT:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_ATTEMPTS_LIMIT}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def parse_since(text: str, now: datetime) -> datetime:
    """`2024-05-01T00:00:00Z`, or a span back from now: `30m`, `6h`, `2d`."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units and text[:-1].isdigit():
        return now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {text!r}: expected ISO 8601 or a span like 30m, 6h, 2d"
        ) from None
    if moment.tzinfo is None:
        raise UsageError(f"--since {text!r}: give a time zone (e.g. Z for UTC)")
    return moment.astimezone(UTC)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError(f"{question} needs a confirmation: pass --yes when not on a terminal")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


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
        ctx.out, colour=ctx.out.isatty(), keep=ctx.args.keep, wait_forever=wait_forever
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
    key = BatchKey.of(ctx.args.job, ctx.args.batch)
    events = ctx.store().history(key, ctx.now())
    if ctx.args.output == "json":
        ctx.json([e.as_dict() for e in events])
    elif events:
        ctx.print(history_table(events, ctx.style()))
    if not events:
        raise CommandFailed(f"no history for batch {key.job_id}/{key.batch_id}")
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own usage errors: exit 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _output(p: argparse.ArgumentParser, default: str | None = None) -> None:
    # Accepted before or after the command: only the top level has a default, so a command's
    # parser never overwrites a value given before it.
    p.add_argument(
        "--output",
        "-o",
        choices=("table", "json"),
        default=default or argparse.SUPPRESS,
        help="table (default) or json",
    )


def _debug(p: argparse.ArgumentParser, default: bool | None = None) -> None:
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if default is None else default,
        help="show tracebacks",
    )


def cmd_policy(ctx: Context) -> int:
    args = ctx.args
    job = validate_id("job_id", args.job)
    store = ctx.store()
    if args.action == "show":
        policy = store.job_policy(job)
        if args.output == "json":
            empty = {"job_id": job, "retry": None, "trigger": None}
            ctx.json(policy.as_dict() if policy else empty)
        else:
            ctx.print(render_policy(policy, job))
        return EXIT_OK
    operator = args.operator or _operator()
    if args.action == "set":
        if args.retry is None and args.trigger is None:
            raise UsageError("policy set: give --retry JSON and/or --trigger JSON (or @file)")
        before, after = apply_change(
            store,
            job,
            actor=operator,
            now=ctx.now(),
            retry=parse_json_argument("--retry", args.retry) if args.retry else None,
            trigger=parse_json_argument("--trigger", args.trigger) if args.trigger else None,
        )
    else:
        both = not (args.retry_only or args.trigger_only)
        before, after = apply_change(
            store,
            job,
            actor=operator,
            now=ctx.now(),
            clear_retry=both or args.retry_only,
            clear_trigger=both or args.trigger_only,
        )
    if args.output == "json":
        ctx.json({"before": before.as_dict() if before else None, "after": after.as_dict()})
    else:
        ctx.print(render_policy(after, job))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="remediator",
        description="Self-healing pipelines: provision, run the remediator, inspect jobs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _debug(parser, default=False)
    _output(parser, default="table")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, fn: Callable[[Context], int], help_: str, example: str) -> Any:
        p = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(fn=fn)
        _debug(p)
        return p

    p = command(
        "bootstrap",
        cmd_bootstrap,
        "create the table (GSI, TTL), topic, queues and subscriptions; idempotent",
        'eval "$(remediator bootstrap)"',
    )
    p.add_argument("--prefix", help="name prefix of topic and queues (default: table name)")
    _output(p)

    p = command(
        "status",
        cmd_status,
        "per-batch table of a job, counts per status, stale runs flagged",
        "remediator status ingest-sales --output json",
    )
    p.add_argument("job")
    _output(p)

    p = command(
        "history",
        cmd_history,
        "the audit events of one batch, oldest first",
        "remediator history ingest-sales 2024-05",
    )
    p.add_argument("job")
    p.add_argument("batch")
    _output(p)

    p = command(
        "doctor",
        cmd_doctor,
        "check configuration, credentials, table, index, TTL, topic, queues, subscriptions",
        "remediator doctor",
    )
    _output(p)

    p = command(
        "demo",
        cmd_demo,
        "the whole story on an embedded local AWS (moto), no account needed",
        "remediator demo --keep",
    )
    p.add_argument("--keep", action="store_true", help="leave the local AWS up to try commands")
    _output(p)

    p = command(
        "run",
        cmd_run,
        "the service: hear signals, sweep the retry index, re-trigger, record",
        "remediator run --once",
    )
    p.add_argument("--once", action="store_true", help="drain waiting signals, sweep once, exit")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    _output(p)

    p = command(
        "failed",
        cmd_failed,
        "FAILED and EXHAUSTED batches across jobs (from the retry index, no table scan)",
        "remediator failed --job ingest-sales",
    )
    p.add_argument("--job", help="only this job")
    p.add_argument("--rule", help="only failures governed by this retry rule ('never' too)")
    _output(p)

    p = command(
        "replay",
        cmd_replay,
        "re-trigger FAILED or EXHAUSTED batches now, recorded with the operator's name",
        "remediator replay ingest-sales 2024-05 2024-09 --reason 'schema fixed' --yes",
    )
    p.add_argument("job")
    p.add_argument("batches", nargs="*", metavar="BATCH")
    p.add_argument("--all-failed", action="store_true", help="every FAILED/EXHAUSTED batch of JOB")
    p.add_argument("--dry-run", action="store_true", help="show the plan; write nothing")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--reason", help="why, for the audit trail")
    p.add_argument("--operator", help="who, for the audit trail (default: the login name)")
    p.add_argument("--since", help="with --all-failed: updated since (ISO 8601, or 30m, 6h, 2d)")
    p.add_argument("--error-type", help="with --all-failed: only this error type")
    p.add_argument(
        "--rate", type=_positive, default=5.0, help="re-triggers per second at most (default 5)"
    )
    p.add_argument(
        "--max-attempts",
        type=_attempts,
        help="attempts this replay may use (default: the cap of the failure's rule)",
    )
    _output(p)

    p = command(
        "policy",
        cmd_policy,
        "a job's default retry policy and trigger (for batches that bring none): show, set, "
        "clear; every change audited",
        "remediator policy set ingest-sales --retry "
        """'{"rules":[{"name":"timeouts","errors":["TimeoutError"],"max_attempts":5}]}'""",
    )
    p.add_argument("action", choices=("show", "set", "clear"))
    p.add_argument("job")
    p.add_argument("--retry", help="set: the retry policy as JSON (or @file)")
    p.add_argument("--trigger", help="set: the default trigger as JSON (or @file)")
    p.add_argument("--retry-only", action="store_true", help="clear: only the retry policy")
    p.add_argument("--trigger-only", action="store_true", help="clear: only the trigger")
    p.add_argument("--operator", help="who, for the audit trail (default: the login name)")
    _output(p)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    # `kill -USR1 <pid>` prints every thread's stack to stderr: a hung process explains itself.
    if hasattr(signal, "SIGUSR1") and not faulthandler.is_enabled():
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_tracing("remediator")  # only when OTEL_* variables ask for it
    ctx = Context(args, out or sys.stdout)
    try:
        return int(args.fn(ctx))
    except UsageError as exc:
        print(f"remediator: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (CommandFailed, ObservabilityError, RemediatorError, ClientError, BotoCoreError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"remediator: {explain(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
