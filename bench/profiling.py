"""cProfile output: saved for `python -m pstats` / snakeviz, and summarised for the report."""

from __future__ import annotations

import os
import pstats
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["summarise"]

_ROOT = str(Path(__file__).resolve().parent.parent) + os.sep


def _where(file: str, line: int, func: str) -> str:
    if file.startswith(_ROOT):
        file = file[len(_ROOT) :]
    elif "site-packages" + os.sep in file:
        file = file.split("site-packages" + os.sep, 1)[1]
    return f"{file}:{line} {func}" if line else func


def summarise(
    stats: pstats.Stats,
    path: Path,
    packages: Sequence[str],
    top: int = 25,
    stages: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Dump `stats` to `path`; return the heaviest entries, by cumulative and by own time.

    `own` lists every function (botocore, urllib3, the code under test); `packages` (e.g.
    `("/observability/",)`) selects the entries `cumulative` lists: the code's own
    functions, with everything they call. `stages` names functions by (file suffix,
    function name) and gets each one's cumulative share: where the time goes, by step.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    stats.dump_stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = max(float(stats.total_tt), 1e-9)  # type: ignore[attr-defined]
    rows = [
        {
            "at": _where(file, line, func),
            "calls": nc,
            "own_share": round(own / total, 4),
            "cum_share": round(cum / total, 4),
            "own_ms": round(own * 1e3, 2),
            "cum_ms": round(cum * 1e3, 2),
            "ours": any(p in file for p in packages),
        }
        for (file, line, func), (_cc, nc, own, cum, _callers) in raw.items()
    ]
    ours = sorted((r for r in rows if r["ours"]), key=lambda r: r["cum_share"], reverse=True)
    shares = {
        label: round(
            sum(
                cum
                for (file, _line, func), (_cc, _nc, _own, cum, _callers) in raw.items()
                if file.endswith(suffix) and func == name
            )
            / total,
            4,
        )
        for label, (suffix, name) in (stages or {}).items()
    }
    return {
        "stages": shares,
        "file": str(path),
        "profiled_seconds": total,
        "own_share_of_ours": round(sum(r["own_share"] for r in ours), 4),
        "own": sorted(rows, key=lambda r: r["own_share"], reverse=True)[:top],
        "cumulative": ours[:top],
    }
