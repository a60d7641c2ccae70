"""The answer's first layer (`at_a_glance`), absolute effects without a default baseline, sourced baselines that must
fit her, the randomized subgroups `rpl_type` chooses, and the exact wording of harms, timing and directness."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.core.answer.glance import WORD_BUDGET
from plugin.core.answer.model import Answer
from plugin.core.answer.plugin import Plugin
from plugin.core.rules.profile import BASELINE_SOURCES, PatientProfile
from plugin.errors import ProfileError

NK_18_BEFORE_CONCEPTION = {"prior_pregnancy_losses": 3, "nk_cell_percent": 18, "ivig_start": "before_conception"}
APS_THREE_LOSSES = {"prior_pregnancy_losses": 3, "autoimmune_conditions": ["antiphospholipid_syndrome"]}
NK_AS_A_FRACTION = {
    "prior_pregnancy_losses": 3,
    "nk_cell_percent": 0.18,
    "autoimmune_conditions": [],
    "th1_th2_ratio_elevated": False,
}


def ask(plugin: Plugin, **fields: Any) -> Answer:
    return plugin.compute(PatientProfile.model_validate(fields))


def words(text: str) -> int:
    return len(text.split())


def test_nk_18_three_losses_before_conception_reads_in_one_glance_with_the_contrast_positions_and_timing(
    plugin: Plugin,
) -> None:
    glance = ask(plugin, **NK_18_BEFORE_CONCEPTION).at_a_glance

    assert words(glance.sentence) <= WORD_BUDGET
    assert glance.headline == "Evidence for this patient"
    assert "NK >12% RR 2.32 (1.77 to 3.02), very uncertain" in glance.sentence
    assert "RCTs in RPL: no clear benefit (Egerup 2015)" in glance.sentence
    assert "started before conception, RR 1.67 (1.30 to 2.14; Wang 2016)" in glance.sentence
    assert "Positions differ: not supported in Australia; a Korean society “recommends” it." in glance.sentence
    assert glance.ask_next is None and glance.standard_care is None
    assert "per 1000" not in glance.sentence and "%" not in glance.sentence.replace("NK >12%", "")


def test_aps_with_three_losses_names_the_standard_care_eshre_states_in_the_first_layer(plugin: Plugin) -> None:
    glance = ask(plugin, **APS_THREE_LOSSES).at_a_glance

    assert glance.standard_care == "APS standard care: aspirin plus heparin (ESHRE 2017, three or more losses)."
    assert glance.standard_care in glance.sentence


def test_an_nk_value_below_one_is_flagged_as_a_likely_fraction_in_the_first_layer(plugin: Plugin) -> None:
    answer = ask(plugin, **NK_AS_A_FRACTION)

    assert answer.status == "outside_population"
    assert answer.at_a_glance.value_check == "Check the NK unit: under 1 looks like a fraction."
    assert answer.at_a_glance.value_check in answer.at_a_glance.sentence
    assert [n.code for n in answer.applicability_notes] == ["nk-looks-like-fraction"]


def test_an_nk_value_above_forty_is_flagged_in_the_first_layer_when_it_is_the_basis(plugin: Plugin) -> None:
    glance = ask(plugin, prior_pregnancy_losses=3, nk_cell_percent=45).at_a_glance

    assert glance.value_check == "Check the NK unit: above 40% is unusual."
    assert glance.value_check in glance.sentence


@pytest.mark.parametrize(
    ("fields", "question"),
    [
        ({"prior_pregnancy_losses": 3}, "Has she been diagnosed with an autoimmune disease?"),
        (
            {"prior_pregnancy_losses": 3, "autoimmune_conditions": [], "th1_th2_ratio_elevated": False},
            "Is a peripheral-blood NK-cell result already on file?",
        ),
        ({"nk_cell_percent": 30}, "How many pregnancies has she lost?"),
        ({"prior_pregnancy_losses": 3, "nk_cell_percent": 30}, None),  # matched: nothing decides the status
    ],
)
def test_the_question_to_ask_first_is_about_what_is_already_known_and_only_when_it_could_change_the_answer(
    plugin: Plugin, fields: dict[str, Any], question: str | None
) -> None:
    glance = ask(plugin, **fields).at_a_glance

    assert glance.ask_next == question
    if question is not None:
        assert question[0].lower() + question[1:] in glance.sentence


def test_asking_about_an_nk_result_on_file_names_the_guidelines_that_advise_against_the_test(plugin: Plugin) -> None:
    glance = ask(plugin, prior_pregnancy_losses=3, autoimmune_conditions=[], th1_th2_ratio_elevated=False).at_a_glance

    assert "ESHRE and RCOG advise against NK-cell testing." in glance.sentence


def test_timing_is_a_treatment_choice_never_missing_information(plugin: Plugin) -> None:
    for status_fields in ({"prior_pregnancy_losses": 3, "nk_cell_percent": 30}, {"prior_pregnancy_losses": 3}):
        answer = ask(plugin, **status_fields)
        assert "ivig_start" not in answer.missing_information
        assert "ivig_start" in answer.trace[1].inputs or answer.status != "matched"


def test_when_the_timing_estimate_leads_the_bottom_line_gives_the_randomized_timing_subgroup(plugin: Plugin) -> None:
    answer = ask(plugin, prior_pregnancy_losses=3, th1_th2_ratio_elevated=True, ivig_start="conception_cycle")

    assert answer.estimates[0].id.endswith("start-before-or-during-conception-cycle")
    assert answer.bottom_line.endswith(
        "The randomized subgroup with IVIG started before conception found a difference "
        "(Wang 2016: RR of live birth 1.67, 1.30 to 2.14)."
    )


def test_without_a_baseline_no_absolute_effect_is_shown_and_one_line_says_why(plugin: Plugin) -> None:
    answer = ask(plugin, **NK_18_BEFORE_CONCEPTION)
    sof = answer.summary_of_findings

    assert sof is not None and all(row.risks == () for row in sof.rows)
    assert all(e.absolute is None for e in answer.estimates)
    assert sof.absolute_not_shown == (
        "Absolute effects: not shown. The relative effect of these non-randomized studies cannot be carried to "
        "usual live-birth chances: placebo arms of randomized trials in RPL had 50 to 63% live births "
        "(Christiansen 2015, ALIFE 2010 and PROMISE 2015), where RR 1.98 would give 99% or more."
    )


def test_a_sourced_baseline_is_named_in_full_with_its_population_counts_and_denominator(plugin: Plugin) -> None:
    answer = ask(
        plugin,
        prior_pregnancy_losses=4,
        nk_cell_percent=18,
        rpl_type="secondary",
        baseline_live_birth_source=("christiansen2015_placebo"),
    )

    absolute = answer.estimates[-1].absolute
    assert absolute is not None and absolute.baseline_risk == 0.5
    assert absolute.baseline_source == (
        "Christiansen 2015, placebo arm: secondary unexplained recurrent miscarriage, four or more losses; "
        "20/40, per randomised woman"
    )


@pytest.mark.parametrize(
    ("source", "fields", "why"),
    [
        ("christiansen2015_placebo", {"prior_pregnancy_losses": 3}, "measured in women with 4 or more losses"),
        ("christiansen2015_placebo", {"rpl_type": "primary"}, "measured in secondary recurrent pregnancy loss"),
        (
            "promise2015_placebo_baseline",
            {"autoimmune_conditions": ["systemic_lupus_erythematosus"]},
            "unexplained recurrent pregnancy loss, which excludes antiphospholipid syndrome",
        ),
        ("kling2018_baseline", {"rpl_type": "secondary"}, "measured in primary recurrent pregnancy loss"),
    ],
)
def test_a_sourced_baseline_measured_in_women_she_is_not_among_is_refused_saying_why(
    plugin: Plugin, source: str, fields: dict[str, Any], why: str
) -> None:
    with pytest.raises(ProfileError) as refused:
        ask(plugin, nk_cell_percent=18, baseline_live_birth_source=source, **fields)

    assert refused.value.code == "profile.baseline_does_not_fit"
    assert refused.value.details == {"field": "baseline_live_birth_source"}
    assert why in refused.value.message


def test_a_sourced_baseline_is_allowed_when_what_would_rule_it_out_is_not_known(plugin: Plugin) -> None:
    answer = ask(plugin, nk_cell_percent=18, baseline_live_birth_source="christiansen2015_placebo")

    assert answer.estimates[0].absolute is not None


def test_every_baseline_a_caller_may_name_is_a_store_record_with_its_denominator(plugin: Plugin) -> None:
    baselines = plugin.store.baselines()

    assert sorted(baselines) == sorted(BASELINE_SOURCES)
    assert all(r.baseline is not None and r.baseline.denominator for r in baselines.values())
    placebo = {
        i: r.baseline.risk for i, r in baselines.items() if r.baseline and r.baseline.source_kind == "placebo_arm"
    }
    assert placebo == {
        "christiansen2015_placebo": 0.5,
        "alife2010_placebo_baseline": 0.57,
        "promise2015_placebo_baseline": 0.633,
    }


@pytest.mark.parametrize(
    ("rpl_type", "shown"),
    [
        (None, set()),
        ("primary", {"wang2016_primary"}),
        ("secondary", {"egerup2015_secondary_rm", "wang2016_secondary"}),
    ],
)
def test_rpl_type_chooses_the_randomized_subgroups_and_changes_no_nonrandomized_estimate(
    plugin: Plugin, rpl_type: str | None, shown: set[str]
) -> None:
    fields: dict[str, Any] = {"prior_pregnancy_losses": 3, "nk_cell_percent": 18}
    answer = ask(plugin, **fields, **({"rpl_type": rpl_type} if rpl_type else {}))
    subgroups = {"wang2016_primary", "wang2016_secondary", "egerup2015_secondary_rm"}

    assert {c.id for c in answer.context} & subgroups == shown
    bjog = next(c for c in answer.context if c.id == "bjog2007_sr")
    assert (bjog.subgroup.estimate if bjog.subgroup else None) == {None: None, "primary": 0.66, "secondary": 2.71}[
        rpl_type
    ]
    assert [e.rr for e in answer.estimates] == [2.32, 1.98]


def test_harms_are_named_not_labelled(plugin: Plugin) -> None:
    answer = ask(plugin, **NK_18_BEFORE_CONCEPTION)
    sof = answer.summary_of_findings

    assert sof is not None
    assert sof.harms.known == (
        "thrombosis (FDA boxed warning for the whole class, 2013)",
        "acute renal failure (FDA warning, 1998)",
        "contraindicated in IgA deficiency with anti-IgA antibodies and a history of hypersensitivity "
        "(product information)",
        "Egerup 2015: “IVIg compared with placebo seems to increase the risk of adverse events.”",
    )
    for status_fields in ({"prior_pregnancy_losses": 3}, {"prior_pregnancy_losses": 1}, NK_AS_A_FRACTION):
        assert "thrombosis (FDA boxed warning" in ask(plugin, **status_fields).at_a_glance.safety


@pytest.mark.parametrize(
    ("fields", "short"),
    [
        ({"autoimmune_conditions": ["antiphospholipid_syndrome"]}, "direct (APS: 1 study, 15 women)"),
        ({"autoimmune_conditions": ["systemic_lupus_erythematosus"]}, "direct (SLE: 1 study, 24 women)"),
        ({"th1_th2_ratio_elevated": True}, "direct (Th1/Th2: probably 1 study, about 58 women)"),
        ({"nk_cell_percent": 18}, "direct (NK > 12%: 3 studies, 223 women)"),
        (
            {"autoimmune_conditions": ["autoimmune_thyroid_disease"]},
            "indirect (no study selected thyroid autoimmunity)",
        ),
    ],
)
def test_directness_says_how_many_studies_and_women_and_says_probably_where_the_curators_inferred_it(
    plugin: Plugin, fields: dict[str, Any], short: str
) -> None:
    overall = ask(plugin, prior_pregnancy_losses=3, **fields).estimates[-1]

    assert overall.directness_short == short
    assert ("probably Winger 2008, the curators' inference" in overall.directness_note) == ("probably" in short)


def test_the_answer_says_when_its_sources_were_last_searched_and_names_its_release(plugin: Plugin) -> None:
    answer = ask(plugin, **NK_18_BEFORE_CONCEPTION)

    assert (answer.evidence_label, answer.sources_last_searched) == ("2026.12", "2026-11")
    assert answer.evidence_version == plugin.store.version


def test_the_card_summary_names_the_labelled_estimate_and_the_randomized_contrast_in_140_characters(
    plugin: Plugin,
) -> None:
    summaries = {
        "matched": ask(plugin, **NK_18_BEFORE_CONCEPTION).at_a_glance.summary,
        "insufficient": ask(plugin, prior_pregnancy_losses=3).at_a_glance.summary,
    }

    assert summaries == {
        "matched": "IVIG for RPL, NK >12%: non-randomized RR 2.32, very low certainty; RCTs in RPL: no clear benefit",
        "insufficient": "IVIG in RPL: no non-randomized estimate matched yet; RCTs in RPL: no clear benefit",
    }
