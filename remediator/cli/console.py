"""`remediator console`: the console served on loopback, with this shell's settings, AWS
credentials and identity (those a command would use); Ctrl-C stops it."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable

from remediator.cli.context import EXIT_OK, CommandFailed, Context, remediator_settings

__all__ = ["add_console_command", "cmd_console"]

_EXTRA_HINT = "the console needs its extra: pip install 'self-healing-pipelines[console]'"


def cmd_console(ctx: Context) -> int:
    try:
        from remediator.console.backend import Backend
        from remediator.console.server import Console
    except ImportError as exc:  # starlette, jinja2 or uvicorn missing
        raise CommandFailed(f"{_EXTRA_HINT} ({exc})") from None
    args = ctx.args
    backend = Backend(remediator_settings(ctx), ctx.clients())
    backend.read_identity()  # shown in the header; an unknown caller can read, not act
    try:
        console = Console(backend, host=args.host, port=args.port, read_only=args.read_only)
    except OSError as exc:
        raise CommandFailed(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    mode = "read-only" if args.read_only else "reads and acts"
    who = backend.identity or f"nobody ({backend.identity_error})"
    ctx.print(f"console: {console.url} ({mode}, as {who}); Ctrl-C stops it")
    ctx.out.flush()
    # uvicorn stops on Ctrl-C, then raises it again: the console is done, and that is all.
    with contextlib.suppress(KeyboardInterrupt):
        console.serve()
    return EXIT_OK


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be from 0 (any free port) to 65535")
    return value


def add_console_command(
    command: Callable[[str, Callable[[Context], int], str, str], argparse.ArgumentParser],
) -> None:
    """`console`, added through the parser's own `command`."""
    p = command(
        "console",
        cmd_console,
        "the jobs, a job's grid, a batch's story and the operator's verbs in a browser, "
        "served on loopback with your AWS credentials (the `console` extra)",
        "remediator console --port 8765 --read-only",
    )
    p.add_argument("--port", type=_port, default=8765, help="port to listen on (default 8765)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--read-only", action="store_true", help="show no action; refuse every write")
