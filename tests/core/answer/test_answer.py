"""The pure core: profile -> Answer. Statuses, estimate choice and order, exact numbers, notes, trace."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from pydantic import ValidationError

from plugin.core.answer.model import Answer, AnswerWarning
from plugin.core.answer.plugin import Plugin
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, IVIG_STARTS, PatientProfile

REF = "habets-2022-ivig-rpl#"
ISSUE_PROFILE: dict[str, Any] = {
    "prior_pregnancy_losses": 3,
    "nk_cell_percent": 14,
    "autoimmune_conditions": [],
    "th1_th2_ratio_elevated": False,
    "ivig_start": "after_pregnancy_confirmed",
}


def ask(plugin: Plugin, **fields: Any) -> Answer:
    return plugin.answer(PatientProfile.model_validate(fields))


def estimate_ids(answer: Answer) -> list[str]:
    return [e.id.removeprefix(REF) for e in answer.estimates]


def test_nk_14_with_three_losses_matches_nk_subgroup_then_overall(plugin: Plugin) -> None:
    answer = ask(plugin, **ISSUE_PROFILE)
    assert answer.status == "matched"
    assert estimate_ids(answer) == ["nk-above-12", "overall"]
    assert answer.missing_information == ()


def test_nk_exactly_12_is_not_above_12_so_the_profile_is_outside_the_population(plugin: Plugin) -> None:
    answer = ask(plugin, **{**ISSUE_PROFILE, "nk_cell_percent": 12})
    assert answer.status == "outside_population"
    assert answer.estimates == ()


def test_unknown_autoimmune_status_asks_for_it_instead_of_assuming_absent(plugin: Plugin) -> None:
    profile = {k: v for k, v in ISSUE_PROFILE.items() if k != "autoimmune_conditions"}
    answer = ask(plugin, **{**profile, "nk_cell_percent": 12})
    assert answer.status == "insufficient_information"
    assert answer.missing_information == ("autoimmune_conditions",)
    assert answer.estimates == ()


def test_fewer_than_two_losses_is_not_rpl_and_shows_nothing_but_the_warning(plugin: Plugin) -> None:
    answer = ask(plugin, prior_pregnancy_losses=1, nk_cell_percent=30)
    assert answer.status == "not_rpl"
    assert answer.estimates == ()
    assert answer.applicability_notes == ()
    assert [w.code for w in answer.warnings] == ["nonrandomized_evidence"]


def test_nk_just_above_12_matches_the_nk_subgroup(plugin: Plugin) -> None:
    answer = ask(plugin, prior_pregnancy_losses=3, nk_cell_percent=12.01)
    assert estimate_ids(answer) == ["nk-above-12", "overall"]


@pytest.mark.parametrize("timing", ["before_conception", "conception_cycle"])
def test_both_subgroups_are_shown_with_the_more_precise_first_and_overall_last(plugin: Plugin, timing: str) -> None:
    answer = ask(plugin, prior_pregnancy_losses=3, nk_cell_percent=18, ivig_start=timing)
    assert estimate_ids(answer) == ["nk-above-12", "start-before-or-during-conception-cycle", "overall"]
    widths = [math.log(e.ci_high) - math.log(e.ci_low) for e in answer.estimates[:2]]
    assert widths[0] < widths[1]


def test_timing_alone_applies_when_nk_is_unknown_and_a_condition_matched(plugin: Plugin) -> None:
    answer = ask(plugin, autoimmune_conditions=["antiphospholipid_syndrome"], ivig_start="before_conception")
    assert answer.status == "matched"
    assert estimate_ids(answer) == ["start-before-or-during-conception-cycle", "overall"]
    assert "nk_cell_percent" in answer.missing_information
    assert "prior_pregnancy_losses" in answer.missing_information


def test_elevated_th1_th2_ratio_alone_matches_the_overall_estimate(plugin: Plugin) -> None:
    answer = ask(plugin, prior_pregnancy_losses=2, th1_th2_ratio_elevated=True)
    assert answer.status == "matched"
    assert estimate_ids(answer) == ["overall"]
    assert "two-prior-losses" in [n.code for n in answer.applicability_notes]
    assert "th1-th2-no-estimate" in [n.code for n in answer.applicability_notes]


def test_unknown_losses_say_the_answer_assumes_rpl(plugin: Plugin) -> None:
    answer = ask(plugin, nk_cell_percent=20)
    assert answer.status == "matched"
    assert "losses-unknown" in [n.code for n in answer.applicability_notes]


def test_every_number_shown_equals_the_evidence_file(plugin: Plugin) -> None:
    analysis = plugin.store.analyses["habets-2022-ivig-rpl"]
    answer = ask(plugin, prior_pregnancy_losses=3, nk_cell_percent=18, ivig_start="conception_cycle")
    for shown in answer.estimates:
        source = next(e for e in analysis.estimates if analysis.ref(e) == shown.id)
        assert (shown.rr, shown.ci_low, shown.ci_high) == (source.point, *source.ci)
        assert shown.p_value == source.p_value
        assert shown.n_studies == source.n_studies and shown.n_participants == source.n_participants
        assert shown.certainty.level == source.certainty.level
    overall = answer.estimates[-1]
    assert (overall.rr, overall.ci_low, overall.ci_high, overall.p_value_text) == (1.98, 1.44, 2.73, "< 0.0001")
    assert (overall.n_studies, overall.n_participants) == (8, 478)


def profiles() -> list[dict[str, Any]]:
    """Every status-relevant combination, with each timing: a few thousand profiles."""
    losses = [None, 0, 1, 2, 3, 10]
    nk = [None, 0.0, 12.0, 12.01, 100.0]
    conditions = [None, [], *([c] for c in AUTOIMMUNE_CONDITIONS), list(AUTOIMMUNE_CONDITIONS)]
    th = [None, True, False]
    timing = [None, *IVIG_STARTS]
    names = ["prior_pregnancy_losses", "nk_cell_percent", "autoimmune_conditions", "th1_th2_ratio_elevated"]
    grid = []
    for values in itertools.product(losses, nk, conditions, th, timing):
        fields = dict(zip([*names, "ivig_start"], values, strict=True))
        grid.append({k: v for k, v in fields.items() if v is not None})
    return grid


def test_every_answer_on_the_grid_carries_the_warning_the_version_and_only_stored_numbers(plugin: Plugin) -> None:
    stored = {ref: plugin.store.estimate(ref)[1] for ref in plugin.store.refs()}
    statuses = set()
    for fields in profiles():
        answer = ask(plugin, **fields)
        statuses.add(answer.status)
        assert answer.nonrandomized_warning.text == plugin.store.analyses["habets-2022-ivig-rpl"].warning.text
        assert answer.evidence_version == plugin.store.version
        assert answer.citation.doi == "10.1186/s13223-022-00660-8"
        for shown in answer.estimates:
            assert (shown.rr, shown.ci_low, shown.ci_high) == (stored[shown.id].point, *stored[shown.id].ci)
        if answer.estimates:
            assert answer.estimates[-1].id == REF + "overall"
        assert (answer.status == "matched") == bool(answer.estimates)
    assert statuses == {"matched", "insufficient_information", "outside_population", "not_rpl"}


def test_an_answer_cannot_be_built_without_the_nonrandomized_warning(plugin: Plugin) -> None:
    answer = ask(plugin, **ISSUE_PROFILE)
    data = answer.model_dump()
    data["warnings"] = [AnswerWarning(code="other", text="x").model_dump()]
    with pytest.raises(ValidationError):
        Answer.model_validate(data)


def test_absolute_effects_follow_the_grade_method_exactly(plugin: Plugin) -> None:
    answer = ask(plugin, prior_pregnancy_losses=3, th1_th2_ratio_elevated=True, baseline_live_birth_risk=0.2)
    absolute = answer.estimates[0].absolute
    assert absolute is not None
    assert (absolute.risk_with_ivig, absolute.risk_with_ivig_ci_low, absolute.risk_with_ivig_ci_high) == (
        0.396,
        0.288,
        0.546,
    )
    assert (
        absolute.risk_difference_per_1000,
        absolute.risk_difference_per_1000_ci_low,
        absolute.risk_difference_per_1000_ci_high,
    ) == (196.0, 88.0, 346.0)
    assert absolute.capped is False and absolute.note is None
    assert [w.code for w in answer.warnings] == ["nonrandomized_evidence"]


def test_an_upper_limit_above_100_percent_is_withheld_not_capped(plugin: Plugin) -> None:
    answer = ask(plugin, prior_pregnancy_losses=3, th1_th2_ratio_elevated=True, baseline_live_birth_risk=0.4)
    absolute = answer.estimates[0].absolute
    assert absolute is not None
    assert absolute.risk_with_ivig == 0.792 and absolute.risk_with_ivig_ci_low == 0.576
    assert absolute.risk_with_ivig_ci_high is None  # 0.4 x 2.73 = 1.092 would be impossible
    assert absolute.risk_difference_per_1000 == 392.0 and absolute.risk_difference_per_1000_ci_high is None
    assert absolute.capped is True and absolute.note and "upper limit cannot be estimated" in absolute.note
    assert absolute.baseline_source == "the clinician's own assumption"
    assert "absolute_effect_withheld" in [w.code for w in answer.warnings]


def test_a_point_estimate_above_100_percent_withholds_every_absolute_value(plugin: Plugin) -> None:
    answer = ask(plugin, prior_pregnancy_losses=3, nk_cell_percent=18, baseline_live_birth_risk=0.6)
    for estimate in answer.estimates:
        absolute = estimate.absolute
        assert absolute is not None and absolute.capped is True
        values = dict(absolute)
        assert [k for k, v in values.items() if k.startswith("risk_") and v is not None] == [], estimate.id


def test_the_sourced_baseline_is_the_christiansen_placebo_arm_and_says_so(plugin: Plugin) -> None:
    answer = ask(
        plugin, prior_pregnancy_losses=4, nk_cell_percent=18, baseline_live_birth_source="christiansen2015_placebo"
    )
    absolute = answer.estimates[-1].absolute  # overall: 0.5 x 1.98 = 0.99
    assert absolute is not None
    assert absolute.baseline_risk == 0.5 and absolute.risk_with_ivig == 0.99 and absolute.risk_with_ivig_ci_high is None
    assert absolute.baseline_source.startswith("Christiansen 2015, placebo arm: secondary unexplained")


def test_a_baseline_risk_and_a_sourced_baseline_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="not both"):
        PatientProfile(baseline_live_birth_risk=0.3, baseline_live_birth_source="christiansen2015_placebo")


def test_without_a_baseline_risk_no_absolute_effect_is_invented(plugin: Plugin) -> None:
    answer = ask(plugin, **ISSUE_PROFILE)
    assert all(e.absolute is None for e in answer.estimates)


def test_wording_follows_certainty(plugin: Plugin) -> None:
    answer = ask(plugin, prior_pregnancy_losses=3, nk_cell_percent=18, ivig_start="conception_cycle")
    by_id = {e.id.removeprefix(REF): e for e in answer.estimates}
    for estimate in by_id.values():
        assert estimate.certainty.level == "very_low" and estimate.certainty.rated_by == "curators"
        assert estimate.statement.startswith("The evidence is very uncertain about the effect of IVIG")
    assert answer.bottom_line.startswith(by_id["nk-above-12"].statement)
    assert "Egerup 2015, 11 RCTs: RR of no live birth 0.92, 0.75 to 1.12" in answer.bottom_line


def test_trace_names_the_rows_that_fired_and_the_inputs_they_read(plugin: Plugin) -> None:
    answer = ask(plugin, **ISSUE_PROFILE)
    steps = {step.table: step for step in answer.trace}
    assert steps["habets-2022-ivig-rpl-status"].rows == ("R2",)
    assert steps["habets-2022-ivig-rpl-status"].inputs["nk_cell_percent"] == 14.0
    assert steps["habets-2022-ivig-rpl-estimates"].rows == ("R2",)
    assert steps["habets-2022-ivig-rpl-notes"].rows == ("R3", "R9")
