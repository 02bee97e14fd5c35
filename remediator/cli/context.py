"""What every command shares: its arguments, its output, lazily built settings and clients,
and the two errors a command raises (exit 1, exit 2)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from observability.audit import AuditStore
from observability.clients import AwsClients
from observability.settings import Settings, load_settings
from remediator.ops.identity import Actor, caller
from remediator.settings import RemediatorSettings
from remediator.views.render import Style

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandFailed",
    "Context",
    "UsageError",
    "confirm",
    "parse_moment",
    "parse_since",
    "parse_until",
    "remediator_settings",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandFailed(Exception):
    """A command ran and found something wrong; the message is for the user."""


class UsageError(Exception):
    """The command line asks for something contradictory: exit 2."""


class Context:
    """What every command needs, built lazily so `--help` never touches AWS."""

    def __init__(
        self,
        args: argparse.Namespace,
        out: TextIO,
        early_signal: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.args = args
        self.out = out
        self.early_signal = early_signal  # the entry point's: a SIGTERM while loading
        self._settings: Settings | None = None
        self._clients: AwsClients | None = None
        self._actor: Actor | None = None

    def settings(self, cls: type[Settings] = Settings) -> Settings:
        if self._settings is None or not isinstance(self._settings, cls):
            self._settings = load_settings(cls)
        return self._settings

    def clients(self) -> AwsClients:
        if self._clients is None:
            self._clients = AwsClients(region=self.settings().region)
        return self._clients

    def sts(self) -> Any:
        return self.clients().client("sts")

    def actor(self) -> Actor:
        """Who this command acts as: the caller's AWS identity, read once per command, and
        the declared `--operator` beside it (IdentityUnavailable when STS is out of reach)."""
        if self._actor is None:
            self._actor = caller(self.sts(), getattr(self.args, "operator", None))
        return self._actor

    def store(self) -> AuditStore:
        return AuditStore(self.clients(), self.settings().table_name)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def style(self) -> Style:
        return Style.for_stream(self.out)

    def json(self, data: Any) -> None:
        json.dump(data, self.out, indent=2, default=str)
        self.out.write("\n")

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")


def remediator_settings(ctx: Context) -> RemediatorSettings:
    settings = ctx.settings(RemediatorSettings)
    assert isinstance(settings, RemediatorSettings)
    return settings


def parse_since(text: str, now: datetime) -> datetime:
    """`2024-05-01T00:00:00Z`, or a span back from now: `30m`, `6h`, `2d`."""
    return parse_moment(text, now, flag="--since", sign=-1)


def parse_until(text: str, now: datetime) -> datetime:
    """`2024-05-01T06:00:00Z`, or a span forward from now: `30m`, `6h`, `2d`."""
    return parse_moment(text, now, flag="--until", sign=1)


def parse_moment(text: str, now: datetime, *, flag: str, sign: int) -> datetime:
    """An ISO 8601 time with its zone, or a span from now (`sign` says which way)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units and text[:-1].isdigit():
        return now + sign * timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected ISO 8601 or a span like 30m, 6h, 2d") from None
    if moment.tzinfo is None:
        raise UsageError(f"{flag} {text!r}: give a time zone (e.g. Z for UTC)")
    return moment.astimezone(UTC)


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError(f"{question} needs a confirmation: pass --yes when not on a terminal")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
