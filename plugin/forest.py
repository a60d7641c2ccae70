"""Forest-plot geometry: an analysis's estimates on a log axis, as a drawing model the SVG template only places.

Every x position is computed here from the evidence store's numbers, so the drawn geometry and the printed
numbers cannot drift apart; `tests/test_forest.py` reads the SVG back and checks it against the log scale.
Layout follows ../shared/standards/evidence-presentation.md section 4, stacked for a narrow EHR side panel:
each row has its label and numbers above its line, so the plot stays legible at 360 px.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from plugin.evidence import Analysis, Estimate

AXIS_TICKS = (0.5, 1.0, 2.0, 5.0, 10.0)
NO_EFFECT = 1.0

WIDTH = 360.0
HEADER_BOTTOM = 56.0
LEGEND_Y = 78.0
MARGIN = 12.0
PLOT_LEFT = 24.0
PLOT_RIGHT = 336.0
FONT = 13.0
SMALL = 12.0
LINE = 16.0
# Average glyph advance of a sans-serif face as a share of the font size; 0.58 is on the wide side
# (DejaVu Sans), so wrapped lines fit with the narrower faces too.
GLYPH = 0.58
MARKER = 7.0
ARROW_LENGTH = 8.0
ARROW_HALF_WIDTH = 4.0

METHOD_NOTE = "Summary risk ratios as published; study-level weights were not available."
WARNING_HEADING = "Non-randomized evidence."
FAVOURS_CONTROL = ("← Favours", "control")
FAVOURS_IVIG = ("Favours", "IVIG →")

Marker = Literal["diamond", "square"]


class PointOutsideAxisError(ValueError):
    """A point estimate falls outside the drawn axis: the axis must be widened, the point never clipped."""


@dataclass(frozen=True)
class LogAxis:
    """Maps a ratio to an x position: equal distances for equal ratios (0.5 to 1 is as long as 1 to 2)."""

    low: float
    high: float
    left: float
    right: float

    def x(self, value: float) -> float:
        share = (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return self.left + share * (self.right - self.left)

    def clip(self, value: float) -> tuple[float, bool]:
        """The x position of a CI end, held at the axis edge (with an arrow) when the value runs past it."""
        if value > self.high:
            return self.right, True
        if value < self.low:
            return self.left, True
        return self.x(value), False


@dataclass(frozen=True)
class Tick:
    value: float
    x: float
    label: str
    tick_end_y: float
    label_y: float


@dataclass(frozen=True)
class TextLine:
    text: str
    y: float
    emphasis: bool


@dataclass(frozen=True)
class Label:
    text: str
    x: float
    y: float
    anchor: Literal["start", "end"]


@dataclass(frozen=True)
class Legend:
    """Shape and words, not colour alone, say which estimates apply: a filled diamond against an open square."""

    diamond: str
    square: str
    diamond_text_x: float
    square_text_x: float
    text_y: float


@dataclass(frozen=True)
class ForestRow:
    """One estimate: its numbers as stored, whether it applies to this patient, and where to draw it."""

    estimate_id: str
    label: str
    label_lines: tuple[TextLine, ...]
    rr: float
    ci_low: float
    ci_high: float
    ci_level: float
    p_value_text: str
    highlighted: bool
    marker: Marker
    numbers_y: float
    tag_y: float | None
    line_y: float
    x_point: float
    x_low: float
    x_high: float
    arrow_low: str | None
    arrow_high: str | None
    marker_points: str


@dataclass(frozen=True)
class ForestPlot:
    width: float
    height: float
    axis: LogAxis
    ticks: tuple[Tick, ...]
    no_effect_x: float
    no_effect_segments: tuple[tuple[float, float], ...]
    axis_y: float
    favours: tuple[Label, ...]
    legend: Legend | None
    rows: tuple[ForestRow, ...]
    footer_top: float
    footer_right: float
    footer: tuple[TextLine, ...]
    warning_lines: tuple[str, ...]
    highlighted: tuple[str, ...]


def wrap(text: str, width: float, font_size: float) -> tuple[str, ...]:
    """Break text into lines that fit `width` at `font_size`, by an average glyph width (SVG text cannot wrap)."""
    chars = max(1, int(width / (font_size * GLYPH)))
    return tuple(textwrap.wrap(text, width=chars, break_on_hyphens=False, break_long_words=False))


def r2(value: float) -> float:
    """Coordinates are printed to 0.01 px: finer than any screen, and stable text for the tests to read."""
    return round(value, 2)


def points(*xy: tuple[float, float]) -> str:
    return " ".join(f"{r2(x)},{r2(y)}" for x, y in xy)


def marker_points(marker: Marker, x: float, y: float) -> str:
    if marker == "diamond":
        return points((x, y - MARKER), (x + MARKER, y), (x, y + MARKER), (x - MARKER, y))
    half = MARKER * 0.6
    return points((x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half))


def arrow(tip_x: float, y: float, direction: Literal[-1, 1]) -> str:
    """A triangle whose tip sits on the axis edge and points the way the CI runs off the axis."""
    base_x = tip_x - direction * ARROW_LENGTH
    return points((tip_x, y), (base_x, y - ARROW_HALF_WIDTH), (base_x, y + ARROW_HALF_WIDTH))


def make_legend(y: float) -> Legend:
    return Legend(
        diamond=marker_points("diamond", 18, y - 5),
        square=marker_points("square", 221, y - 5),
        diamond_text_x=30,
        square_text_x=231,
        text_y=y - 1,
    )


def no_effect_segments(rows: list[ForestRow], axis_y: float) -> tuple[tuple[float, float], ...]:
    """The line of no effect runs through each row's plot band and on to the axis, never through the labels."""
    bands = [(r2((row.tag_y or row.numbers_y) + 5), r2(row.line_y + 12)) for row in rows]
    bands[-1] = (bands[-1][0], r2(axis_y))
    return tuple(bands)


def favours_labels(axis: LogAxis, y: float) -> tuple[Label, ...]:
    """Either side of the line of no effect. Live birth is a good outcome, so RR > 1 favours IVIG (spec item 9);
    two short lines each, because the axis gives the control side only a quarter of the width."""
    left, right = axis.x(NO_EFFECT) - 6, axis.x(NO_EFFECT) + 6
    return (
        Label(FAVOURS_CONTROL[0], r2(left), r2(y), "end"),
        Label(FAVOURS_CONTROL[1], r2(left), r2(y + LINE - 2), "end"),
        Label(FAVOURS_IVIG[0], r2(right), r2(y), "start"),
        Label(FAVOURS_IVIG[1], r2(right), r2(y + LINE - 2), "start"),
    )


def display_order(analysis: Analysis) -> list[Estimate]:
    """Subgroups in the order the source lists them, then the overall estimate last, as a total row is."""
    return [e for e in analysis.estimates if e.role == "subgroup"] + [analysis.overall]


def p_text(estimate: Estimate) -> str:
    return estimate.p_value_text or f"{estimate.p_value}"


def make_row(estimate: Estimate, axis: LogAxis, top: float, highlighted: bool) -> ForestRow:
    """Label lines from `top` down, then the numbers, then the CI line with its marker and any arrows."""
    if not axis.low <= estimate.point <= axis.high:
        raise PointOutsideAxisError(f"{estimate.id}: point {estimate.point} is outside [{axis.low}, {axis.high}]")
    labels = wrap(estimate.label, WIDTH - 2 * MARGIN, FONT)
    numbers_y = top + LINE * len(labels)
    tag_y = numbers_y + LINE if highlighted else None
    line_y = (tag_y or numbers_y) + 16.0
    low, high = estimate.ci
    x_low, off_low = axis.clip(low)
    x_high, off_high = axis.clip(high)
    x_point = axis.x(estimate.point)
    marker: Marker = "diamond" if highlighted else "square"
    return ForestRow(
        estimate_id=estimate.id,
        label=estimate.label,
        label_lines=tuple(TextLine(text=t, y=r2(top + i * LINE), emphasis=highlighted) for i, t in enumerate(labels)),
        rr=estimate.point,
        ci_low=low,
        ci_high=high,
        ci_level=estimate.ci_level,
        p_value_text=p_text(estimate),
        highlighted=highlighted,
        marker=marker,
        numbers_y=r2(numbers_y),
        tag_y=None if tag_y is None else r2(tag_y),
        line_y=r2(line_y),
        x_point=r2(x_point),
        x_low=r2(x_low),
        x_high=r2(x_high),
        arrow_low=arrow(x_low, line_y, -1) if off_low else None,
        arrow_high=arrow(x_high, line_y, 1) if off_high else None,
        marker_points=marker_points(marker, x_point, line_y),
    )


def footer_lines(analysis: Analysis, evidence_version: str, top: float) -> tuple[tuple[TextLine, ...], tuple[str, ...]]:
    """What the numbers are, where they come from, and the non-randomized warning, which no plot leaves out."""
    width = WIDTH - 2 * MARGIN
    groups = [
        (wrap(METHOD_NOTE, width, SMALL), False),
        (wrap(f"Source: {analysis.source.short}. Evidence version {evidence_version}.", width, SMALL), False),
        ((WARNING_HEADING,), True),
        (wrap(analysis.warning.text, width, SMALL), True),
    ]
    lines: list[TextLine] = []
    y = top
    for texts, emphasis in groups:
        for text in texts:
            lines.append(TextLine(text=text, y=r2(y), emphasis=emphasis))
            y += LINE
        y += 4.0
    return tuple(lines), groups[-1][0]


def forest_plot(analysis: Analysis, evidence_version: str, highlighted: Collection[str] = ()) -> ForestPlot:
    """Lay out every estimate of `analysis`; those in `highlighted` (estimate ids) are marked as applying.

    Raises:
        KeyError: a highlighted id is not an estimate of this analysis.
        PointOutsideAxisError: a point estimate lies outside the axis ticks.
    """
    known = {e.id for e in analysis.estimates}
    unknown = sorted(set(highlighted) - known)
    if unknown:
        raise KeyError(f"not estimates of {analysis.id}: {unknown}")
    axis = LogAxis(low=AXIS_TICKS[0], high=AXIS_TICKS[-1], left=PLOT_LEFT, right=PLOT_RIGHT)
    legend = make_legend(LEGEND_Y) if highlighted else None
    y = (LEGEND_Y if legend else HEADER_BOTTOM) + 24.0
    rows: list[ForestRow] = []
    for estimate in display_order(analysis):
        row = make_row(estimate, axis, y, estimate.id in highlighted)
        rows.append(row)
        y = row.line_y + 26.0
    axis_y = y - 8.0
    favours_y = axis_y + 34.0
    footer_top = favours_y + LINE + 12.0
    footer, warning_lines = footer_lines(analysis, evidence_version, footer_top + 18.0)
    height = footer[-1].y + 10.0
    return ForestPlot(
        width=WIDTH,
        height=r2(height),
        axis=axis,
        ticks=tuple(
            Tick(value=v, x=r2(axis.x(v)), label=f"{v:g}", tick_end_y=r2(axis_y + 5), label_y=r2(axis_y + 17))
            for v in AXIS_TICKS
        ),
        no_effect_x=r2(axis.x(NO_EFFECT)),
        no_effect_segments=no_effect_segments(rows, axis_y),
        axis_y=r2(axis_y),
        favours=favours_labels(axis, favours_y),
        legend=legend,
        rows=tuple(rows),
        footer_top=r2(footer_top),
        footer_right=WIDTH - MARGIN,
        footer=footer,
        warning_lines=warning_lines,
        highlighted=tuple(e.id for e in display_order(analysis) if e.id in highlighted),
    )
