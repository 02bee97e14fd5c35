"""A small evaluator of Terraform expressions, for the checks tests/infra makes offline.

python-hcl2 parses the files but leaves expressions as text. This evaluates the subset the
stack uses in names, environments, validations and preconditions: literals, lists, objects,
`var.x` / `local.x` (through callbacks), attribute and index access, the arithmetic,
comparison, logical and conditional operators, `for` expressions, string templates, and a
handful of functions with Terraform's meaning. A reference to anything else (a resource
attribute, a data source) is Unknown, as it is to `terraform plan`: it is carried through
lists, objects and templates as its own text (`${aws_sqs_queue.signals.arn}`), and an
operation that needs its value raises Unresolvable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["EvalError", "Unknown", "Unresolvable", "evaluate", "known"]


class Unresolvable(ValueError):
    """The expression needs something only a real plan knows (a resource attribute)."""


class EvalError(ValueError):
    """Terraform would fail to evaluate this (a failed regex, a bad argument)."""


class Unknown:
    """A value only a real plan knows: a resource attribute, a variable without a value."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"${{{self.text}}}"


def known(value: Any) -> Any:
    """The value with every Unknown inside replaced by its `${...}` text."""
    if isinstance(value, Unknown):
        return repr(value)
    if isinstance(value, list):
        return [known(v) for v in value]
    if isinstance(value, dict):
        return {k: known(v) for k, v in value.items()}
    return value


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>")
  | (?P<op>=>|==|!=|<=|>=|&&|\|\||\.\.\.|[-+*/%<>!?:.,()\[\]{}=])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    """,
    re.VERBOSE,
)


def _scan_string(text: str, start: int) -> tuple[list[tuple[str, str]], int]:
    """A quoted template from `start` (after the quote): parts ("lit", s) / ("expr", s)."""
    parts: list[tuple[str, str]] = []
    literal: list[str] = []
    i = start
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            literal.append(escapes.get(text[i + 1], "\\" + text[i + 1]))
            i += 2
        elif text.startswith("$${", i):
            literal.append("${")
            i += 3
        elif text.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                if j >= len(text):
                    raise EvalError("unterminated interpolation")
                if text[j] == '"':
                    _, j = _scan_string(text, j + 1)
                    continue
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            parts.append(("lit", "".join(literal)))
            literal = []
            parts.append(("expr", text[i + 2 : j - 1]))
            i = j
        elif ch == '"':
            parts.append(("lit", "".join(literal)))
            return parts, i + 1
        else:
            literal.append(ch)
            i += 1
    raise EvalError("unterminated string")


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    i = 0
    while i < len(text):
        match = _TOKEN.match(text, i)
        if not match:
            raise EvalError(f"cannot read {text[i : i + 20]!r}")
        kind = match.lastgroup or ""
        if kind == "string":
            parts, i = _scan_string(text, match.end())
            out.append(("string", parts))
            continue
        if kind != "ws":
            value: Any = match.group(kind)
            out.append((kind, float(value) if kind == "number" else value))
        i = match.end()
    out.append(("end", None))
    return out


def _tostring(value: Any) -> str:
    if isinstance(value, Unknown):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | str):
        return str(value)
    raise EvalError(f"cannot convert {type(value).__name__} to string")


def _regex(pattern: str, text: str) -> Any:
    match = re.search(pattern, text)
    if match is None:
        raise EvalError("regex: no match")
    if match.groupdict():
        return match.groupdict()
    return list(match.groups()) if match.groups() else match.group(0)


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    raise EvalError("coalesce: no non-null, non-empty argument")


def _length(value: Any) -> int:
    if value is None:
        raise EvalError("length of null")
    return len(value)


def _replace(text: Any, old: str, new: str) -> Any:
    if isinstance(text, Unknown):
        return text  # still unknown, carried as its text
    if len(old) > 1 and old.startswith("/") and old.endswith("/"):
        raise Unresolvable("replace() with a regular expression")
    return str(text).replace(old, new)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "length": _length,
    "contains": lambda items, value: value in items,
    "coalesce": _coalesce,
    "join": lambda sep, items: sep.join(_tostring(i) for i in items),
    "tostring": lambda value: None if value is None else _tostring(value),
    "tonumber": lambda value: None if value is None else float(value),
    "concat": lambda *lists: [item for items in lists for item in items],
    "floor": lambda value: float(math.floor(value)),
    "ceil": lambda value: float(math.ceil(value)),
    "max": lambda *values: max(values),
    "min": lambda *values: min(values),
    "lower": lambda text: text.lower(),
    "upper": lambda text: text.upper(),
    "startswith": lambda text, prefix: text.startswith(prefix),
    "endswith": lambda text, suffix: text.endswith(suffix),
    "trimprefix": lambda text, prefix: text.removeprefix(prefix),
    "alltrue": lambda items: all(items),
    "anytrue": lambda items: any(items),
    "regex": _regex,
    "replace": _replace,
    "range": lambda *bounds: [float(n) for n in range(*(int(b) for b in bounds))],
    "jsonencode": lambda value: __import__("json").dumps(value, separators=(",", ":")),
    "jsondecode": lambda text: __import__("json").loads(text),
}


class _Parser:
    def __init__(
        self,
        text: str,
        lookup: Callable[[str, str], Any],
        scope: dict[str, Any] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.lookup = lookup
        self.scope = dict(scope or {})
        self.cwd = cwd or Path.cwd()

    # -- tokens ---------------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> tuple[str, Any]:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self, value: str | None = None) -> tuple[str, Any]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise EvalError(f"expected {value!r}, found {token[1]!r}")
        self.pos += 1
        return token

    def accept(self, value: str) -> bool:
        if self.peek()[0] in ("op", "ident") and self.peek()[1] == value:
            self.pos += 1
            return True
        return False

    # -- grammar (Terraform's operator precedence) ----------------------------------------------

    def parse(self) -> Any:
        value = self.expression()
        if self.peek()[0] != "end":
            raise EvalError(f"unexpected {self.peek()[1]!r}")
        return value

    def expression(self) -> Any:
        condition = self.binary(0)
        if self.accept("?"):
            yes = self.branch(chosen=bool(condition))
            self.take(":")
            no = self.branch(chosen=not condition)
            return yes if condition else no
        return condition

    def branch(self, *, chosen: bool) -> Any:
        """A conditional's result; the one not chosen may fail (`x == null ? "" : x.y`)."""
        if chosen:
            return self.expression()
        start = self.pos
        try:
            return self.expression()
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            self.pos = start
            self.skip_expression()
            return None

    def skip_expression(self) -> None:
        depth, pending = 0, 0
        while True:
            kind, value = self.peek()
            if kind == "end":
                return
            if kind == "op":
                if value in "([{":
                    depth += 1
                elif value in ")]}" and depth == 0:
                    return
                elif value in ")]}":
                    depth -= 1
                elif depth == 0 and value == "?":
                    pending += 1
                elif depth == 0 and value == ":" and pending:
                    pending -= 1
                elif depth == 0 and value in (":", ",", "=>"):
                    return
            elif kind == "ident" and depth == 0 and value == "if":
                return
            self.pos += 1

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("||",),
        ("&&",),
        ("==", "!="),
        ("<", "<=", ">", ">="),
        ("+", "-"),
        ("*", "/", "%"),
    )

    def binary(self, level: int) -> Any:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek()[0] == "op" and self.peek()[1] in self._LEVELS[level]:
            op = self.take()[1]
            right = self.binary(level + 1)
            left = _apply(op, left, right)
        return left

    def unary(self) -> Any:
        if self.accept("!"):
            return not self.unary()
        if self.accept("-"):
            return -self.unary()
        return self.postfix(self.primary())

    def postfix(self, value: Any) -> Any:
        while True:
            if isinstance(value, Unknown) and self.peek()[1] in (".", "["):
                if self.take()[1] == ".":
                    value = Unknown(f"{value.text}.{_tostring(self.take()[1])}")
                else:
                    key = self.expression()
                    self.take("]")
                    value = Unknown(f"{value.text}[{key!r}]")
            elif self.peek()[1] == "." and self.peek(1)[0] == "ident":
                self.take()
                name = self.take()[1]
                if not isinstance(value, dict) or name not in value:
                    raise EvalError(f"no attribute {name}")
                value = value[name]
            elif self.peek()[1] == "[" and self.peek()[0] == "op":
                self.take()
                key = self.expression()
                self.take("]")
                try:
                    value = value[int(key) if isinstance(value, list) else key]
                except (KeyError, IndexError) as exc:
                    raise EvalError(f"no element {key!r}") from exc
            else:
                return value

    def primary(self) -> Any:
        kind, value = self.take()
        if kind == "number":
            return value
        if kind == "string":
            return self.template(value)
        if kind == "op" and value == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if kind == "op" and value == "[":
            return self.list_or_for()
        if kind == "op" and value == "{":
            return self.object_or_for()
        if kind == "ident":
            return self.name(value)
        raise EvalError(f"unexpected {value!r}")

    def template(self, parts: list[tuple[str, str]]) -> Any:
        exprs = [p for p in parts if p[0] == "expr"]
        if len(exprs) == 1 and all(p[1] == "" for p in parts if p[0] == "lit"):
            return _Parser(exprs[0][1], self.lookup, self.scope, self.cwd).parse()
        out = []
        for part_kind, text in parts:
            if part_kind == "lit":
                out.append(text)
            else:
                out.append(_tostring(_Parser(text, self.lookup, self.scope, self.cwd).parse()))
        return "".join(out)

    def name(self, word: str) -> Any:
        if word in ("true", "false"):
            return word == "true"
        if word == "null":
            return None
        if self.peek()[1] == "(" and self.peek()[0] == "op":
            return self.call(word)
        if word in self.scope:
            return self.scope[word]
        if word in ("var", "local") and self.peek()[1] == ".":
            self.take(".")
            return self.lookup(word, self.take()[1])
        return Unknown(word)  # aws_x.y.attr, data.x.y.attr, path.module: plan-time values

    def arguments(self) -> list[Any]:
        self.take("(")
        args: list[Any] = []
        while not self.accept(")"):
            args.append(self.expression())
            if self.accept("..."):
                args[-1:] = list(args[-1])
            if not self.accept(","):
                self.take(")")
                break
        return args

    def call(self, function: str) -> Any:
        if function in ("can", "try"):
            start = self.pos
            try:
                args = self.arguments()
            except EvalError:
                self.pos = start
                self.skip_group()
                return False if function == "can" else None
            return True if function == "can" else args[0]
        if function == "fileexists":
            # Terraform resolves a relative path against the directory it runs in.
            [path] = self.arguments()
            if isinstance(path, Unknown):
                raise Unresolvable("fileexists() of a value only a plan knows")
            return (self.cwd / path).is_file()
        if function not in FUNCTIONS:
            raise Unresolvable(f"{function}()")
        args = self.arguments()
        if function not in _UNKNOWN_SAFE and any(isinstance(a, Unknown) for a in args):
            raise Unresolvable(f"{function}() of a value only a plan knows")
        try:
            return FUNCTIONS[function](*args)
        except (TypeError, AttributeError, KeyError, IndexError) as exc:
            raise EvalError(f"{function}: {exc}") from None

    def skip_group(self) -> None:
        depth = 0
        while True:
            kind, value = self.take()
            if kind == "end":
                raise EvalError("unbalanced parentheses")
            if kind == "op" and value in "([{":
                depth += 1
            elif kind == "op" and value in ")]}":
                depth -= 1
                if depth == 0:
                    return

    def list_or_for(self) -> Any:
        if self.peek()[1] == "for":
            return self.for_expression("]")
        items = []
        while not self.accept("]"):
            items.append(self.expression())
            if not self.accept(","):
                self.take("]")
                break
        return items

    def object_or_for(self) -> Any:
        if self.peek()[1] == "for":
            return self.for_expression("}")
        found: dict[str, Any] = {}
        while not self.accept("}"):
            kind, key = self.take()
            if kind == "string":
                key = self.template(key)
            if not (self.accept("=") or self.accept(":")):
                raise EvalError("expected = in an object")
            found[str(key)] = self.expression()
            self.accept(",")
        return found

    def for_expression(self, close: str) -> Any:
        self.take("for")
        names = [self.take()[1]]
        if self.accept(","):
            names.append(self.take()[1])
        self.take("in")
        collection = self.expression()
        self.take(":")
        start = self.pos
        body_end = self._find_end(close)
        if isinstance(collection, Unknown):
            # Over a value only a plan knows: so is the result.
            self.pos = body_end
            self.take(close)
            return Unknown(f"for over {collection.text}")
        pairs = (
            list(collection.items())
            if isinstance(collection, dict)
            else list(enumerate(collection or []))
        )
        results_list: list[Any] = []
        results_map: dict[str, Any] = {}
        for key, item in pairs:
            scope = dict(self.scope)
            if len(names) == 2:
                scope[names[0]], scope[names[1]] = key, item
            else:
                scope[names[0]] = item
            sub = _Parser("", self.lookup, scope, self.cwd)
            sub.tokens = [*self.tokens[start:body_end], ("end", None)]
            first = sub.expression()
            second = None
            if close == "}":
                sub.take("=>")
                second = sub.expression()
            keep = True
            if sub.accept("if"):
                keep = bool(sub.expression())
            if keep:
                if close == "}":
                    results_map[_tostring(first)] = second
                else:
                    results_list.append(first)
        self.pos = body_end
        self.take(close)
        return results_map if close == "}" else results_list

    def _find_end(self, close: str) -> int:
        depth, i = 0, self.pos
        while True:
            kind, value = self.tokens[i]
            if kind == "end":
                raise EvalError("unterminated for expression")
            if kind == "op" and value in "([{":
                depth += 1
            elif kind == "op" and value in ")]}":
                if depth == 0 and value == close:
                    return i
                depth -= 1
            i += 1


_UNKNOWN_SAFE = {"concat", "join", "tostring", "coalesce", "contains", "length", "replace"}


def _apply(op: str, left: Any, right: Any) -> Any:
    if isinstance(left, Unknown) or isinstance(right, Unknown):
        if op in ("==", "!=") and not (isinstance(left, Unknown) and isinstance(right, Unknown)):
            # A resource attribute is never the literal it is compared with here ("" or null).
            return op == "!="
        raise Unresolvable(f"{left!r} {op} {right!r}")
    if op == "||":
        return bool(left) or bool(right)
    if op == "&&":
        return bool(left) and bool(right)
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        raise EvalError(f"null operand of {op}")
    operations: dict[str, Callable[[Any, Any], Any]] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
        "%": lambda a, b: a % b,
    }
    return operations[op](float(left), float(right))


def evaluate(
    text: str,
    lookup: Callable[[str, str], Any],
    cwd: Path | None = None,
    scope: dict[str, Any] | None = None,
) -> Any:
    """The value of one expression (without its `${ }`); `lookup(kind, name)` gives var/local;
    relative paths start at `cwd`, where terraform would run; `scope` names more values
    (`self` in a postcondition)."""
    return _Parser(text, lookup, scope=scope, cwd=cwd).parse()
