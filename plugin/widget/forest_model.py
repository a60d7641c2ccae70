"""The forest plot's drawing model: sizes, the log axis, and the shapes and text lines the SVG template places."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import Literal

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

Marker = Literal["diamond", "square", "circle"]
Group = Literal["nonrandomized", "randomized"]
RANDOMIZED_HEADING = "● Randomized trials in RPL not selected for immune findings (same measure)"


@dataclass(frozen=True)
class Comparison:
    """A randomized result on the same measure (RR of live birth), drawn beside the non-randomized estimates in a
    group of its own and with a marker of its own."""

    id: str
    label: str
    rr: float
    ci_low: float
    ci_high: float
    ci_level: float
    p_value_text: str


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
    group: Group
    indirect: bool
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
    randomized_heading: tuple[TextLine, ...] = ()


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
    """A polygon's points; a circle is drawn by the template from the row's centre instead (empty here)."""
    if marker == "circle":
        return ""
    if marker == "diamond":
        return points((x, y - MARKER), (x + MARKER, y), (x, y + MARKER), (x - MARKER, y))
    half = MARKER * 0.6
    return points((x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half))


def arrow(tip_x: float, y: float, direction: Literal[-1, 1]) -> str:
    """A triangle whose tip sits on the axis edge and points the way the CI runs off the axis."""
    base_x = tip_x - direction * ARROW_LENGTH
    return points((tip_x, y), (base_x, y - ARROW_HALF_WIDTH), (base_x, y + ARROW_HALF_WIDTH))
