"""Describe any exception as text that can be stored and sent, without ever raising. Pure.

A pipeline's exception is recorded (DynamoDB) and signalled (SNS), both of which need valid
UTF-8. An exception's text can be anything: a path decoded with `surrogateescape` carries
lone surrogates, and a `__str__` may raise or return something that is not a string. The
pipeline's own exception must still be the one it sees, so describing it can never fail.
"""

from __future__ import annotations

import re

__all__ = ["MAX_ERROR_CHARS", "REPLACEMENT", "describe_exception", "printable", "truncate"]

MAX_ERROR_CHARS = 1024
REPLACEMENT = "\ufffd"
_SURROGATES = re.compile("[\ud800-\udfff]")
_UNKNOWN_TYPE = "Exception"


def printable(text: str) -> str:
    """`text` as valid Unicode: each lone surrogate becomes U+FFFD (nothing else changes)."""
    return _SURROGATES.sub(REPLACEMENT, text)


def _exact(value: object) -> str | None:
    """An exact `str` copy of a string (subclasses may override anything), else None."""
    if isinstance(value, str):
        return printable(str.__str__(value))
    return None


def _type_name(exc: BaseException) -> str:
    try:
        name = _exact(type(exc).__name__)
    except Exception:  # a metaclass can make even the name raise
        name = None
    return name or _UNKNOWN_TYPE


def _text(exc: BaseException) -> str | None:
    try:
        return _exact(str(exc))
    except Exception:  # its __str__ raised, or returned something that is not a string
        return None


def describe_exception(exc: BaseException) -> tuple[str, str]:
    """(type name, message) of any exception, both valid Unicode and non-empty; never raises.

    The message is the exception's text, or its type name when it has none, or a line
    saying its text could not be read.
    """
    name = _type_name(exc)
    text = _text(exc)
    if text is None:
        return name, f"{name} (its message could not be read)"
    return name, text or name


def truncate(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
