"""How the benchmarks print a figure: a median with its range, a ratio against a baseline with the target
beside it. Medians over interleaved rounds, because these machines are shared and noisy."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def spread(values: Sequence[float], spec: str = ".3f") -> str:
    """`median [min-max]`."""
    return f"{statistics.median(values):{spec}} [{min(values):{spec}}-{max(values):{spec}}]"


def kib(value: int) -> str:
    return f"{value / 1024:.1f} MiB"


def verdict(value: float, at_least: float | None, at_most: float | None) -> str:
    if at_least is not None:
        return f"target >= {at_least:.1f}x: {'meets' if value >= at_least else 'MISSES'}"
    if at_most is not None:
        return f"target <= {at_most:.1f}x: {'meets' if value <= at_most else 'MISSES'}"
    return "no target"


def ratio_line(
    label: str,
    ours: Sequence[float],
    bare: Sequence[float],
    at_least: float | None = None,
    at_most: float | None = None,
) -> str:
    """Ours over the baseline, medians over rounds, with the range of the per-round ratios (round i of ours beside
    round i of the baseline, measured moments apart) and the verdict against the target."""
    ratio = statistics.median(ours) / statistics.median(bare)
    rounds = [o / b for o, b in zip(ours, bare, strict=True)]
    return (
        f"  {label} {ratio:.2f}x (per round {min(rounds):.2f}-{max(rounds):.2f}x); {verdict(ratio, at_least, at_most)}"
    )
