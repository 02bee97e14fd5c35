"""The command line's grammar: every command, its arguments and its help."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib import metadata
from typing import Any

from observability.retry.backoff import MAX_ATTEMPTS_LIMIT
from remediator.cli.closing import add_closing_commands
from remediator.cli.commands import (
    cmd_bootstrap,
    cmd_demo,
    cmd_doctor,
    cmd_failed,
    cmd_history,
    cmd_replay,
    cmd_run,
    cmd_status,
)
from remediator.cli.console import add_console_command
from remediator.cli.context import EXIT_USAGE, Context
from remediator.cli.explaining import add_explain, cmd_policy_or_test
from remediator.cli.operations import add_bulk_flags, add_operations_command
from remediator.cli.pausing import cmd_jobs, cmd_pause, cmd_resume
from remediator.cli.scheduling import add_schedule_command

__all__ = ["build_parser"]

_OPERATOR_HELP = "a name recorded beside the caller's AWS identity (never instead of it)"


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


def _version() -> str:
    try:
        return metadata.version("self-healing-pipelines")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="remediator",
        description="Self-healing pipelines: provision, run the remediator, inspect jobs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _debug(parser, default=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
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
        "re-trigger FAILED or EXHAUSTED batches now, recorded with the caller's AWS identity",
        "remediator replay ingest-sales 2024-05 2024-09 --reason 'schema fixed' --yes",
    )
    p.add_argument("job", nargs="?", help="the job (or select across jobs: --all-jobs, --job)")
    p.add_argument("batches", nargs="*", metavar="BATCH")
    p.add_argument("--all-failed", action="store_true", help="every FAILED/EXHAUSTED batch of JOB")
    p.add_argument("--include-success", action="store_true", help="reprocess SUCCESS batches too")
    p.add_argument("--range", metavar="FIRST..LAST", help="the recorded batches between two ids")
    p.add_argument("--create", action="store_true", help="run named batches never recorded "
                   "through the job's default trigger (a backfill)")  # fmt: skip
    add_bulk_flags(p)
    p.add_argument("--dry-run", action="store_true", help="show the plan; write nothing")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--reason", help="why, for the audit trail")
    p.add_argument("--operator", help=_OPERATOR_HELP)
    p.add_argument("--since", help="with --all-failed: updated since (ISO 8601, or 30m, 6h, 2d)")
    p.add_argument("--error-type", help="with --all-failed: only this error type")
    p.add_argument(
        "--rate", type=_positive, help="re-triggers per second at most for JOB (default 5); "
        "with --all-jobs/--job, starts per minute (default: no limit but --max-in-flight)",
    )  # fmt: skip
    p.add_argument(
        "--max-attempts",
        type=_attempts,
        help="attempts this replay may use (default: the cap of the failure's rule)",
    )
    _output(p)
    add_closing_commands(command, _output)

    p = command(
        "policy",
        cmd_policy_or_test,
        "a job's default retry policy and trigger (for batches that bring none): show, set, "
        "clear; every change audited; test: the rule an error would get",
        "remediator policy set ingest-sales --retry "
        """'{"rules":[{"name":"timeouts","errors":["TimeoutError"],"max_attempts":5}]}'""",
    )
    p.add_argument("action", choices=("show", "set", "clear", "test"))
    p.add_argument("job")
    p.add_argument("--retry", help="set: the retry policy as JSON (or @file)")
    p.add_argument("--trigger", help="set: the default trigger as JSON (or @file)")
    p.add_argument("--retry-only", action="store_true", help="clear: only the retry policy")
    p.add_argument("--trigger-only", action="store_true", help="clear: only the trigger")
    p.add_argument(
        "--source",
        help="set: a pipeline that does not import the library, whose runs (from AWS's "
        "state-change events) are this job's batches: glue:JOB_NAME or "
        "states:STATE_MACHINE_ARN",
    )
    p.add_argument("--source-only", action="store_true", help="clear: only the source")
    p.add_argument("--operator", help=_OPERATOR_HELP)
    p.add_argument("--error", help='test: the error, as "Type: message"')
    p.add_argument("--code", help="test: the error's code (ThrottlingException, ECONNRESET, 503)")
    p.add_argument("--exit-code", type=int, help="test: a stopped run's exit code (137)")
    p.add_argument("--reason", help="test: a stopped run's stop reason")
    _output(p)

    add_explain(command, _output)
    add_schedule_command(command, _output)
    _pausing(command)
    add_operations_command(command, _output)
    add_console_command(command)
    return parser


def _pausing(command: Callable[..., Any]) -> None:
    for name, fn, help_, example in (
        ("pause", cmd_pause, "hold the service's re-triggers of a job, or of a target "
         "(--target), until resumed or --until", "remediator pause ingest-sales --until 2h "
         "--reason 'warehouse maintenance' --yes"),
        ("resume", cmd_resume, "let a paused job's (or target's) due batches go, at the "
         "budget's pace; closes the job's open circuit", "remediator resume ingest-sales --yes"),
    ):  # fmt: skip
        p = command(name, fn, help_, example)
        p.add_argument("job", nargs="?", help="the job (or name a target with --target)")
        p.add_argument("--target", help="a queue URL/ARN, function, state machine, cluster")
        if name == "pause":
            p.add_argument("--until", help="ISO 8601 with a zone, or a span: 30m, 6h, 2d")
            p.add_argument("--reason", required=True, help="why, shown with the pause")
        p.add_argument("--operator", help="who you are, recorded beside your AWS identity")
        p.add_argument("--dry-run", action="store_true", help="show the change; write nothing")
        p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        _output(p)
    p = command(
        "jobs",
        cmd_jobs,
        "every job: failing, exhausted, running, stale, last success, paused (no table scan)",
        "remediator jobs --output json",
    )
    _output(p)
