"""The forest-plot SVG: parses as XML, and its geometry is the evidence store's numbers on a log scale."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from plugin.core.answer.plugin import Plugin
from plugin.core.evidence.analysis import Analysis, Estimate
from plugin.widget.forest import forest_plot
from plugin.widget.forest_model import AXIS_TICKS, LogAxis, PointOutsideAxisError

SVG = "{http://www.w3.org/2000/svg}"
URL = "/v1/evidence/habets-2022-ivig-rpl/forest.svg"
# Coordinates are printed to 0.01 px, so each is off its exact value by at most 0.005. An expected x built from
# two printed tick positions adds at most 0.005 + 0.005 more; 0.02 covers the sum (worst seen: 0.0049).
TOLERANCE_PX = 0.02


def parse(client: TestClient, *highlight: str) -> ET.Element:
    response = client.get(URL, params=[("highlight", h) for h in highlight])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    return ET.fromstring(response.text)


def scale(svg: ET.Element) -> tuple[float, float]:
    """x of RR 1 and px per log10 unit, read back from the drawn ticks (not from the code that drew them)."""
    ticks = {float(t.get("data-value", "nan")): float(t.get("x1", "nan")) for t in svg.iter(f"{SVG}line")}
    ticks = {v: x for v, x in ticks.items() if not math.isnan(v)}
    return ticks[1.0], ticks[10.0] - ticks[1.0]


def rows(svg: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-estimate", ""): g for g in svg.iter(f"{SVG}g") if g.get("data-estimate")}


def analysis(plugin: Plugin) -> Analysis:
    return plugin.store.analysis


def text_of(element: ET.Element) -> str:
    return "".join(element.itertext())


def polygon(element: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in element.get("points", "").split())]


def test_every_ci_end_and_point_sits_at_its_value_on_the_log_scale(client: TestClient, plugin: Plugin) -> None:
    svg = parse(client)
    x_one, per_decade = scale(svg)
    drawn = rows(svg)
    high = AXIS_TICKS[-1]
    for estimate in analysis(plugin).estimates:
        row = drawn[estimate.id]
        line = row.find(f"{SVG}line[@class='ci']")
        assert line is not None
        for value, x_attr, end in ((estimate.ci[0], "x1", "low"), (estimate.ci[1], "x2", "high")):
            x = float(line.get(x_attr, "nan"))
            arrow = row.find(f"{SVG}polygon[@data-end='{end}']")
            if value > high:  # 13.05: held at the axis end, with an arrowhead whose tip is that end
                assert x == pytest.approx(x_one + per_decade * math.log10(high), abs=TOLERANCE_PX)
                assert arrow is not None
                assert polygon(arrow)[0] == (x, float(line.get("y1", "nan")))
                assert max(px for px, _ in polygon(arrow)) == x
            else:
                assert x == pytest.approx(x_one + per_decade * math.log10(value), abs=TOLERANCE_PX)
                assert arrow is None
        marker = row.find(f"{SVG}polygon[@data-rr]")
        assert marker is not None
        xs = [px for px, _ in polygon(marker)]
        centre = (min(xs) + max(xs)) / 2
        assert centre == pytest.approx(x_one + per_decade * math.log10(estimate.point), abs=TOLERANCE_PX)


def test_the_conception_cycle_upper_limit_runs_off_the_axis_with_an_arrow(client: TestClient) -> None:
    row = rows(parse(client))["start-before-or-during-conception-cycle"]
    assert row.find(f"{SVG}polygon[@data-end='high']") is not None
    assert row.find(f"{SVG}polygon[@data-end='low']") is None
    assert "13.05" in text_of(row)


def test_axis_ticks_are_at_half_one_two_five_and_ten_on_a_log_scale(client: TestClient) -> None:
    svg = parse(client)
    ticks = [t for t in svg.iter(f"{SVG}line") if t.get("data-value")]
    assert [float(t.get("data-value", "nan")) for t in ticks] == [0.5, 1.0, 2.0, 5.0, 10.0]
    x_one, per_decade = scale(svg)
    for tick in ticks:
        value = float(tick.get("data-value", "nan"))
        assert float(tick.get("x1", "nan")) == pytest.approx(x_one + per_decade * math.log10(value), abs=TOLERANCE_PX)
    labels = [text_of(t) for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    assert labels == ["0.5", "1", "2", "5", "10"]


def test_the_solid_line_of_no_effect_stands_at_rr_one(client: TestClient) -> None:
    svg = parse(client)
    x_one, _ = scale(svg)
    lines = [line for line in svg.iter(f"{SVG}line") if line.get("class") == "no-effect"]
    assert lines
    for line in lines:
        assert float(line.get("x1", "nan")) == float(line.get("x2", "nan")) == x_one
        assert line.get("stroke-dasharray") is None


def test_favours_control_is_left_of_no_effect_and_favours_ivig_right(client: TestClient) -> None:
    svg = parse(client)
    x_one, _ = scale(svg)
    group = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "favours")
    left = " ".join(text_of(t) for t in group if float(t.get("x", "nan")) < x_one)
    right = " ".join(text_of(t) for t in group if float(t.get("x", "nan")) > x_one)
    assert left == "← Favours control"
    assert right == "Favours IVIG →"


def test_printed_numbers_are_the_stored_numbers_with_two_decimals(client: TestClient, plugin: Plugin) -> None:
    drawn = rows(parse(client))
    for estimate in analysis(plugin).estimates:
        numbers = drawn[estimate.id].find(f"{SVG}text[@class='numbers']")
        assert numbers is not None
        low, high = estimate.ci
        assert text_of(numbers).startswith(f"RR {estimate.point:.2f} ({low:.2f} to {high:.2f})")


def test_the_footer_carries_the_nonrandomized_warning_word_for_word(client: TestClient, plugin: Plugin) -> None:
    svg = parse(client)
    footer = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "footer")
    bold = [text_of(t) for t in footer if t.get("font-weight") == "bold"]
    assert bold[0] == "Non-randomized evidence."
    assert " ".join(bold[1:]) == analysis(plugin).warning.text
    assert plugin.store.version in " ".join(text_of(t) for t in footer)


def test_title_and_description_give_screen_readers_the_same_numbers(client: TestClient, plugin: Plugin) -> None:
    svg = parse(client, "overall")
    assert svg.get("role") == "img"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert svg.get("aria-labelledby") == title.get("id")
    assert svg.get("aria-describedby") == desc.get("id")
    description = text_of(desc)
    for estimate in analysis(plugin).estimates:
        low, high = estimate.ci
        assert f"{estimate.label}: RR {estimate.point:.2f} (95% CI {low:.2f} to {high:.2f})" in description
    assert "All studies: RR 1.98 (95% CI 1.44 to 2.73), P < 0.0001; applies to this patient." in description
    assert analysis(plugin).warning.text in description


def test_every_estimate_is_a_diamond_and_hers_differ_by_outline_weight_and_words_not_colour_alone(
    client: TestClient,
) -> None:
    drawn = rows(parse(client, "nk-above-12", "overall"))
    for estimate_id, row in drawn.items():
        applies = estimate_id in ("nk-above-12", "overall")
        assert row.get("data-highlighted") == ("true" if applies else "false")
        marker = row.find(f"{SVG}polygon[@data-rr]")
        assert marker is not None
        # Every estimate is pooled, so every marker is a diamond (CLINICAL.md section 8); weight and words mark hers.
        assert marker.get("class") == "marker diamond"
        assert marker.get("stroke-width") == ("3" if applies else "1.5")
        labels = [t for t in row if t.get("class") == "label"]
        assert all((t.get("font-weight") == "bold") == applies for t in labels)
        assert ("applies to this patient" in text_of(row)) == applies


def test_a_plot_without_highlight_has_no_legend_and_marks_nothing(client: TestClient) -> None:
    svg = parse(client)
    assert not any(g.get("class") == "legend" for g in svg.iter(f"{SVG}g"))
    assert all(row.get("data-highlighted") == "false" for row in rows(svg).values())


def test_an_unknown_highlight_is_a_422_naming_the_parameter(client: TestClient) -> None:
    response = client.get(URL, params={"highlight": "nk-above-20"})
    assert response.status_code == 422
    assert [field["path"] for field in response.json()["error"]["details"]["fields"]] == ["highlight"]


def test_an_unknown_analysis_is_a_404_in_the_plugin_error_shape(client: TestClient) -> None:
    response = client.get("/v1/evidence/no-such-analysis/forest.svg")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "evidence.unknown_analysis"


def test_the_svg_document_runs_and_loads_nothing(client: TestClient) -> None:
    response = client.get(URL)
    assert response.headers["content-security-policy"].startswith("default-src 'none'; frame-ancestors ")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in response.text


def test_a_ci_below_the_axis_gets_a_left_arrow(plugin: Plugin) -> None:
    source = analysis(plugin)
    low_estimate = source.overall.model_copy(update={"point": 0.6, "ci": (0.3, 1.2)})
    plot = forest_plot(source.model_copy(update={"estimates": (low_estimate,)}), "v")
    (row,) = plot.rows
    assert row.arrow_low is not None and row.arrow_high is None
    assert row.x_low == plot.axis.left
    assert row.arrow_low.split()[0] == f"{plot.axis.left},{row.line_y}"


def test_a_point_outside_the_axis_is_refused_rather_than_clipped(plugin: Plugin) -> None:
    source = analysis(plugin)
    huge: Estimate = source.overall.model_copy(update={"point": 12.0, "ci": (11.0, 13.0)})
    with pytest.raises(PointOutsideAxisError):
        forest_plot(source.model_copy(update={"estimates": (huge,)}), "v")


def test_an_unknown_highlight_id_is_refused_by_the_geometry_too(plugin: Plugin) -> None:
    with pytest.raises(KeyError):
        forest_plot(analysis(plugin), "v", ["no-such-estimate"])


def test_equal_ratios_are_equal_distances_on_the_axis() -> None:
    axis = LogAxis(low=0.5, high=10, left=0, right=300)
    assert axis.x(2) - axis.x(1) == pytest.approx(axis.x(1) - axis.x(0.5))
    assert axis.x(0.5) == 0 and axis.x(10) == pytest.approx(300)
