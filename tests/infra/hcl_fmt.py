"""The part of `terraform fmt` that a hand edit breaks, checked without a terraform binary.

Two rules of hclwrite's formatter: every line is indented two spaces per open bracket, and
in a run of consecutive single-line attributes at one level (no blank line, comment or
multi-line value between them) the `=` signs line up one space after the longest name.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["fmt_problems"]

_ATTRIBUTE = re.compile(r'^(?P<indent> *)(?P<name>[A-Za-z_][\w-]*|"[^"]*")(?P<gap> *)= ')
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _code(line: str) -> str:
    """The line without string contents and trailing comment: what brackets count in."""
    bare = _STRING.sub('""', line)
    return re.split(r"\s#|\s//|^#|^//", bare, maxsplit=1)[0]


def _opens(code: str) -> int:
    return sum(code.count(c) for c in "{[(") - sum(code.count(c) for c in "}])")


def _level(stack: list[int], code: str) -> int:
    """The line's indent level, and `stack` moved past it: one level per line that opens
    brackets (`jsonencode({` is one level), left when they all close."""
    leading = len(code.strip()) - len(code.strip().lstrip("}])"))
    level = len(stack)
    pending = leading
    for count in reversed(stack):
        if pending < count:
            break
        pending -= count
        level -= 1
    opened_here = False
    for char in code:
        if char in "{[(":
            if opened_here:
                stack[-1] += 1
            else:
                stack.append(1)
                opened_here = True
        elif char in "}])" and stack:
            stack[-1] -= 1
            if stack[-1] == 0:
                stack.pop()
                opened_here = False
    return level


def fmt_problems(path: Path) -> list[str]:
    """`file:line: what fmt would change`, for each line it would change."""
    problems: list[str] = []
    stack: list[int] = []
    run: list[tuple[int, re.Match[str]]] = []

    def close_run() -> None:
        if run:
            width = max(len(m.group("name")) for _, m in run)
            for number, match in run:
                if len(match.group("name")) + len(match.group("gap")) != width + 1:
                    problems.append(
                        f"{path.name}:{number}: `=` of {match.group('name')} not aligned "
                        f"one space after the longest name of its run ({width} characters)"
                    )
        run.clear()

    for number, line in enumerate(path.read_text().splitlines(), start=1):
        code = _code(line)
        stripped = line.strip()
        expected = 2 * _level(stack, code)
        if stripped and len(line) - len(line.lstrip(" ")) != expected:
            problems.append(
                f"{path.name}:{number}: indented {len(line) - len(line.lstrip(' '))}, "
                f"fmt indents {expected}"
            )
        balance = _opens(code)
        match = _ATTRIBUTE.match(line)
        if match and balance == 0:
            run.append((number, match))
        else:
            close_run()
            if match and match.group("gap") != " ":
                problems.append(
                    f"{path.name}:{number}: one space before the `=` of a multi-line value"
                )
    close_run()
    return problems
