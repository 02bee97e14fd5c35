"""A request checked against its botocore service model, for the constraints botocore leaves
to the service: string max length, pattern and enum; list max length; map sizes; number and
blob maxima. (botocore itself checks required members, types, and string and list minima;
for a client configured to skip that, `botocore_checks` runs botocore's validator here.)

Patterns are the models' Java regular expressions, matched whole, as AWS's validation does;
the `regex` module reads their `\\p{...}` classes. A pattern no engine here can read is
skipped and counted, never guessed at.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import botocore
import regex
from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator

__all__ = ["Problem", "botocore_checks", "check_request", "model_source", "unreadable_patterns"]

# Java writes a code point above U+FFFF as a surrogate pair; Python's engines want the range.
_JAVA_PAIR_RANGE = r"\uD800\uDC00-\uDBFF\uDFFF"
unreadable_patterns: set[str] = set()


@dataclass(frozen=True)
class Problem:
    path: str
    message: str


def model_source(operation: OperationModel) -> str:
    """Where the constraint is written: the service model botocore ships, at this version."""
    model = operation.service_model
    return (
        f"https://github.com/boto/botocore/blob/{botocore.__version__}/botocore/data/"
        f"{model.service_name}/{model.api_version}/service-2.json"
    )


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> Any:
    try:
        return regex.compile(pattern.replace(_JAVA_PAIR_RANGE, r"\U00010000-\U0010FFFF"))
    except regex.error:
        unreadable_patterns.add(pattern)
        return None


def _check(value: Any, shape: Shape, path: str, out: list[Problem]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                _check(value[name], member, f"{path}.{name}", out)
        return
    if kind == "list" and isinstance(value, list | tuple):
        if "max" in meta and len(value) > meta["max"]:
            out.append(Problem(path, f"has {len(value)} items; the model allows {meta['max']}"))
        for index, item in enumerate(value):
            _check(item, shape.member, f"{path}[{index}]", out)
        return
    if kind == "map" and isinstance(value, dict):
        if "max" in meta and len(value) > meta["max"]:
            out.append(Problem(path, f"has {len(value)} entries; the model allows {meta['max']}"))
        if "min" in meta and len(value) < meta["min"]:
            out.append(Problem(path, f"has {len(value)} entries; the model needs {meta['min']}"))
        for key, item in value.items():
            _check(key, shape.key, f"{path} (key {key!r})", out)
            _check(item, shape.value, f"{path}[{key!r}]", out)
        return
    if kind == "string" and isinstance(value, str):
        if meta.get("jsonvalue"):
            return
        shown = value if len(value) <= 60 else f"{value[:57]}..."
        if "max" in meta and len(value) > meta["max"]:
            out.append(Problem(path, f"is {len(value)} characters; the model allows {meta['max']}"))
        enum = meta.get("enum")
        if enum and value not in enum:
            out.append(Problem(path, f"is {shown!r}, not one of {sorted(enum)}"))
        pattern = meta.get("pattern")
        if pattern:
            compiled = _compiled(pattern)
            if compiled is not None and compiled.fullmatch(value) is None:
                out.append(Problem(path, f"is {shown!r}, which does not match {pattern!r}"))
        return
    if kind in ("integer", "long", "float", "double") and isinstance(value, int | float):
        if "max" in meta and value > meta["max"]:
            out.append(Problem(path, f"is {value}; the model allows at most {meta['max']}"))
        return
    if kind == "blob" and isinstance(value, bytes | bytearray | str):
        size = len(value.encode() if isinstance(value, str) else value)
        if "max" in meta and size > meta["max"]:
            out.append(Problem(path, f"is {size} bytes; the model allows {meta['max']}"))
        if "min" in meta and size < meta["min"]:
            out.append(Problem(path, f"is {size} bytes; the model needs {meta['min']}"))


def botocore_checks(operation: OperationModel, params: dict[str, Any]) -> list[Problem]:
    """botocore's own validation of `params` (for a client that skips it), one per error."""
    if operation.input_shape is None:
        return []
    report = ParamValidator().validate(params, operation.input_shape)
    if not report.has_errors():
        return []
    where = f"{operation.service_model.service_name}.{operation.name}"
    return [Problem(where, line) for line in report.generate_report().splitlines()]


def check_request(operation: OperationModel, params: dict[str, Any]) -> list[Problem]:
    """Every constraint of the operation's input shape that `params` breaks."""
    out: list[Problem] = []
    if operation.input_shape is not None:
        where = f"{operation.service_model.service_name}.{operation.name}"
        _check(params, operation.input_shape, where, out)
    return out
