"""Small timing helpers: interleaved rounds, medians, percentiles, paired ratios."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence

__all__ = ["interleave", "paired_ratio", "percentile"]


def interleave(
    rounds: int, variants: Mapping[str, Callable[[int], float]]
) -> dict[str, list[float]]:
    """Run every variant once per round, rotating the order so none always goes first.

    On a noisy machine, a variant measured seconds after another sees the same noise; the
    per-round ratios are then far steadier than ratios of separate long runs.
    """
    names = list(variants)
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            out[name].append(variants[name](r))
    return out


def paired_ratio(top: Sequence[float], bottom: Sequence[float]) -> float:
    """Median of the per-round ratios top[i] / bottom[i]."""
    return statistics.median(t / b for t, b in zip(top, bottom, strict=True))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank-interpolated percentile (pct in 0..100) of a non-empty sample."""
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    if pct <= 0:
        return min(values)
    if pct >= 100:
        return max(values)
    return cuts[int(pct) - 1]
