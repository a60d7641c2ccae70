"""Answer -> card over the whole profile grid: summary length, warning, numbers from the Answer, widget links."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from plugin.cds_hooks.cards import cards_for, summary, widget_link
from plugin.cds_hooks.models import SUMMARY_LIMIT
from plugin.config import Settings
from plugin.core.answer.model import Answer
from plugin.core.answer.plugin import Plugin
from plugin.core.answer.render import Renderer
from plugin.core.rules.profile import PatientProfile
from plugin.fhir.chart import Finding
from plugin.web.form import parse_query
from tests.core.answer.test_answer import profiles

GRID: dict[str, list[Any]] = {
    "prior_pregnancy_losses": [None, 1, 2, 3],
    "nk_cell_percent": [None, 12.0, 18.0],
    "autoimmune_conditions": [None, (), ("antiphospholipid_syndrome",)],
    "th1_th2_ratio_elevated": [None, False, True],
    "ivig_start": [None, "conception_cycle", "after_pregnancy_confirmed"],
    "baseline_live_birth_risk": [None, 0.3, 0.6],
}
PROFILES = [PatientProfile(**dict(zip(GRID, values, strict=True))) for values in itertools.product(*GRID.values())]


@pytest.fixture(scope="module")
def answers(plugin: Plugin) -> list[Answer]:
    return [plugin.answer(profile) for profile in PROFILES]


def test_the_grid_reaches_every_status(answers: list[Answer]) -> None:
    assert {a.status for a in answers} == {"matched", "insufficient_information", "outside_population", "not_rpl"}


def test_every_summary_is_one_line_under_140_characters(answers: list[Answer]) -> None:
    for answer in answers:
        text = summary(answer)
        assert 0 < len(text) < SUMMARY_LIMIT, text
        assert "\n" not in text


def test_every_relevant_answer_gives_one_info_card_with_the_warning_in_its_detail(
    plugin: Plugin, answers: list[Answer]
) -> None:
    for answer in answers:
        cards = cards_for(answer, (), plugin.renderer, "https://cds.example.org")
        if answer.status == "not_rpl":
            assert cards == ()
            continue
        (card,) = cards
        assert card.indicator == "info"
        assert answer.nonrandomized_warning.text in card.detail


def test_matched_summaries_carry_the_lead_estimate_numbers_from_the_answer(answers: list[Answer]) -> None:
    for answer in (a for a in answers if a.status == "matched"):
        lead = answer.estimates[0]
        assert f"{lead.short_label}" in summary(answer) and f"non-randomized RR {lead.rr:.2f}," in summary(answer)
        assert f"{lead.certainty.label.lower()} certainty" in summary(answer)
    assert summary(answer).endswith("; RCTs in RPL: no clear benefit")


def test_the_detail_ends_with_each_finding_used_and_where_in_her_chart_it_came_from(plugin: Plugin) -> None:
    answer = plugin.answer(PatientProfile(nk_cell_percent=18.0))
    findings = [
        Finding("NK-cell percentage", "Observation, LOINC 18267-5", "2026-03-02", field="nk_cell_percent"),
        Finding("X", "Y"),
    ]
    (card,) = cards_for(answer, findings, plugin.renderer, "https://cds.example.org")
    assert card.detail.endswith(
        "**Findings used**, with where each came from:\n\n"
        "- Peripheral-blood NK cells: 18.0% (Observation, LOINC 18267-5, 2026-03-02)\n- X: Y\n"
    )


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (PatientProfile(), []),
        (PatientProfile(autoimmune_conditions=()), [("autoimmune_conditions", "none")]),
        (
            PatientProfile(
                prior_pregnancy_losses=3,
                nk_cell_percent=14.5,
                autoimmune_conditions=("antiphospholipid_syndrome", "autoimmune_thyroid_disease"),
                th1_th2_ratio_elevated=False,
                ivig_start="before_conception",
                baseline_live_birth_risk=0.35,
            ),
            [
                ("prior_pregnancy_losses", "3"),
                ("nk_cell_percent", "14.5"),
                ("autoimmune_conditions", "antiphospholipid_syndrome"),
                ("autoimmune_conditions", "autoimmune_thyroid_disease"),
                ("th1_th2_ratio_elevated", "false"),
                ("ivig_start", "before_conception"),
                ("baseline_live_birth_risk", "0.35"),
            ],
        ),
    ],
    ids=["all-unknown", "no-autoimmune", "everything-known"],
)
def test_widget_link_names_parameters_like_the_profile_fields(
    profile: PatientProfile, expected: list[tuple[str, str]]
) -> None:
    link = widget_link(profile, "https://cds.example.org/ivig")
    url = urlsplit(link.url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://cds.example.org/ivig/widget"
    assert parse_qsl(url.query) == expected
    assert parse_query(parse_qsl(url.query)).profile == profile  # the widget reads back the same profile


def test_card_details_kept_by_what_they_read_equal_details_rendered_afresh(plugin: Plugin, settings: Settings) -> None:
    """A card's detail is rendered once for each value of the answer fields it reads: over the grid (a third of
    it) at an order and not, with a baseline chance and without, kept details equal details rendered every time,
    and fewer are made than cards."""
    kept = Renderer(settings.templates_dir)
    afresh = Renderer(settings.templates_dir, parts_kept=0)
    extras: list[dict[str, Any]] = [{}, {"baseline_live_birth_risk": 0.45}]
    answers = [
        plugin.answer(PatientProfile.model_validate(fields | extra), ivig_order=at_order)
        for fields in profiles()[::3]
        for extra in extras
        for at_order in (False, True)
    ]
    carded = [answer for answer in answers if answer.status != "not_rpl"]
    for answer in carded:
        cards = [cards_for(answer, (), renderer, "https://cds.example.org") for renderer in (kept, afresh)]
        assert [[card.model_dump(exclude={"uuid"}) for card in each] for each in cards] == [
            [card.model_dump(exclude={"uuid"}) for card in cards[0]]
        ] * 2
    assert len(carded) == 2800
    assert len(kept.parts) == 1608  # for 2,800 cards
    assert len(afresh.parts) == 0
