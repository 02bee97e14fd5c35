"""The base of every trigger: checked in full when built, against every limit AWS documents.

A trigger that AWS would refuse is refused here, before anything is written, naming the
field and the limit.
"""

from __future__ import annotations

import json
import re
import typing
from dataclasses import asdict, dataclass, field, fields
from types import UnionType
from typing import Any, ClassVar, NoReturn

from observability.errors import InvalidInput
from observability.triggers.role import check_role

__all__ = ["MAX_TRIGGER_BYTES", "Trigger"]

# Well inside DynamoDB's 400 KB item and every target's 256 KB message or payload limit.
MAX_TRIGGER_BYTES = 64 * 1024


def _json_size(field_name: str, value: Any) -> int:
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and targets would reject them.
        return len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(field_name, f"must be JSON-serialisable ({exc})") from None


def _canonical(value: Any) -> str:
    """The stored form: compact, keys sorted, no NaN (TypeError/ValueError when not JSON)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)


def _required(field_name: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field_name, "is required and must be a non-empty string")


def _within(field_name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidInput(field_name, f"is {len(value)} characters; the limit is {limit}")


def _shaped(field_name: str, value: str, pattern: re.Pattern[str], what: str) -> None:
    if not pattern.fullmatch(value):
        shown = value if len(value) <= 80 else f"{value[:77]}..."
        raise InvalidInput(field_name, f"must be {what}, got {shown!r}")


_SINGULAR = {str: "string", bool: "boolean", type(None): "None"}


def _noun(hint: Any) -> str:
    """`str` -> 'string', `list[str]` -> 'list of strings', `Any` -> 'JSON value'."""
    if hint is Any:
        return "JSON value"
    origin = typing.get_origin(hint)
    if origin is list:
        return f"list of {_noun(typing.get_args(hint)[0])}s"
    if origin is dict:
        key, value = typing.get_args(hint)
        return f"mapping of {_noun(key)}s to {_noun(value)}s"
    return _SINGULAR.get(hint, getattr(hint, "__name__", str(hint)))


def _type_name(hint: Any) -> str:
    """`str | None` -> 'a string or None', `list[str]` -> 'a list of strings', ..."""
    if typing.get_origin(hint) in (UnionType, typing.Union):
        return " or ".join(_type_name(arg) for arg in typing.get_args(hint))
    noun = _noun(hint)
    return noun if noun == "None" else f"a {noun}"


def _conforms(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (UnionType, typing.Union):
        return any(_conforms(value, arg) for arg in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_conforms(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(
            _conforms(k, key) and _conforms(v, item) for k, v in value.items()
        )
    if hint is type(None):
        return value is None
    return isinstance(value, hint)


def _container(hint: Any, value: Any) -> Any:
    """The `list[...]` or `dict[...]` of `hint` (a union perhaps) that `value` is a kind of."""
    union = typing.get_origin(hint) in (UnionType, typing.Union)
    for option in typing.get_args(hint) if union else (hint,):
        origin = typing.get_origin(option)
        if (origin is list and isinstance(value, list)) or (
            origin is dict and isinstance(value, dict)
        ):
            return option
    return None


def _plain_types(hint: Any) -> tuple[type, ...] | None:
    """The classes a value of `hint` may be when `hint` is plain (`str`, `str | None`): an
    isinstance check then says all that `_conforms` would; None for containers and `Any`."""
    union = typing.get_origin(hint) in (UnionType, typing.Union)
    options = typing.get_args(hint) if union else (hint,)
    if all(isinstance(o, type) and o is not Any and typing.get_origin(o) is None for o in options):
        return tuple(options)
    return None


# Per trigger class: each field's name, type hint, plain classes, and whether its default is
# None (an unset optional field, left out of the stored form). Built once: every batch
# builds a trigger.
_Field = tuple[str, Any, tuple[type, ...] | None, bool]
_FIELDS: dict[type[Trigger], tuple[_Field, ...]] = {}


def _fields_of(cls: type[Trigger]) -> tuple[_Field, ...]:
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = tuple(
            (f.name, hints[f.name], _plain_types(hints[f.name]), f.default is None)
            for f in fields(cls)
        )
        _FIELDS[cls] = found
    return found


def _check_types(trigger: Trigger) -> None:
    """Every field has the type it declares; the first that does not is named (item included)."""
    for field_name, hint, plain, _ in _fields_of(type(trigger)):
        value = getattr(trigger, field_name)
        if isinstance(value, plain) if plain is not None else _conforms(value, hint):
            continue
        name = f"trigger.{field_name}"
        container = _container(hint, value)
        if isinstance(value, dict) and container is not None:
            key_hint, item_hint = typing.get_args(container)
            for key, item in value.items():
                if not _conforms(key, key_hint):
                    raise InvalidInput(
                        name, f"keys must be {_noun(key_hint)}s, got {type(key).__name__} {key!r}"
                    )
                if not _conforms(item, item_hint):
                    raise InvalidInput(
                        f"{name}[{key!r}]",
                        f"must be {_type_name(item_hint)}, got {type(item).__name__}",
                    )
        if isinstance(value, list) and container is not None:
            (item_hint,) = typing.get_args(container)
            for index, item in enumerate(value):
                if not _conforms(item, item_hint):
                    raise InvalidInput(
                        f"{name}[{index}]",
                        f"must be {_type_name(item_hint)}, got {type(item).__name__}",
                    )
        raise InvalidInput(name, f"must be {_type_name(hint)}, got {type(value).__name__}")


@dataclass(frozen=True)
class Trigger:
    """Base of every trigger kind; `kind` names it in the stored JSON."""

    kind: ClassVar[str] = ""
    payload_field: ClassVar[str] = ""
    # A target in another account: the role assumed to fire it (observability.triggers.role).
    # Keyword-only, and left out of the stored form when unset.
    role_arn: str | None = field(default=None, kw_only=True)
    external_id: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_types(self)
        check_role(self.kind, self.role_arn, self.external_id)
        self._validate()
        # The fields as they are: asdict's deep copy is for callers who may change the dict.
        shallow = {"kind": self.kind}
        shallow.update(
            (name, getattr(self, name))
            for name, _, _, optional in _fields_of(type(self))
            if not optional or getattr(self, name) is not None
        )
        try:
            text = _canonical(shallow)
        except TypeError:
            # A value JSON knows only once asdict has turned it into a dict (a dataclass).
            text = self._canonical_copy()
        except ValueError:
            text = ""
        if not text or len(text.encode("utf-8")) > MAX_TRIGGER_BYTES:
            self._refuse()
        # Kept: a batch writes its trigger as this text, and it is computed once.
        object.__setattr__(self, "_json", text)

    def _canonical_copy(self) -> str:
        try:
            return _canonical(self.to_dict())
        except (TypeError, ValueError):
            return ""

    def _refuse(self) -> NoReturn:
        """The error that names the field at fault: the payload, else the whole trigger."""
        if self.payload_field:
            size = _json_size(f"trigger.{self.payload_field}", getattr(self, self.payload_field))
            if size > MAX_TRIGGER_BYTES:
                raise InvalidInput(
                    f"trigger.{self.payload_field}",
                    f"is {size} bytes as JSON; the limit is {MAX_TRIGGER_BYTES} bytes",
                )
        total = _json_size("trigger", self.to_dict())
        raise InvalidInput(
            "trigger", f"is {total} bytes as JSON; the limit is {MAX_TRIGGER_BYTES} bytes"
        )

    def _validate(self) -> None:
        """The kind's own rules (required fields, the target's limits); types are checked."""

    def to_dict(self) -> dict[str, Any]:
        # An unset optional field is left out (its default reads it back): every write of
        # the batch's item carries this, `"message_group_id":null` is 24 bytes of it.
        data = {"kind": self.kind, **asdict(self)}
        for name, _, _, optional in _fields_of(type(self)):
            if optional and data[name] is None:
                del data[name]
        return data

    def to_json(self) -> str:
        return str(self.__dict__["_json"])
