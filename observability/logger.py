"""Structured JSON logs with fields bound for the life of a batch (job, batch, attempt, trace).

Fields live in a ContextVar, so threads and asyncio tasks each see their own batch.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

__all__ = ["JsonFormatter", "bind", "bound", "configure_logging", "get_logger"]

_CHATTY = ("boto3", "botocore", "urllib3")
_fields: ContextVar[dict[str, Any]] = ContextVar("observability_log_fields", default={})  # noqa: B039

# Attributes every LogRecord has; anything else came from `extra=` and is logged as a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def bound() -> dict[str, Any]:
    """The fields bound in this context."""
    return dict(_fields.get())


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add fields to every log line written inside the block."""
    token = _fields.set({**_fields.get(), **fields})
    try:
        yield
    finally:
        _fields.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, bound fields, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = dict(_fields.get())
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        # The core keys come last, so that no bound field or extra can shadow them.
        out.update(
            ts=datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            level=record.levelname,
            logger=record.name,
            message=record.getMessage(),
        )
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(
    level: str | int = "INFO", stream: IO[str] | None = None, *, replace: bool = False
) -> None:
    """Send the root logger's records, as JSON lines, to `stream` (stderr by default).

    A library never calls this for you (it would fight the application's own handlers);
    services and scripts call it once at start. `replace` removes the root handlers already
    there first: AWS Lambda's runtime installs one, which would print every record twice.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if replace or getattr(handler, "_observability", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._observability = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # The AWS SDK's INFO records ("Found credentials in environment variables") are noise
    # at INFO; they still show at DEBUG, and their warnings always.
    quiet = max(root.level, logging.WARNING)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(quiet if root.level > logging.DEBUG else logging.NOTSET)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
