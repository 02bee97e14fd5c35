"""Settings classes read from the environment and a `.env` file, in plain Python.

A pipeline's cold start pays for every module it imports: pydantic and pydantic-settings
cost about 120 ms of it (`python -X importtime`, more than the library's own modules), for
a dozen numbers and names. This reads them with the same rules, so a subclass declares its
fields, bounds and cross-field rules as a pydantic-settings model would:

- a field is read from `<prefix><NAME>` (case-insensitive), or from its `aliases` in
  order; then from the `.env` file (the environment wins); keyword arguments win over both,
  and a field's own name or an alias may be given;
- values are coerced as pydantic's lax mode does (`"7.0"` is an int, `"off"` a bool,
  `"a, b"` a `tuple[str, ...]`), an empty string is unset for an optional field, and
  bounds are checked; a `@rule` method then checks fields against each other;
- every problem is reported at once in a `SettingsError`, as (field, input, message).

Instances are frozen. `model_fields`, `model_fields_set`, `model_dump` and `model_copy`
behave as pydantic's do, which the deployment checks (`doctor`, Terraform) rely on.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

__all__ = ["EnvSettings", "FieldSpec", "SettingsError", "read_dotenv", "rule", "setting"]

_MISSING: Any = object()
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_WHOLE = re.compile(r"^([+-]?\d[\d_]*)(?:\.0*)?$")
F = TypeVar("F", bound=Callable[..., None])


class SettingsError(ValueError):
    """Every field that failed, as `errors()`: dicts of `loc` (the field), `input`, `msg`."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self._problems = problems
        super().__init__("; ".join(_described(p) for p in problems))

    def errors(self) -> list[dict[str, Any]]:
        return list(self._problems)


def _described(problem: Mapping[str, Any]) -> str:
    if problem["loc"]:
        return f"{problem['loc'][0]}={problem['input']!r}: {problem['msg']}"
    return str(problem["msg"])


@dataclass(frozen=True)
class FieldSpec:
    """One field: its default, bounds and check, and its kind (from the annotation)."""

    default: Any = None
    default_factory: Callable[[], Any] | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    aliases: tuple[str, ...] = ()
    check: Callable[[Any], Any] | None = None
    kind: str = "str"
    optional: bool = False

    @property
    def validation_alias(self) -> tuple[str, ...] | None:
        return self.aliases or None

    def is_required(self) -> bool:
        return False

    def initial(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default


def setting(
    default: Any = None,
    *,
    default_factory: Callable[[], Any] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    aliases: tuple[str, ...] = (),
    check: Callable[[Any], Any] | None = None,
) -> Any:
    """A field's declaration (typed Any, so `count: int = setting(3, ge=1)` type-checks)."""
    return FieldSpec(default, default_factory, ge, gt, le, min_length, max_length, aliases, check)


def rule(method: F) -> F:
    """Marks a method that checks fields against each other: it raises ValueError."""
    method.__settings_rule__ = True  # type: ignore[attr-defined]
    return method


# The annotations a field may have, written as the class writes them (postponed, as text).
_KINDS = {
    "str": ("str", False),
    "str | None": ("str", True),
    "int": ("int", False),
    "float": ("float", False),
    "float | None": ("float", True),
    "bool": ("bool", False),
    "tuple[str, ...]": ("list", False),
}


def _coerce(kind: str, value: Any) -> Any:
    """`value` as `kind`, the way pydantic's lax mode takes it, or ValueError saying why."""
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError("Input should be a valid string")
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if value in (0, 1) and isinstance(value, int):
            return bool(value)
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError("Input should be a valid boolean, unable to interpret input")
    if kind == "list":
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError("Input should be a comma-separated list of names")
    if kind == "int":
        return _integer(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(
            "Input should be a valid number, unable to parse string as a number"
        ) from None


def _integer(value: Any) -> int:
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("Input should be a valid integer, got a number with a fractional part")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        whole = _WHOLE.match(text)  # "7" and "7.0", as pydantic; "7.5" and "1e3" not
        if whole:
            return int(whole.group(1))
    raise ValueError("Input should be a valid integer, unable to parse string as an integer")


def _bounded(spec: FieldSpec, value: Any) -> None:
    """ValueError in pydantic's words when `value` is outside the field's bounds."""
    if spec.kind in ("int", "float"):
        if spec.ge is not None and not value >= spec.ge:
            raise ValueError(f"Input should be greater than or equal to {spec.ge}")
        if spec.gt is not None and not value > spec.gt:
            raise ValueError(f"Input should be greater than {spec.gt}")
        if spec.le is not None and not value <= spec.le:
            raise ValueError(f"Input should be less than or equal to {spec.le}")
    if spec.kind == "str":
        if spec.min_length is not None and len(value) < spec.min_length:
            plural = "" if spec.min_length == 1 else "s"
            raise ValueError(f"String should have at least {spec.min_length} character{plural}")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ValueError(f"String should have at most {spec.max_length} characters")


# `${NAME}` and `${NAME:-default}`, as python-dotenv expands them.
_VARIABLE = re.compile(r"\$\{(?P<name>[^}:]*)(?::-(?P<default>[^}]*))?\}")


def _expanded(value: str, env: Mapping[str, str]) -> str:
    """`value` with its variables replaced from `env` (the default, else "", when unset)."""
    return _VARIABLE.sub(lambda m: env.get(m["name"], m["default"] or ""), value)


def read_dotenv(path: str | Path | None) -> dict[str, str]:
    """`NAME=value` lines of a `.env` file (quotes, `export` and comments as dotenv takes
    them), names lower-cased; {} when there is no file. `${NAME}` and `${NAME:-default}`
    are expanded from the environment and the file's earlier lines (those win), as
    pydantic-settings' reader, python-dotenv, does."""
    if path is None:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return {}
    found: dict[str, str] = {}
    seen: dict[str, str] = {}  # the file's names as written: what a variable names
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if "${" in value:
            value = _expanded(value, {**os.environ, **seen})
        seen[name.strip()] = value
        found[name.strip().lower()] = value
    return found


class EnvSettings:
    """Base of a settings class; a subclass sets `model_config["env_prefix"]`."""

    model_config: ClassVar[dict[str, Any]] = {"env_prefix": "", "env_file": ".env"}
    model_fields: ClassVar[dict[str, FieldSpec]] = {}
    _rules: ClassVar[tuple[Callable[[Any], None], ...]] = ()
    model_fields_set: frozenset[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = dict(cls.model_fields)
        for name, annotation in inspect.get_annotations(cls).items():
            text = str(annotation)
            if text.startswith("ClassVar") or name.startswith("_") or name == "model_fields_set":
                continue
            if text not in _KINDS:
                raise TypeError(f"{cls.__name__}.{name}: unsupported setting type {text}")
            kind, optional = _KINDS[text]
            declared = cls.__dict__.get(name, None)
            spec = declared if isinstance(declared, FieldSpec) else FieldSpec(default=declared)
            fields[name] = FieldSpec(**{**spec.__dict__, "kind": kind, "optional": optional})
            if name in cls.__dict__:
                delattr(cls, name)  # the instance's value, never the declaration, is read
        cls.model_fields = fields
        own = tuple(v for v in cls.__dict__.values() if getattr(v, "__settings_rule__", False))
        cls._rules = (*cls._rules, *own)

    def __init__(self, _env_file: str | Path | None = _MISSING, **values: Any) -> None:
        if _env_file is _MISSING:
            _env_file = self.model_config.get("env_file")
        given = self._gather(read_dotenv(_env_file), values)
        given = self._prepare(given)
        problems: list[dict[str, Any]] = []
        state: dict[str, Any] = {}
        for name, spec in self.model_fields.items():
            if name not in given:
                state[name] = spec.initial()
                continue
            raw = given[name]
            try:
                state[name] = self._field(spec, raw)
            except ValueError as exc:
                problems.append({"loc": (name,), "input": raw, "msg": str(exc)})
        if problems:
            raise SettingsError(problems)
        for name, value in state.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "model_fields_set", frozenset(given))
        for check in self._rules:
            try:
                check(self)
            except ValueError as exc:
                raise SettingsError([{"loc": (), "input": None, "msg": str(exc)}]) from None

    @classmethod
    def _gather(cls, dotenv: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, Any]:
        """Each field given by name, alias, environment variable or `.env` line."""
        environ = {k.lower(): v for k, v in os.environ.items()}
        prefix = str(cls.model_config.get("env_prefix", "")).lower()
        given: dict[str, Any] = {}
        for name, spec in cls.model_fields.items():
            variables = [a.lower() for a in spec.aliases] or [f"{prefix}{name}"]
            for source, keys in (
                (values, (name, *spec.aliases)),
                (environ, variables),
                (dotenv, variables),
            ):
                hit = next((k for k in keys if k in source), None)
                if hit is not None:
                    given[name] = source[hit]
                    break
        return given

    @classmethod
    def _prepare(cls, given: dict[str, Any]) -> dict[str, Any]:
        """The raw values before coercion: a subclass fills fields that follow others."""
        return given

    @staticmethod
    def _field(spec: FieldSpec, raw: Any) -> Any:
        if spec.optional and (raw is None or raw == ""):
            return None
        value = _coerce(spec.kind, raw)
        _bounded(spec, value)
        return spec.check(value) if spec.check is not None else value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"settings are frozen: {name} cannot be set")

    def model_dump(self, include: Iterable[str] | None = None) -> dict[str, Any]:
        names = self.model_fields if include is None else set(include)
        return {name: getattr(self, name) for name in self.model_fields if name in names}

    def model_copy(self, update: Mapping[str, Any] | None = None) -> Self:
        """A copy with `update` applied as given, unchecked (as pydantic's model_copy)."""
        copy = object.__new__(type(self))
        for name in self.model_fields:
            object.__setattr__(copy, name, getattr(self, name))
        for name, value in (update or {}).items():
            object.__setattr__(copy, name, value)
        object.__setattr__(copy, "model_fields_set", self.model_fields_set | set(update or {}))
        return copy

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash(tuple(self.model_dump().items()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.model_dump().items())
        return f"{type(self).__name__}({fields})"
