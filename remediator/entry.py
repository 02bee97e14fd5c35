"""The `remediator` command's first instructions: SIGTERM is handled before anything loads.

Importing the command (boto3, pydantic, the CLI) takes a good part of a second; ECS may stop
a task in that time. A SIGTERM then is noted here, not fatal: `run` starts already stopping
and exits 0; any other command stops before it does anything.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

__all__ = ["early_signal", "main"]

_received: list[int] = []


def _note(signum: int, _frame: FrameType | None) -> None:
    _received.append(signum)


def early_signal() -> int | None:
    """The SIGTERM received while the command was starting, if one was."""
    return _received[0] if _received else None


def main() -> int:
    previous = signal.signal(signal.SIGTERM, _note)
    from remediator.cli import main as command  # the heavy imports

    if _received:
        return 0  # stopped while starting: nothing was in hand
    if sys.argv[1:2] != ["run"]:
        signal.signal(signal.SIGTERM, previous)  # other commands stop as they always did
    return command(early_signal=early_signal)  # handed down to `run`'s signal handlers


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
