"""An honest answer in every channel (docs/answer.md, "What the answer says, and why"): the warning first, the
randomized evidence and guidance beside every status, very-low wording, no withheld or invented number, no advice to
order a test.

Every channel is rendered for every profile of the grid: markdown and text (JSON door, CLI, MCP), the CDS card
detail, and the widget page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest

from plugin.cds_hooks.cards import cards_for, summary
from plugin.core.answer.model import Answer
from plugin.core.answer.plugin import Plugin
from plugin.core.rules.profile import PatientProfile
from plugin.web.form import parse_query
from plugin.web.links import widget_query
from plugin.widget.page import render_page
from tests.core.answer.test_answer import profiles
from tests.wording_lint import lint, our_words

BASE = "http://127.0.0.1:8000"
# The not_found records of the shared context evidence: never in the store, never named in any output.
NOT_FOUND = ("eshre2022_ivig", "eshre2017_ivig", "eshre2022_nk_testing", "yamada2022_live_birth", "asrm_nk_testing")
RANDOMIZED = {"rct_meta_analysis", "rct"}
SAFETY = {"fda_thrombosis_boxed_warning", "fda_1998_renal_warning", "iga_contraindication"}
RATIO = re.compile(r"(?<![\d.])\d+\.\d{2}(?!\d)")
TAG = re.compile(r"<[^>]*>")


def with_baselines() -> Iterator[dict[str, Any]]:
    """The grid, and the matched part of it again with baselines that pass 100% at one limit or both."""
    for fields in profiles():
        yield fields
        if fields.get("nk_cell_percent") == 100.0:  # matched, with every timing: both subgroups get baselines
            for baseline in ({"baseline_live_birth_risk": 0.4}, {"baseline_live_birth_risk": 0.6}):
                yield fields | baseline
            yield fields | {"baseline_live_birth_source": "lund2012_baseline"}  # a cohort that excludes no one


def outputs(plugin: Plugin, answer: Answer) -> dict[str, str]:
    """What each channel shows for this answer (the card only where one is issued)."""
    shown = {
        "markdown": plugin.renderer.render(answer, "markdown"),
        "text": plugin.renderer.render(answer, "text"),
        "widget": page_text(widget_page(plugin, answer)),
    }
    cards = cards_for(answer, (), plugin.renderer, BASE)
    if cards:
        shown["card"] = f"{cards[0].summary}\n{cards[0].detail}"
    return shown


def widget_page(plugin: Plugin, answer: Answer) -> str:
    """The widget page as the EHR frames it, for the profile the answer is for (through its query string)."""
    return render_page(plugin, parse_query(parse_qsl(widget_query(answer.profile).removeprefix("?"))))


def page_text(page: str) -> str:
    """What a reader sees: markup (and the plot's coordinates) removed, entities decoded."""
    return html.unescape(TAG.sub(" ", page))


def stored_ratios(plugin: Plugin) -> set[str]:
    ratios = {f"{v:.2f}" for ref in plugin.store.refs() for v in (plugin.store.estimate(ref)[1].point,)}
    ratios |= {f"{v:.2f}" for ref in plugin.store.refs() for v in plugin.store.estimate(ref)[1].ci}
    for record in plugin.store.context.values():
        if record.estimate is not None and record.ci is not None:
            ratios |= {f"{record.estimate:.2f}", f"{record.ci[0]:.2f}", f"{record.ci[1]:.2f}"}
        for value in record.model_dump().values():  # figures the record's own text gives (population, p, ...)
            if isinstance(value, str):
                ratios |= set(RATIO.findall(value))
    return ratios


@pytest.fixture(scope="module")
def rendered(plugin: Plugin) -> list[tuple[Answer, dict[str, str]]]:
    return [
        (answer, outputs(plugin, answer))
        for answer in map(plugin.answer, map(PatientProfile.model_validate, with_baselines()))
    ]


def test_every_channel_on_the_grid_passes_the_wording_lint(rendered: list[tuple[Answer, dict[str, str]]]) -> None:
    failures = [
        (answer.profile, channel, found)
        for answer, shown in rendered
        for channel, output in shown.items()
        if (found := lint(output, answer))
    ]
    assert failures == []
    assert len(rendered) > 3150


def test_every_channel_shows_the_warning_before_the_bottom_line_and_the_panel_for_every_status(
    rendered: list[tuple[Answer, dict[str, str]]],
) -> None:
    statuses = set()
    for answer, shown in rendered:
        statuses.add(answer.status)
        warning = answer.nonrandomized_warning.text
        glance = answer.at_a_glance.sentence
        assert "non-randomized" in glance.partition("RR")[0], answer.profile  # layer 1 warns before any number
        for channel, output in shown.items():
            assert glance in output and warning in output, (channel, answer.profile)
            assert output.index(glance) < output.index(warning), (channel, answer.profile)
            if channel == "card":  # layers 1 and 2 in 2,500 characters; the widget it links to has the rest
                assert answer.at_a_glance.safety in output, answer.profile
                continue
            assert output.index(warning) < output.index(answer.bottom_line), (channel, answer.profile)
            assert "Other evidence and guidance" in output, (channel, answer.profile)
            assert answer.not_summarised in output, (channel, answer.profile)
            assert all(c.short in output for c in answer.context), (channel, answer.profile)
            sof = answer.summary_of_findings
            assert (sof is not None) == bool(answer.estimates)
            if sof is not None:  # the summary of findings, with its harms row, in every channel
                assert "Summary of findings" in output and sof.harms.outcome in output, (channel, answer.profile)
                no_baseline = all(e.absolute is None for e in answer.estimates)
                assert (sof.absolute_not_shown is not None) == no_baseline
                assert not no_baseline or str(sof.absolute_not_shown) in output, (channel, answer.profile)
    assert statuses == {"matched", "insufficient_information", "outside_population", "not_rpl"}


def test_every_answer_with_an_estimate_shows_randomized_evidence_guidance_and_the_safety_notes(
    rendered: list[tuple[Answer, dict[str, str]]],
) -> None:
    for answer, _ in rendered:
        kinds = {c.kind for c in answer.context}
        ids = {c.id for c in answer.context}
        if answer.estimates:
            assert kinds & RANDOMIZED and kinds & {"guideline", "regulatory"} and SAFETY <= ids, answer.profile
        if answer.status != "not_rpl":
            assert {"egerup2015_overall", "nba_au_recurrent_miscarriage", "eshre2017_nk_testing"} <= ids
        assert all(c.why_shown for c in answer.context)
        assert "habets2022_main" not in ids  # the non-randomized review is never shown as other evidence


def test_no_output_shows_a_ratio_the_store_does_not_hold_or_a_not_found_record(
    plugin: Plugin, rendered: list[tuple[Answer, dict[str, str]]]
) -> None:
    allowed = stored_ratios(plugin)
    for answer, shown in rendered:
        own = {f"{v:.2f}" for v in (answer.profile.nk_cell_percent, answer.profile.baseline_live_birth_risk) if v}
        own.add(answer.evidence_label)  # the release's name ("2026.12"), not a ratio
        for channel, output in shown.items():
            words = our_words(output, answer)
            assert set(RATIO.findall(words)) <= allowed | own, (channel, answer.profile)
            assert "NOT FOUND" not in output and not any(record in output for record in NOT_FOUND)
    assert not set(NOT_FOUND) & set(plugin.store.context)
    for answer, _ in rendered[:50]:  # the JSON door and MCP's structured content carry every field of the answer
        assert "NOT FOUND" not in answer.model_dump_json()


def test_no_output_prints_a_risk_above_99_9_percent_or_a_zero_width_interval(
    rendered: list[tuple[Answer, dict[str, str]]],
) -> None:
    for answer, shown in rendered:
        for estimate in answer.estimates:
            a = estimate.absolute
            if a is None:
                continue
            risks = [a.risk_with_ivig, a.risk_with_ivig_ci_low, a.risk_with_ivig_ci_high]
            assert all(r is None or r <= 0.999 for r in risks)
            assert a.capped is (None in risks)
            if a.risk_with_ivig is None:
                assert a.risk_difference_per_1000 is None and a.risk_difference_per_1000_ci_high is None
        for output in shown.values():
            assert "1000 per 1000" not in output and "1000 to 1000" not in output


# --- The worked cases, in every channel ---------------------------------------------------------------------


def answer_and_outputs(plugin: Plugin, **fields: Any) -> tuple[Answer, dict[str, str]]:
    answer = plugin.answer(PatientProfile.model_validate(fields))
    return answer, outputs(plugin, answer)


def test_nk_18_three_losses_before_conception_shows_very_uncertain_subgroups_beside_the_randomized_evidence(
    plugin: Plugin,
) -> None:
    answer, shown = answer_and_outputs(
        plugin, prior_pregnancy_losses=3, nk_cell_percent=18, ivig_start="before_conception"
    )
    assert [e.certainty.level for e in answer.estimates] == ["very_low", "very_low", "very_low"]
    ids = [c.id for c in answer.context]
    for record in (
        "egerup2015_overall",
        "wang2016_preconception",
        "eshre2017_nk_testing",
        "rcog2023_immunological_screening",
    ):
        assert record in ids
    assert {"nba_au_recurrent_miscarriage", *SAFETY} <= set(ids)
    for channel, output in shown.items():
        assert "very uncertain" in output, channel
        for words in ("Egerup 2015", "0.92 (0.75 to 1.12)", "1.67 (1.30 to 2.14)", "ESHRE", "RCOG"):
            assert words in output, (channel, words)
        for words in ("not supported", "boxed warning", "acute renal failure", "IgA"):
            assert words in output.lower() if words.islower() else words in output, (channel, words)
        assert "may increase" not in output, channel
        if channel != "card":  # the card's widget link has the certainty reasons and every statement in full
            assert "The evidence is very uncertain about the effect of IVIG on live birth" in output, channel
            assert "rated by the curators" in output and "ESHRE 2017" in output and "RCOG 2023" in output, channel


def test_unexplained_rpl_is_outside_the_review_and_sees_the_randomized_trials_and_no_rr_drawn_as_hers(
    plugin: Plugin,
) -> None:
    answer, shown = answer_and_outputs(
        plugin, prior_pregnancy_losses=4, nk_cell_percent=11.9, autoimmune_conditions=[], th1_th2_ratio_elevated=False
    )
    assert answer.status == "outside_population" and answer.estimates == ()
    assert {"egerup2015_overall", "christiansen2015_rct", "yamada2022_ongoing_pregnancy"} <= {
        c.id for c in answer.context
    }
    assert "Christiansen 2015" in shown["widget"] and "1.11 (0.70 to 1.74)" in shown["widget"]
    assert "ongoing pregnancy at 22 weeks, not live birth" in shown["widget"]
    assert "No estimate applies to this patient" in shown["widget"]
    page = widget_page(plugin, answer)
    assert page.count('data-group="nonrandomized" data-highlighted="false"') == 3
    assert 'data-highlighted="true"' not in page


def test_baseline_0_6_with_nk_18_withholds_every_absolute_value_in_every_channel(plugin: Plugin) -> None:
    answer, shown = answer_and_outputs(
        plugin, prior_pregnancy_losses=3, nk_cell_percent=18, baseline_live_birth_risk=0.6
    )
    assert all(e.absolute is not None and e.absolute.risk_with_ivig is None for e in answer.estimates)
    for channel, output in shown.items():
        withheld = "Not estimable: the relative effect would pass 100%" if channel == "card" else "Cannot be estimated"
        assert withheld in output, channel
        assert not re.search(r"\d per 1000 with IVIG", output), channel


def test_an_ivig_order_card_is_a_warning_leading_with_safety_and_its_summary_keeps_the_label(plugin: Plugin) -> None:
    answer = plugin.answer(
        PatientProfile(prior_pregnancy_losses=3, ivig_start="conception_cycle", th1_th2_ratio_elevated=True),
        ivig_order=True,
    )
    (card,) = cards_for(answer, (), plugin.renderer, BASE)
    assert card.indicator == "warning"
    assert card.summary == summary(answer) and len(card.summary) < 140
    assert card.summary == (
        "IVIG for RPL, IVIG from conception cycle: non-randomized RR 4.47, very low certainty; "
        "RCTs in RPL: no clear benefit"
    )
    safety = card.detail.index("Before ordering IVIG")
    assert safety < card.detail.index(answer.at_a_glance.sentence)
    assert card.detail.index(answer.at_a_glance.sentence) < card.detail.index(answer.nonrandomized_warning.text)
    assert [c.id for c in answer.context][:3] == [
        "fda_thrombosis_boxed_warning",
        "fda_1998_renal_warning",
        "iga_contraindication",
    ]


def test_aps_answers_lead_with_standard_care_then_the_blood_authority_position(plugin: Plugin) -> None:
    answer, shown = answer_and_outputs(
        plugin, prior_pregnancy_losses=3, autoimmune_conditions=["antiphospholipid_syndrome"]
    )
    assert [c.id for c in answer.context][:3] == [
        "eshre2017_aps_treatment",
        "nba_au_recurrent_miscarriage",
        "aps_ivig_vs_lmwh_aspirin_rct",
    ]
    assert "fda_thrombosis_boxed_warning" in {c.id for c in answer.context}
    for channel, output in shown.items():
        assert "APS standard care: aspirin plus heparin (ESHRE 2017, three or more losses)" in output, channel
        if channel != "card":
            assert "with or without antiphospholipid syndrome" in output, channel
            assert "84%" in output and "57%" in output, channel


def test_thyroid_disease_alone_is_matched_only_indirectly_and_the_bottom_line_says_so(plugin: Plugin) -> None:
    answer = plugin.answer(
        PatientProfile(prior_pregnancy_losses=3, autoimmune_conditions=("autoimmune_thyroid_disease",))
    )
    (overall,) = answer.estimates
    assert overall.directness == "indirect"
    assert "autoimmune thyroid disease" in overall.directness_note
    assert "only indirectly" in answer.bottom_line


def test_an_nk_value_above_40_percent_gets_the_plausibility_note(plugin: Plugin) -> None:
    answer = plugin.answer(PatientProfile(prior_pregnancy_losses=3, nk_cell_percent=45))
    assert "nk-unusually-high" in [n.code for n in answer.applicability_notes]


def test_the_summary_of_findings_has_a_row_per_estimate_and_baseline_and_withholds_what_cannot_be_transported(
    plugin: Plugin,
) -> None:
    answer = plugin.answer(PatientProfile(prior_pregnancy_losses=3, nk_cell_percent=18, baseline_live_birth_risk=0.3))
    sof = answer.summary_of_findings
    assert sof is not None
    assert [row.estimate_id.partition("#")[2] for row in sof.rows] == ["nk-above-12", "overall"]
    nk = sof.rows[0]
    assert [r.absolute.baseline_risk for r in nk.risks] == [0.3]  # hers only: no baseline is added for her
    (clinician,) = nk.risks
    assert (clinician.absolute.risk_with_ivig, clinician.absolute.risk_with_ivig_ci_high) == (0.696, 0.906)
    overall = sof.rows[1].risks[0].absolute
    assert (overall.risk_with_ivig, overall.risk_with_ivig_ci_low, overall.risk_with_ivig_ci_high) == (
        0.594,
        0.432,
        0.819,
    )
    assert sof.absolute_not_shown is None
    assert sof.rows[1].participants == "478 women (8 non-randomized studies)"
    assert nk.footnotes and all(f.startswith("Risk of bias") for f in nk.footnotes)
    assert sof.harms.known[:2] == (
        "thrombosis (FDA boxed warning for the whole class, 2013)",
        "acute renal failure (FDA warning, 1998)",
    )


def test_the_timing_row_names_the_model_the_curators_inferred(plugin: Plugin) -> None:
    answer = plugin.answer(
        PatientProfile(prior_pregnancy_losses=3, ivig_start="conception_cycle", th1_th2_ratio_elevated=True)
    )
    assert answer.summary_of_findings is not None
    timing = answer.summary_of_findings.rows[0]
    assert timing.model == "DerSimonian-Laird random effects (inferred by the curators)"
    assert answer.summary_of_findings.rows[1].model == "pooling model not available in the sources we could read"
