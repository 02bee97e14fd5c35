"""The text of `resolve` and `cancel`: the plan shown before, one line per batch after.
Pure: strings out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["closing_plan", "closing_result"]


def closing_plan(verb: str, job_id: str, plan: Sequence[Mapping[str, Any]]) -> str:
    """`plan: resolve 2 batch(es) of job J` and a line per batch: what it is, what it becomes."""
    width = max((len(str(p["batch_id"])) for p in plan), default=0)
    lines = [f"plan: {verb} {len(plan)} batch(es) of job {job_id}"]
    lines += [
        f"  {p['batch_id']:<{width}}  {p['status']:<9}  attempt {p['attempt']}  -> {p['becomes']}"
        for p in plan
    ]
    return "\n".join(lines)


def closing_result(result: Mapping[str, Any]) -> str:
    """`2024-05: resolved (was EXHAUSTED); alert resolved`, or what stopped it."""
    line = f"{result['batch_id']}: {result['outcome']} (was {result['was']})"
    if result.get("detail"):
        line += f": {result['detail']}"
    if result.get("alert"):
        line += f"; alert {result['alert']}"
    return line
