"""Which REMEDIATOR_* variables the code reads, and the closest one to a misspelt name. Pure.

Settings classes ignore variables they do not know (as pydantic-settings' `extra="ignore"`),
so a typo such as REMEDIATOR_MAX_ATEMPTS would leave the default in force without a word;
`doctor` asks here.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from typing import Any

__all__ = ["known_variables", "unknown_variables"]


def known_variables(*models: type[Any]) -> set[str]:
    """The environment names of every field of the given settings classes (aliases apart):
    pydantic-settings models and `observability.envconfig` ones answer alike."""
    names: set[str] = set()
    for model in models:
        prefix = str(model.model_config.get("env_prefix", ""))
        for field, info in model.model_fields.items():
            if info.validation_alias is None:
                names.add(f"{prefix}{field}".upper())
    return names


def unknown_variables(
    names: Iterable[str], known: Collection[str], prefix: str = "REMEDIATOR_"
) -> list[tuple[str, str | None]]:
    """Each name with the prefix that no setting reads, with the closest known name (or None)."""
    ours = sorted({n for n in names if n.upper().startswith(prefix)})
    # Compared without the prefix, which every name shares and which would make any two close.
    tails = {k[len(prefix) :]: k for k in known if k.startswith(prefix)}
    out: list[tuple[str, str | None]] = []
    for name in ours:
        if name.upper() in known:
            continue
        close = difflib.get_close_matches(name.upper()[len(prefix) :], sorted(tails), n=1)
        out.append((name, tails[close[0]] if close else None))
    return out
