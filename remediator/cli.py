"""`remediator` command line: provision, run the service, and look at jobs and batches.

Exit codes: 0 done, 1 failed, 2 usage. Errors are one line on stderr (`--debug` for the trace).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from observability.audit import AuditStore
from observability.clients import AwsClients
from observability.errors import ObservabilityError
from observability.keys import BatchKey, validate_id
from observability.settings import Settings, load_settings
from remediator.errors import RemediatorError
from remediator.provision import bootstrap
from remediator.render import Style, history_table, is_stale, status_counts, status_table

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandFailed(Exception):
    """A command ran and found something wrong; the message is for the user."""


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
    resources = bootstrap(ctx.clients(), settings.table_name, prefix=ctx.args.prefix)
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
                    {**s.as_dict(), "stale": is_stale(s, now, settings.stale_after_seconds)}
                    for s in states
                ],
            }
        )
    else:
        ctx.print(status_table(job, states, now, settings.stale_after_seconds, ctx.style()))
    if not states:
        raise CommandFailed(f"no batches recorded for job {job!r} (check the job id and table)")
    return EXIT_OK


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


def _output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", "-o", choices=("table", "json"), default="table")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="remediator",
        description="Self-healing pipelines: provision, run the remediator, inspect jobs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
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
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = Context(args, out or sys.stdout)
    try:
        return int(args.fn(ctx))
    except (CommandFailed, ObservabilityError, RemediatorError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"remediator: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
