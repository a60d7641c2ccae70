"""What an answer shares with others is made once and is what making it afresh gives: the estimate views (at any
baseline, the view without one plus its absolute effect), their relative part, the summary of findings, layer 1 and
the records beside the answer."""

from __future__ import annotations

import itertools

import pytest

from plugin.core.answer.compose import context_afresh
from plugin.core.answer.glance import at_a_glance
from plugin.core.answer.model import Answer, AtAGlance
from plugin.core.answer.plugin import Plugin
from plugin.core.answer.summary_of_findings import harms_named, summary_afresh, summary_of_findings
from plugin.core.answer.views import her_basis, relative_of, view, view_afresh
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


def test_layer_one_and_the_records_beside_an_answer_are_shared_and_are_what_making_them_afresh_gives(
    plugin: Plugin,
) -> None:
    """Layer 1 is kept by the estimates short of their absolute effects, so it must read none: at every baseline it
    is the same object, and equal to layer 1 made afresh."""
    store, tables = plugin.store, plugin.tables
    context_table = tables[store.question.tables.context]
    for profile in FINDINGS:
        answers = [
            plugin.compute(profile.model_copy(update={"baseline_live_birth_risk": risk}), ivig_order=order)
            for risk in BASELINES
            for order in (False, True)
        ]
        for order in (False, True):
            same_order = [a for a in answers if a.at_ivig_order is order]
            assert all(a.at_a_glance is same_order[0].at_a_glance for a in same_order)
            assert all(same_items(a.context, same_order[0].context) for a in same_order)
        for answer in answers:
            afresh = at_a_glance_afresh(plugin, answer)
            assert answer.at_a_glance == afresh
            match = context_table.match(
                answer.profile, {"status": answer.status, "ivig_order": True if answer.at_ivig_order else None}
            )
            assert answer.context == context_afresh(match, context_table, store, answer.profile.rpl_type)


def same_items(these: tuple[object, ...], those: tuple[object, ...]) -> bool:
    """The same objects in the same order (an answer holds a tuple of its own; its items are the shared ones)."""
    return len(these) == len(those) and all(a is b for a, b in zip(these, those, strict=True))


def at_a_glance_afresh(plugin: Plugin, answer: Answer) -> AtAGlance:
    """Layer 1 made from the answer's own parts, nothing kept."""
    store = plugin.store
    notes_table = plugin.tables[store.question.tables.notes]
    lead = plugin.store.estimate(answer.estimates[0].id)[1] if answer.estimates else None
    return at_a_glance(
        answer.status,
        list(answer.estimates),
        answer.context,
        store.context[store.question.randomized_lead],
        answer.missing_information,
        tuple(notes_table.spec.glance[n.code] for n in answer.applicability_notes if n.code in notes_table.spec.glance),
        set(her_basis(answer.profile)) if answer.status == "matched" else set(),
        lead.randomized_subgroups if lead else (),
    )
