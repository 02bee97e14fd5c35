"""Custom triggers: callables registered in-process or found in the `remediator.triggers`
entry-point group, loaded once."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from observability.models.describe import describe_exception
from observability.triggers import CustomTrigger
from remediator.errors import TriggerRejected
from remediator.triggers.context import TriggerContext

__all__ = ["ENTRY_POINT_GROUP", "fire_custom", "register_trigger"]

ENTRY_POINT_GROUP = "remediator.triggers"

_custom: dict[str, Callable[[dict[str, Any], TriggerContext], str]] = {}


def register_trigger(name: str, fn: Callable[[dict[str, Any], TriggerContext], str]) -> None:
    """Register a custom trigger in-process (the entry-point group does the same from a package)."""
    _custom[name] = fn


def fire_custom(spec: CustomTrigger, ctx: TriggerContext) -> str:
    fn = _custom.get(spec.name)
    if fn is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec.name]
        if not found:
            raise TriggerRejected(
                f"no custom trigger {spec.name!r}: register it in the {ENTRY_POINT_GROUP!r} "
                "entry-point group"
            )
        try:
            fn = found[0].load()
        except Exception as exc:  # an entry point that does not import will not later
            kind, text = describe_exception(exc)
            raise TriggerRejected(
                f"custom trigger {spec.name!r} ({found[0].value}) cannot be loaded: {kind}: {text}"
            ) from exc
        _custom[spec.name] = fn
    return str(fn(dict(spec.params), ctx))
