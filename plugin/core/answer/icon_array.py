"""A picture of chances for the decision aid: 100 women, with and without IVIG, from the leading estimate's absolute
effect. Drawn only where that effect exists: a baseline the caller gave or named, and a risk with IVIG that could be
estimated at it (the rule for absolute effects in core/stats/absolute.py); otherwise the aid says in one sentence
why there is none.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from plugin.core.answer.views import EstimateView
from plugin.core.evidence.model import Frozen

FIGURES = 100
# The picture's grid: ten figures a row, each in a cell of this size (SVG user units); the templates place each
# figure where `IconArray.figures()` says and compute nothing.
PER_ROW = 10
CELL_WIDTH = 20
CELL_HEIGHT = 26
# What happens to one woman of the 100: a live birth with or without IVIG; only with IVIG (if the estimate holds);
# only without it (an estimate below 1); or neither.
Cell = Literal["both", "extra", "lost", "neither"]
# Why no picture is drawn: no estimate applies to her; no baseline was given; or the risk with IVIG cannot be
# estimated at the baseline given (the relative effect would pass 100%).
NoPicture = Literal["no_estimate", "no_baseline", "not_estimable"]


class IconArray(Frozen):
    """The leading estimate's absolute effect in 100 women, every count rounded half up from its exact value."""

    estimate: str
    indirect: bool
    baseline: int
    with_ivig: int
    difference: int  # how many of the 100 differ: more with IVIG when with_ivig > baseline, fewer when below
    low: int
    high: int | None  # None: the upper limit would pass 100% at this baseline (or draw all 100), so it is not given
    source: str | None  # the sourced baseline's record (its short name), or None for the clinician's own figure
    cells: tuple[Cell, ...]

    def figures(self) -> list[tuple[int, int, Cell]]:
        """Each figure's top-left corner in the grid, and what happens to her."""
        return [((i % PER_ROW) * CELL_WIDTH, (i // PER_ROW) * CELL_HEIGHT, cell) for i, cell in enumerate(self.cells)]


def in_100(probability: float) -> int:
    """A probability as women in 100, rounded half up from its exact decimal value (0.696 -> 70, 0.305 -> 31)."""
    return int((Decimal(repr(probability)) * FIGURES).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cells(baseline: int, with_ivig: int) -> tuple[Cell, ...]:
    """The 100 figures in reading order: live births either way first, then the difference, then the rest."""
    change: Cell = "extra" if with_ivig > baseline else "lost"
    both = min(baseline, with_ivig)
    difference = abs(with_ivig - baseline)
    neither: Cell = "neither"
    first: Cell = "both"
    return (first,) * both + (change,) * difference + (neither,) * (FIGURES - both - difference)


def icon_array(lead: EstimateView | None, source: str | None) -> IconArray | NoPicture:
    """The picture for the leading estimate, or why there is none."""
    if lead is None:
        return "no_estimate"
    a = lead.absolute
    if a is None:
        return "no_baseline"
    if a.risk_with_ivig is None or a.risk_with_ivig_ci_low is None:
        return "not_estimable"
    baseline, with_ivig = in_100(a.baseline_risk), in_100(a.risk_with_ivig)
    if FIGURES in (baseline, with_ivig):  # 99.5% and more draws every figure: a certain birth the studies never gave
        return "not_estimable"
    high = None if a.risk_with_ivig_ci_high is None else in_100(a.risk_with_ivig_ci_high)
    return IconArray(
        estimate=lead.short_label,
        indirect=lead.directness == "indirect",
        baseline=baseline,
        with_ivig=with_ivig,
        difference=abs(with_ivig - baseline),
        low=in_100(a.risk_with_ivig_ci_low),
        high=None if high == FIGURES else high,
        source=source,
        cells=cells(baseline, with_ivig),
    )
