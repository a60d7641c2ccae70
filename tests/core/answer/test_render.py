"""Rendering: golden outputs per status and format, the warning on every channel, wording bound to certainty."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from plugin.core.answer.formats import fmt_per_1000, fmt_ratio
from plugin.core.answer.plugin import Plugin
from plugin.core.answer.render import MissingWarningError, Renderer
from plugin.core.rules.profile import PatientProfile
from tests.core.answer.test_answer import profiles
from tests.wording_lint import lint

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
CASES: dict[str, dict[str, Any]] = {
    "matched-nk": {
        "prior_pregnancy_losses": 3,
        "nk_cell_percent": 14,
        "autoimmune_conditions": [],
        "th1_th2_ratio_elevated": False,
        "ivig_start": "after_pregnancy_confirmed",
    },
    "matched-both-subgroups-capped": {
        "prior_pregnancy_losses": 2,
        "nk_cell_percent": 18,
        "ivig_start": "conception_cycle",
        "baseline_live_birth_risk": 0.3,
    },
    "insufficient-information": {"prior_pregnancy_losses": 3, "nk_cell_percent": 12, "th1_th2_ratio_elevated": False},
    "outside-population": {
        "prior_pregnancy_losses": 3,
        "nk_cell_percent": 12,
        "autoimmune_conditions": [],
        "th1_th2_ratio_elevated": False,
    },
    "not-rpl": {"prior_pregnancy_losses": 1},
}
EXPECTED_STATUS = {
    "matched-nk": "matched",
    "matched-both-subgroups-capped": "matched",
    "insufficient-information": "insufficient_information",
    "outside-population": "outside_population",
    "not-rpl": "not_rpl",
}
# Words that overstate low-certainty evidence (GRADE guidance 26). The citation's own title is excluded.


def check_golden(path: Path, actual: str) -> None:
    """Compare with the stored golden file; UPDATE_GOLDEN=1 rewrites it (review the diff)."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == actual


@pytest.mark.parametrize("case", list(CASES))
def test_each_status_renders_as_its_golden_markdown_text_and_json(plugin: Plugin, case: str) -> None:
    result = plugin.respond(PatientProfile.model_validate(CASES[case]))
    assert result.status == EXPECTED_STATUS[case]
    check_golden(GOLDEN / "chat" / f"{case}.md", result.rendered.markdown)
    check_golden(GOLDEN / "chat" / f"{case}.txt", result.rendered.text)
    as_json = json.dumps(result.model_dump(mode="json", exclude={"rendered"}), indent=2, ensure_ascii=False) + "\n"
    check_golden(GOLDEN / "json" / f"{case}.json", as_json)


def test_every_profile_on_the_grid_renders_the_warning_in_every_format_without_overstating(plugin: Plugin) -> None:
    warning = plugin.store.analyses["habets-2022-ivig-rpl"].warning.text
    seen = set()
    for fields in profiles():
        result = plugin.respond(PatientProfile.model_validate(fields))
        seen.add(result.status)
        for output in (result.rendered.markdown, result.rendered.text):
            assert warning in output
            assert output.index(warning) < output.index(result.bottom_line)  # the warning comes first
            assert lint(output, result) == [], fields
            assert "Other evidence and guidance" in output and result.not_summarised in output
    assert len(seen) == 4


def test_a_template_that_leaves_out_the_warning_cannot_render(plugin: Plugin, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(Path(__file__).resolve().parents[3] / "templates", templates)
    template = templates / "chat" / "answer.md.j2"
    text = template.read_text(encoding="utf-8")
    template.write_text(text.replace('{% include "partials/warning.md.j2" %}', ""), encoding="utf-8")
    answer = plugin.answer(PatientProfile.model_validate(CASES["matched-nk"]))
    with pytest.raises(MissingWarningError):
        Renderer(templates).render(answer, "markdown")
    assert Renderer(templates).render(answer, "text")  # the untouched template still renders


def test_ratios_print_exactly_the_published_digits(plugin: Plugin) -> None:
    for ref in plugin.store.refs():
        estimate = plugin.store.estimate(ref)[1]
        for value in (estimate.point, *estimate.ci):
            assert float(fmt_ratio(value)) == value


@pytest.mark.parametrize(
    ("probability", "printed"),
    [(0.396, "396"), (0.2295, "230"), (0.2285, "229"), (1.0, "1000"), (0.0005, "1")],
)
def test_per_1000_rounds_half_up_from_the_exact_decimal(probability: float, printed: str) -> None:
    assert fmt_per_1000(probability) == printed


def test_html_and_svg_templates_are_autoescaped_by_the_core_environment(tmp_path: Path) -> None:
    (tmp_path / "page.html.j2").write_text("<p>{{ value }}</p>", encoding="utf-8")
    (tmp_path / "plot.svg.j2").write_text("<text>{{ value }}</text>", encoding="utf-8")
    (tmp_path / "note.md.j2").write_text("{{ value }}", encoding="utf-8")
    env = Renderer(tmp_path).env
    script = "<script>alert(1)</script>"
    assert env.get_template("page.html.j2").render(value=script) == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert "&lt;script&gt;" in env.get_template("plot.svg.j2").render(value=script)
    assert env.get_template("note.md.j2").render(value="a < b") == "a < b"


@pytest.mark.parametrize("risk", [0.05, 0.3, 0.61, 0.99])
def test_each_assumed_risk_of_the_summary_of_findings_is_a_line_of_its_own(plugin: Plugin, risk: float) -> None:
    """A risk line used to run into the comments after it ("...more).- All studies: Non-randomized...")."""
    answer = plugin.answer(
        PatientProfile(
            prior_pregnancy_losses=3,
            nk_cell_percent=18,
            ivig_start="before_conception",
            baseline_live_birth_risk=risk,
        )
    )
    markdown, text = (plugin.renderer.render(answer, fmt) for fmt in ("markdown", "text"))
    labels = [e.label for e in answer.estimates]
    risk_lines = [line for line in markdown.split("\n") if ": assumed risk without IVIG" in line]
    assert [line.split(":")[0] for line in risk_lines] == [f"- {label}" for label in labels]
    assert all("Non-randomized evidence" not in line for line in risk_lines)
    comment_lines = [line for line in markdown.split("\n") if ": Non-randomized evidence; residual confounding" in line]
    assert [line.split(":")[0] for line in comment_lines] == [f"- {label}" for label in labels]
    text_risks = [line for line in text.split("\n") if line.startswith("      Without IVIG")]
    assert len(text_risks) == len(labels)
    assert all("Non-randomized evidence" not in line for line in text_risks)
