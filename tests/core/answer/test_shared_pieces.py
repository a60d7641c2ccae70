"""What an answer shares with others is made once and is what making it afresh gives: the estimate views (at any
baseline, the view without one plus its absolute effect), their relative part, and the summary of findings."""

from __future__ import annotations

import itertools

import pytest

from plugin.core.answer.plugin import Plugin
from plugin.core.answer.summary_of_findings import harms_named, summary_afresh, summary_of_findings
from plugin.core.answer.views import relative_of, view, view_afresh
from plugin.core.rules.profile import PatientProfile

# Baselines from almost none to almost certain: every absolute effect is shown, capped or withheld among them.
BASELINES = (None, 0.001, 0.05, 0.3, 0.5, 0.633, 0.85, 0.9, 0.95, 0.99, 0.999)
FINDINGS = (
    PatientProfile(prior_pregnancy_losses=3),
    PatientProfile(prior_pregnancy_losses=3, nk_cell_percent=18),
    PatientProfile(
        prior_pregnancy_losses=3, autoimmune_conditions=("antiphospholipid_syndrome",), th1_th2_ratio_elevated=True
    ),
    PatientProfile(prior_pregnancy_losses=3, nk_cell_percent=18, autoimmune_conditions=("autoimmune_thyroid_disease",)),
)


def test_a_view_at_a_baseline_is_the_view_made_afresh_and_shares_its_relative_part(plugin: Plugin) -> None:
    analysis = plugin.store.analysis
    shown = 0
    for estimate, profile in itertools.product(analysis.estimates, FINDINGS):
        relative = relative_of(view(estimate, analysis, profile, None))
        for risk in BASELINES:
            baseline = None if risk is None else (risk, "the clinician's estimate")
            kept = view(estimate, analysis, profile, baseline)
            assert kept.model_dump_json() == view_afresh(estimate, analysis, profile, baseline).model_dump_json()
            assert kept == view_afresh(estimate, analysis, profile, baseline)
            assert view(estimate, analysis, profile, baseline) is kept
            assert relative_of(kept) is relative
            shown += kept.absolute is not None and kept.absolute.risk_with_ivig is not None
    assert shown > 0


def test_the_relative_part_reads_as_the_view_but_has_no_absolute_effect(plugin: Plugin) -> None:
    analysis = plugin.store.analysis
    estimate = analysis.estimates[0]
    kept = view(estimate, analysis, FINDINGS[1], (0.5, "the clinician's estimate"))
    relative = relative_of(kept)
    assert (relative.rr, relative.ci_low, relative.label) == (kept.rr, kept.ci_low, kept.label)
    with pytest.raises(AttributeError, match="no absolute effect"):
        _ = relative.absolute


def test_a_view_made_elsewhere_still_has_a_relative_part(plugin: Plugin) -> None:
    analysis = plugin.store.analysis
    made = view_afresh(analysis.estimates[0], analysis, FINDINGS[0], (0.5, "the clinician's estimate"))
    assert relative_of(made).rr == made.rr
    with pytest.raises(AttributeError):
        _ = relative_of(made).absolute


@pytest.mark.parametrize("risk", [None, 0.3, 0.99])
def test_the_summary_of_findings_is_made_once_per_views_baseline_and_harms(plugin: Plugin, risk: float | None) -> None:
    fields = {"prior_pregnancy_losses": 3, "nk_cell_percent": 18, "baseline_live_birth_risk": risk}
    first = plugin.compute(PatientProfile.model_validate(fields))
    # Another profile of the same findings and baseline, with other records beside it (another timing).
    second = plugin.compute(PatientProfile.model_validate({**fields, "ivig_start": "before_conception"}))
    store, pico = plugin.store, plugin.store.analysis.pico
    triple = (pico.population, pico.intervention, pico.comparator)
    views = list(first.estimates)
    baseline = None if risk is None else (risk, first.estimates[0].absolute.baseline_source)  # type: ignore[union-attr]
    made = summary_of_findings(views, baseline, first.context, store, triple)
    assert made is first.summary_of_findings
    assert made == summary_afresh(views, baseline, harms_named(first.context), store, triple)
    same_harms = harms_named(second.context) == harms_named(first.context)
    assert (summary_of_findings(views, baseline, second.context, store, triple) is made) == same_harms
    fewer = tuple(c for c in first.context if c.topic != "safety")
    assert summary_of_findings(views, baseline, fewer, store, triple) != made
