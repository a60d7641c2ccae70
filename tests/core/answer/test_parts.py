"""Partials rendered once for each value of what they read (`part` in a template) give, character for character,
what rendering them afresh gives; a partial that reads a field its call leaves out fails instead of reusing text."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import jinja2
import pytest

from plugin.config import Settings
from plugin.core.answer.plugin import Plugin
from plugin.core.answer.render import Detail, Format, Renderer
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, IVIG_STARTS, RPL_TYPES, PatientProfile
from plugin.errors import ProfileError
from plugin.web.form import parse_query
from plugin.widget.page import render_page
from tests.core.answer.test_answer import profiles

FORMATS: tuple[Format, ...] = ("markdown", "text")
DETAILS: tuple[Detail, ...] = ("full", "evidence")


def varied(count: int, seed: int = 26) -> list[PatientProfile]:
    """Profiles as real traffic sends them: continuous NK %, any conditions and timing, some with a baseline chance."""
    rng = random.Random(seed)
    conditions = [None, *(c for n in range(4) for c in itertools.combinations(AUTOIMMUNE_CONDITIONS, n))]
    return [
        PatientProfile.model_validate(
            {
                "prior_pregnancy_losses": rng.randint(0, 8),
                "nk_cell_percent": round(rng.uniform(0, 40), 2),
                "autoimmune_conditions": rng.choice(conditions),
                "ivig_start": rng.choice([None, *IVIG_STARTS]),
                "th1_th2_ratio_elevated": rng.choice([None, True, False]),
                "rpl_type": rng.choice([None, *RPL_TYPES]),
                "baseline_live_birth_risk": round(rng.uniform(0.3, 0.85), 3) if rng.random() < 1 / 3 else None,
            }
        )
        for _ in range(count)
    ]


def test_kept_partials_render_as_afresh_over_the_grid_and_a_varied_mix(plugin: Plugin, settings: Settings) -> None:
    kept = Renderer(settings.templates_dir)
    afresh = Renderer(settings.templates_dir, parts_kept=0)
    points = [PatientProfile.model_validate(fields) for fields in profiles()[::3]] + varied(600)
    rendered = 0
    for profile in points:
        try:
            answer = plugin.compute(profile, ivig_order=rendered % 2 == 1)
        except ProfileError:
            continue
        for fmt, detail in itertools.product(FORMATS, DETAILS):
            assert kept.render(answer, fmt, detail) == afresh.render(answer, fmt, detail)
        rendered += 1
    assert rendered == 1050 + 600
    parts = kept.parts
    # Fourteen partials (the pieces of two layers and the other evidence, in two formats) for 1,650 answers, a
    # third of the varied ones at a baseline of their own: most were reused.
    assert 100 < len(parts) < 14 * rendered / 4
    assert len(afresh.parts) == 0


def test_a_partial_reading_a_field_its_call_leaves_out_fails(tmp_path: Path, plugin: Plugin) -> None:
    (tmp_path / "whole.j2").write_text('{{ part("part.j2", answer, "status") }}', encoding="utf-8")
    (tmp_path / "part.j2").write_text("{{ answer.status }}: {{ answer.bottom_line }}", encoding="utf-8")
    renderer = Renderer(tmp_path)
    answer = plugin.answer(PatientProfile(prior_pregnancy_losses=3, nk_cell_percent=14))
    with pytest.raises(jinja2.UndefinedError):
        renderer.env.get_template("whole.j2").render(answer=answer)


def test_a_partial_is_rendered_again_when_what_it_reads_differs(tmp_path: Path, plugin: Plugin) -> None:
    (tmp_path / "whole.j2").write_text('{{ part("part.j2", answer, "status") }}', encoding="utf-8")
    (tmp_path / "part.j2").write_text("{{ answer.status }}", encoding="utf-8")
    whole = Renderer(tmp_path).env.get_template("whole.j2")
    matched = plugin.answer(PatientProfile(prior_pregnancy_losses=3, nk_cell_percent=14))
    other = plugin.answer(PatientProfile(prior_pregnancy_losses=1))
    assert [whole.render(answer=a) for a in (matched, other, matched)] == ["matched", "not_rpl", "matched"]


def made_afresh(renderer: Renderer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the partials `renderer` renders from now on rather than takes from those it keeps."""
    names: list[str] = []
    render = renderer.parts.render

    def counting(name: str, **variables: object) -> str:
        names.append(name)
        return render(name, **variables)

    monkeypatch.setattr(renderer.parts, "render", counting)
    return names


ABSOLUTE_PIECES = {
    "markdown": ["partials/evidence_absolute.md.j2", "partials/detail_findings.md.j2"],
    "text": ["partials/evidence_absolute.txt.j2", "partials/detail_findings.txt.j2"],
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_at_another_baseline_only_the_absolute_effects_are_rendered_again(
    plugin: Plugin, settings: Settings, monkeypatch: pytest.MonkeyPatch, fmt: Format
) -> None:
    """Her baseline chance changes the absolute effects and nothing else: the estimates, the other evidence and the
    detail are the text made for her findings at any other baseline."""
    renderer = Renderer(settings.templates_dir)
    profile = PatientProfile(prior_pregnancy_losses=3, nk_cell_percent=18.4, autoimmune_conditions=())
    at = {risk: plugin.compute(profile.model_copy(update={"baseline_live_birth_risk": risk})) for risk in (0.3, 0.61)}
    renderer.render(at[0.3], fmt)
    names = made_afresh(renderer, monkeypatch)
    text = renderer.render(at[0.61], fmt)
    assert names == ABSOLUTE_PIECES[fmt]
    assert text == Renderer(settings.templates_dir, parts_kept=0).render(at[0.61], fmt)
    assert "Absolute effects at 610 per 1000 without IVIG" in text


def test_the_widget_at_another_baseline_renders_again_only_the_absolute_effects(
    plugin: Plugin, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = Plugin(store=plugin.store, tables=plugin.tables, renderer=Renderer(settings.templates_dir))
    query = [("prior_pregnancy_losses", "3"), ("nk_cell_percent", "18.4"), ("autoimmune_conditions", "none")]
    render_page(kept, parse_query([*query, ("baseline_live_birth_risk", "0.3")]))
    names = made_afresh(kept.renderer, monkeypatch)
    page = render_page(kept, parse_query([*query, ("baseline_live_birth_risk", "0.61")]))
    assert names == ["widget/evidence_absolute.html.j2", "widget/detail_findings.html.j2"]
    afresh = Plugin(store=plugin.store, tables=plugin.tables, renderer=Renderer(settings.templates_dir, parts_kept=0))
    assert page == render_page(afresh, parse_query([*query, ("baseline_live_birth_risk", "0.61")]))


def test_a_partial_cannot_read_an_absolute_effect_through_the_relative_estimates(
    tmp_path: Path, plugin: Plugin
) -> None:
    """The pieces kept for every baseline read the estimates through `relative_estimates`, which has no absolute
    effect: a piece that tried to show one would fail, not show another baseline's figures."""
    (tmp_path / "whole.j2").write_text('{{ part("part.j2", answer, "relative_estimates") }}', encoding="utf-8")
    (tmp_path / "part.j2").write_text(
        "{% for e in answer.relative_estimates %}{{ e.rr }} {{ e.absolute.risk_with_ivig }}{% endfor %}",
        encoding="utf-8",
    )
    whole = Renderer(tmp_path).env.get_template("whole.j2")
    answer = plugin.answer(PatientProfile(prior_pregnancy_losses=3, nk_cell_percent=14, baseline_live_birth_risk=0.5))
    assert answer.estimates[0].absolute is not None
    with pytest.raises(jinja2.UndefinedError):
        whole.render(answer=answer)
