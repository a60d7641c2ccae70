"""Forest-plot geometry: an analysis's estimates on a log axis, as a drawing model the SVG template only places.

Every x position is computed here from the evidence store's numbers, so the drawn geometry and the printed
numbers cannot drift apart; `tests/widget/test_forest.py` reads the SVG back and checks it against the log scale.
The usual forest-plot layout (one row per estimate, its CI on a log axis, a line of no effect), stacked for a narrow
EHR side panel: each row has its label and numbers above its line, so the plot stays legible at 360 px.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from plugin.core.evidence.analysis import Analysis, Estimate
from plugin.widget.forest_model import (
    AXIS_TICKS,
    FAVOURS_CONTROL,
    FAVOURS_IVIG,
    FONT,
    HEADER_BOTTOM,
    LEGEND_Y,
    LINE,
    MARGIN,
    METHOD_NOTE,
    NO_EFFECT,
    PLOT_LEFT,
    PLOT_RIGHT,
    RANDOMIZED_HEADING,
    SMALL,
    WARNING_HEADING,
    WIDTH,
    Comparison,
    ForestPlot,
    ForestRow,
    Label,
    Legend,
    LogAxis,
    Marker,
    PointOutsideAxisError,
    TextLine,
    Tick,
    arrow,
    marker_points,
    r2,
    wrap,
)


def make_legend(y: float) -> Legend:
    return Legend(
        diamond=marker_points("diamond", 18, y - 5),
        square=marker_points("diamond", 221, y - 5),
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


def make_row(
    item: Estimate | Comparison, axis: LogAxis, top: float, highlighted: bool, indirect: bool = False
) -> ForestRow:
    """Label lines from `top` down, then the numbers, then the CI line with its marker and any arrows."""
    randomized = isinstance(item, Comparison)
    if isinstance(item, Comparison):
        rr, low, high = item.rr, item.ci_low, item.ci_high
    else:
        rr, (low, high) = item.point, item.ci
    if not axis.low <= rr <= axis.high:
        raise PointOutsideAxisError(f"{item.id}: point {rr} is outside [{axis.low}, {axis.high}]")
    labels = wrap(item.label, WIDTH - 2 * MARGIN, FONT)
    numbers_y = top + LINE * len(labels)
    tag_y = numbers_y + LINE if highlighted else None
    line_y = (tag_y or numbers_y) + 16.0
    x_low, off_low = axis.clip(low)
    x_high, off_high = axis.clip(high)
    x_point = axis.x(rr)
    # Every non-randomized estimate shown is a pooled result, so each is a diamond; the ones that apply are marked
    # by a heavier outline and words, never by another shape (readers know a square as one study). The randomized
    # results are a group of their own, with a marker of their own.
    marker: Marker = "circle" if randomized else "diamond"
    return ForestRow(
        estimate_id=item.id,
        label=item.label,
        label_lines=tuple(TextLine(text=t, y=r2(top + i * LINE), emphasis=highlighted) for i, t in enumerate(labels)),
        group="randomized" if randomized else "nonrandomized",
        indirect=indirect,
        rr=rr,
        ci_low=low,
        ci_high=high,
        ci_level=item.ci_level,
        p_value_text=item.p_value_text if isinstance(item, Comparison) else p_text(item),
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


def footer_lines(
    analysis: Analysis, evidence_version: str, top: float, not_drawn: str = ""
) -> tuple[tuple[TextLine, ...], tuple[str, ...]]:
    """What the numbers are, where they come from, what is not drawn and why, and the non-randomized warning,
    which no plot leaves out."""
    width = WIDTH - 2 * MARGIN
    groups = [
        (wrap(METHOD_NOTE, width, SMALL), False),
        *([(wrap(not_drawn, width, SMALL), False)] if not_drawn else []),
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


def forest_plot(
    analysis: Analysis,
    evidence_version: str,
    highlighted: Collection[str] = (),
    randomized: Sequence[Comparison] = (),
    not_drawn: str = "",
    indirect: Collection[str] = (),
) -> ForestPlot:
    """Lay out every estimate of `analysis`; those in `highlighted` (estimate ids) are marked as applying, those
    also in `indirect` as applying indirectly. `randomized` results on the same measure follow in their own
    group; `not_drawn` says in words which randomized results use another measure.

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
        row = make_row(estimate, axis, y, estimate.id in highlighted, estimate.id in indirect)
        rows.append(row)
        y = row.line_y + 26.0
    heading: tuple[TextLine, ...] = ()
    if randomized:
        texts = wrap(RANDOMIZED_HEADING, WIDTH - 2 * MARGIN, SMALL)
        heading = tuple(TextLine(text=t, y=r2(y - 4.0 + i * LINE), emphasis=True) for i, t in enumerate(texts))
        y += LINE * len(texts)
        for comparison in randomized:
            row = make_row(comparison, axis, y, False)
            rows.append(row)
            y = row.line_y + 26.0
    axis_y = y - 8.0
    favours_y = axis_y + 34.0
    footer_top = favours_y + LINE + 12.0
    footer, warning_lines = footer_lines(analysis, evidence_version, footer_top + 18.0, not_drawn)
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
        randomized_heading=heading,
    )
