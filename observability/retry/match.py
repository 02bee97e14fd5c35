"""What a rule can match an error by, besides its class names: its message and its code. Pure.

An error is read once, where it is recorded, into `ErrorFacts`: its class names, its message
(as stored: at most MAX_ERROR_CHARS characters), its code (`error_code`) and, for a run that
AWS stopped (a state-change event), its exit code and stop reason. A rule matches
when every field it gives matches; each field has one function here (`MATCHERS`), so a new
field is one function and one entry.

Regular expressions are user input run against error text at 3 a.m., so their cost is
bounded twice: the text is at most the stored message's length, and a pattern whose
backtracking could blow up is refused when the rule is built (Python's `re` has no
timeout, so no match is run with one): only a single character or class may repeat (a
group may only be optional: no nested quantifiers, no `(a|aa)*`), and the ways the
repeats can split a text, multiplied (a `*` counts as the message's length, `{1,3}` as 3),
stay within `_MAX_SPLITS`. One `.*` with a few small repeats is fine (milliseconds on 1024
characters); two `.*` cost a second at worst, three minutes, twenty `a?` hours: refused.
"""

from __future__ import annotations

import errno
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from observability.errors import InvalidInput
from observability.models.describe import MAX_ERROR_CHARS

with warnings.catch_warnings():  # the parser is what `re` itself uses; only its name moved
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants
    import sre_parse

__all__ = [
    "MATCHERS",
    "MAX_CODES",
    "MAX_CODE_CHARS",
    "MAX_PATTERN_CHARS",
    "ErrorFacts",
    "check_codes",
    "check_exit_code",
    "check_pattern",
    "check_reason",
    "error_code",
    "matches",
]

MAX_PATTERN_CHARS = 256
MAX_CODE_CHARS = 64
MAX_CODES = 20
_MAX_SPLITS = MAX_ERROR_CHARS * 64
_CODE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
# AWS Batch's `evaluateOnExit` globs: digits (or text) that may end with one `*`; 512 at most.
MAX_GLOB_CHARS = 512
_EXIT_GLOB = re.compile(r"^(?:[0-9]{1,10}\*?|\*)$")
# Where an HTTP client keeps the status of the reply an error is about.
_STATUS_PATHS = (("response", "status_code"), ("response", "status"), ("status_code",), ("status",))


@dataclass(frozen=True, slots=True)
class ErrorFacts:
    """An error as rules see it: class names (nearest first), message and code."""

    names: tuple[str, ...] = ()
    message: str = ""
    code: str | None = None
    exit_code: int | None = None
    reason: str | None = None


def _status(exc: BaseException) -> str | None:
    for path in _STATUS_PATHS:
        value: Any = exc
        for attribute in path:
            value = getattr(value, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return str(value)
    return None


def error_code(exc: BaseException) -> str | None:
    """The error's code: a botocore `ClientError`'s `Error.Code`, an `OSError`'s errno name
    (`ECONNREFUSED`), else an HTTP status from `response.status_code`, `response.status`,
    `status_code` or `status` (`503`). Read by duck typing: no client library imported."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error")
        code = error.get("Code") if isinstance(error, dict) else None
        if isinstance(code, str) and code:
            return code[:MAX_CODE_CHARS]
    number = getattr(exc, "errno", None) if isinstance(exc, OSError) else None
    if isinstance(number, int) and number in errno.errorcode:
        return errno.errorcode[number]
    return _status(exc)


def _position(pattern: str) -> int | None:
    """Where the first quantifier on a group is (a close parenthesis followed by one)."""
    found = re.search(r"(?<!\\)\)(?:[*+]|\{\d*,?\d*\})", pattern)
    return found.start() + 1 if found else None


_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT)
_SINGLE = (
    sre_constants.LITERAL,
    sre_constants.NOT_LITERAL,
    sre_constants.ANY,
    sre_constants.IN,
    sre_constants.CATEGORY,
)


def _splits(where: str, pattern: str, parsed: Any) -> int:
    """How many ways the repeats in `parsed` can split a text, multiplied (the factor a
    backtracking match can cost); InvalidInput for a quantified group."""
    count = 1
    for op, value in parsed:
        if op in _REPEATS:
            low, high, body = value
            items = list(body)
            span = min(high - low, MAX_ERROR_CHARS) + 1
            if high <= 1:  # optional (`(ab)?`): no repetition, only what it holds
                count *= span * _splits(where, pattern, body)
                continue
            if len(items) != 1 or items[0][0] not in _SINGLE:
                at = _position(pattern)
                raise InvalidInput(
                    where,
                    "quantifies a group"
                    + (f" at position {at}" if at is not None else "")
                    + ": only a single character or class may repeat (nested quantifiers "
                    "can backtrack for hours)",
                )
            count *= span
        elif op is sre_constants.SUBPATTERN:
            count *= _splits(where, pattern, value[-1])
        elif op is sre_constants.BRANCH:
            count *= sum(_splits(where, pattern, b) for b in value[1])
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            count *= _splits(where, pattern, value[1])
    return count


def check_pattern(where: str, pattern: object) -> str:
    """A rule's `message` pattern, or InvalidInput naming `where` and what is wrong (for a
    pattern `re` refuses, the position)."""
    if not isinstance(pattern, str) or not pattern:
        raise InvalidInput(where, "must be a regular expression (a non-empty string)")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidInput(where, f"is {len(pattern)} characters; the limit is {MAX_PATTERN_CHARS}")
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        problem = f"is not a regular expression: {exc.msg} at position {exc.pos}"
        raise InvalidInput(where, problem) from None
    if _splits(where, pattern, parsed) > _MAX_SPLITS:
        raise InvalidInput(
            where,
            "repeats too much to match in bounded time: at most one unbounded quantifier "
            "(*, +, {m,}) and a few small ones (?, {1,3})",
        )
    return pattern


def check_codes(where: str, value: object) -> tuple[str, ...]:
    """A rule's `code`: one code or a list of them (any matches)."""
    codes = (value,) if isinstance(value, str | int) else value
    if not isinstance(codes, tuple | list) or len(codes) > MAX_CODES:
        raise InvalidInput(where, f"must be a code or a list of at most {MAX_CODES} codes")
    out = []
    for code in codes:
        text = str(code) if isinstance(code, int) and not isinstance(code, bool) else code
        if not isinstance(text, str) or not _CODE.match(text):
            raise InvalidInput(
                where, f"must be codes of 1 to {MAX_CODE_CHARS} of A-Z a-z 0-9 _ . : / -"
            )
        out.append(text)
    return tuple(out)


def check_exit_code(where: str, value: object) -> str:
    """A rule's `exit_code`: a code (`137`) or a prefix glob (`13*`, `*`), as AWS Batch's
    `onExitCode` takes it."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _EXIT_GLOB.match(text):
        raise InvalidInput(where, "must be an exit code, optionally ending with *: 137, 13*, *")
    return text


def check_reason(where: str, value: object) -> str:
    """A rule's `reason`: the stop reason, exactly or as a prefix ending with `*` (as AWS
    Batch's `onReason`): a prefix test, so no pattern can cost more than the text's length."""
    if not isinstance(value, str) or not value or "*" in value[:-1]:
        raise InvalidInput(where, "must be a stop reason, optionally ending with * (a prefix)")
    if len(value) > MAX_GLOB_CHARS or not value.isprintable():
        raise InvalidInput(where, f"must be at most {MAX_GLOB_CHARS} printable characters")
    return value


def _glob(pattern: str, text: str) -> bool:
    return text.startswith(pattern[:-1]) if pattern.endswith("*") else text == pattern


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _by_errors(rule: Any, facts: ErrorFacts) -> str | None:
    wanted = set(facts.names)
    return next((e for e in rule.errors if e in wanted), None)


def _by_message(rule: Any, facts: ErrorFacts) -> str | None:
    # At most the stored message's length: what a pattern may cost is bounded by it.
    found = _compiled(rule.message).search(facts.message[:MAX_ERROR_CHARS])
    return f"message /{rule.message}/" if found else None


def _by_code(rule: Any, facts: ErrorFacts) -> str | None:
    return f"code {facts.code}" if facts.code is not None and facts.code in rule.code else None


def _by_exit_code(rule: Any, facts: ErrorFacts) -> str | None:
    if facts.exit_code is None or not _glob(rule.exit_code, str(facts.exit_code)):
        return None
    return f"exit code {facts.exit_code}"


def _by_reason(rule: Any, facts: ErrorFacts) -> str | None:
    return f"reason {rule.reason!r}" if facts.reason and _glob(rule.reason, facts.reason) else None


# Per field: the function that says whether the error matches it, and how (None: not).
MATCHERS: tuple[tuple[str, Callable[[Any, ErrorFacts], str | None]], ...] = (
    ("errors", _by_errors),
    ("message", _by_message),
    ("code", _by_code),
    ("exit_code", _by_exit_code),
    ("reason", _by_reason),
)


def matches(rule: Any, facts: ErrorFacts) -> str | None:
    """How `rule` matches the error (`RuntimeError, message /oom/`), or None when a field it
    gives does not match (or it gives none)."""
    hits = []
    for name, test in MATCHERS:
        if not getattr(rule, name):
            continue
        hit = test(rule, facts)
        if hit is None:
            return None
        hits.append(hit)
    return ", ".join(hits) or None
