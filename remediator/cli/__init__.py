"""The `remediator` command: parse, call the operations, the stack or the service, render.

Exit codes: 0 done, 1 failed, 2 usage. Errors are one line on stderr (`--debug` for the trace).
"""

from __future__ import annotations

import faulthandler
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TextIO

from observability.telemetry.setup import configure_tracing
from remediator.cli.context import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    UsageError,
)
from remediator.cli.failures import failure_line
from remediator.cli.parser import build_parser

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    *,
    early_signal: Callable[[], int | None] = lambda: None,
) -> int:
    # `kill -USR1 <pid>` prints every thread's stack to stderr: a hung process explains itself.
    if hasattr(signal, "SIGUSR1") and not faulthandler.is_enabled():
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_tracing("remediator")  # only when OTEL_* variables ask for it
    ctx = Context(args, out or sys.stdout, early_signal)
    try:
        return int(args.fn(ctx))
    except UsageError as exc:
        print(f"remediator: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # whatever answered: one line, the trace only with --debug
        if args.debug:
            traceback.print_exc()
        print(f"remediator: {failure_line(ctx, exc)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
