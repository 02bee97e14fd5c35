"""Figures with their goals, the printed table, and bench/out/latest.json."""

from __future__ import annotations

import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Figure", "render", "write_json"]

_OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}


@dataclass
class Figure:
    """One headline figure: `value` (a ratio, or a count) compared with `goal` by `op`.

    `op` "info" marks a figure reported for context (the endpoint's own ceiling): no goal.
    """

    key: str
    label: str
    value: float | None
    goal: float
    op: str
    measured: str = ""  # absolute, through the code under test (secondary)
    floor: str = ""  # absolute, the floor it is divided by (secondary)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool | None:
        if self.value is None or self.op == "info":
            return None
        return bool(_OPS[self.op](round(self.value, 6), self.goal))

    @property
    def mark(self) -> str:
        if self.op == "info":
            return "info"
        return {True: "PASS", False: "MISS", None: "n/a"}[self.passed]

    def goal_text(self) -> str:
        return "-" if self.op == "info" else f"{self.op} {self.goal:g}"


def _value_text(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value == int(value) and abs(value) >= 10 else f"{value:.2f}"


def render(figures: Sequence[Figure], title: str) -> str:
    header = ("figure", "measured", "floor", "value", "goal", "")
    rows = [
        (f.label, f.measured, f.floor, _value_text(f.value), f.goal_text(), f.mark) for f in figures
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)

    def fmt(row: Sequence[str]) -> str:
        cells = [
            str(c).rjust(w) if i == 3 else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    out = [title, line, fmt(header), line, *(fmt(r) for r in rows), line]
    notes = [(f.key, n) for f in figures for n in f.notes]
    if notes:
        out.append("notes:")
        out += [f"  [{key}] {note}" for key, note in notes]
    return "\n".join(out)


def write_json(
    path: Path, figures: Sequence[Figure], extra: dict[str, Any], details: dict[str, Any]
) -> None:
    data: dict[str, Any] = {f.key: f.value for f in figures}
    data.update(extra)
    data["goals"] = {f.key: f.goal_text() for f in figures}
    data["pass"] = {f.key: f.passed for f in figures}
    data["notes"] = {f.key: f.notes for f in figures if f.notes}
    data["details"] = details
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
