"""The point-of-care budgets, over the complete profile grid in every channel: what a clinician reads first is short.

Layer 1 is at most 60 words; the CLI's default output (layers 1 and 2) at most 40 lines of 100 columns; a chat
tool's text at most 500 words; a CDS card's detail at most 2,500 characters of GitHub Flavored Markdown with no
footnotes and no table wider than four columns; every card summary at most 140 characters with the randomized
contrast beside the estimate. Renderings depend on the kind of patient, not her exact values, so each distinct
answer is rendered once and checked for every profile that gets it.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import textstat

from plugin.cds_hooks.cards import cards_for
from plugin.chat.tools import understood
from plugin.core.answer.model import Answer
from plugin.core.answer.plugin import Plugin
from plugin.core.answer.render import wrap_text
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, IVIG_STARTS, RPL_TYPES, PatientProfile
from plugin.fhir.chart import Finding

LOSSES = [None, 0, 1, 2, 3, 4, 10]
# Every band the decision tables tell apart: unknown, 0, a fraction, 1 to 12, 12 itself, above 12, above 40.
NK = [None, 0.0, 0.18, 1.0, 12.0, 12.01, 45.0, 100.0]
CONDITIONS: list[tuple[str, ...] | None] = [None, (), *((c,) for c in AUTOIMMUNE_CONDITIONS)]
CONDITIONS += [("antiphospholipid_syndrome", "autoimmune_thyroid_disease"), AUTOIMMUNE_CONDITIONS]
TH1_TH2 = [None, True, False]
TIMING = [None, *IVIG_STARTS]
RPL = [None, *RPL_TYPES]
# Matched profiles again with a baseline: the caller's own, and a sourced one named in full (where it fits).
BASELINES: list[dict[str, Any]] = [
    {"baseline_live_birth_risk": 0.3},
    {"baseline_live_birth_source": "lund2012_baseline"},
]
CONDITION_CODES = {
    "antiphospholipid_syndrome": "SNOMED CT 26843008",
    "systemic_lupus_erythematosus": "SNOMED CT 55464009",
    "autoimmune_thyroid_disease": "SNOMED CT 21983002",
    "other_autoimmune": "ICD-10-CM M35.9",
}


def chart_of(profile: PatientProfile) -> tuple[Finding, ...]:
    """Her chart as the CDS door reads it: the RPL diagnosis and a dated resource for every finding it gives."""
    found = [Finding("Recurrent pregnancy loss", "diagnosis, SNOMED CT 102878001", "2026-03-01", "Condition")]
    if profile.prior_pregnancy_losses is not None:
        found.append(Finding("Spontaneous abortions", "Observation, LOINC 11614-5", "2026-03-01", field=LOSSES_FIELD))
    if profile.nk_cell_percent is not None:
        found.append(Finding("NK-cell percentage", "Observation, LOINC 18267-5", "2026-03-02", field="nk_cell_percent"))
    for condition in profile.autoimmune_conditions or ():
        where = f"diagnosis, {CONDITION_CODES[condition]}"
        found.append(Finding(condition, where, "2026-03-01", "Condition", field="autoimmune_conditions"))
    return tuple(found)


LOSSES_FIELD = "prior_pregnancy_losses"
BASE = "https://ivig-cds.example.org"
FOOTNOTE = re.compile(r"\[\^")


def grid() -> Iterator[PatientProfile]:
    for values in itertools.product(LOSSES, NK, CONDITIONS, TH1_TH2, TIMING, RPL):
        names = ("prior_pregnancy_losses", "nk_cell_percent", "autoimmune_conditions", "th1_th2_ratio_elevated")
        fields: dict[str, Any] = dict(zip((*names, "ivig_start", "rpl_type"), values, strict=True))
        yield PatientProfile.model_validate({k: v for k, v in fields.items() if v is not None})


def words(text: str) -> int:
    """Words as a reader counts them: tokens with a letter or digit (a table's pipes are not words)."""
    return sum(1 for token in text.split() if re.search(r"\w", token))


@dataclass
class Kind:
    """One distinct answer of the grid, the profiles that get it, and its renderings."""

    answer: Answer
    profiles: list[PatientProfile]


@pytest.fixture(scope="module")
def kinds(plugin: Plugin) -> list[Kind]:
    found: dict[str, Kind] = {}
    for profile in grid():
        variants = [profile]
        if profile.prior_pregnancy_losses in (4, 10) and profile.nk_cell_percent == 100.0:
            variants += [profile.model_copy(update=b) for b in BASELINES]
        for asked in variants:
            for order in (False, True):
                answer = plugin.compute(asked, ivig_order=order)
                key = answer.model_dump_json(exclude={"profile", "trace"})
                found.setdefault(key, Kind(answer, [])).profiles.append(asked)
    return list(found.values())


def test_the_grid_reaches_every_status_and_thousands_of_distinct_answers(kinds: list[Kind]) -> None:
    assert {k.answer.status for k in kinds} == {"matched", "insufficient_information", "outside_population", "not_rpl"}
    assert sum(len(k.profiles) for k in kinds) == 7 * 8 * 8 * 3 * 5 * 3 * 2 + 2 * 8 * 3 * 5 * 3 * 2 * 2
    assert len(kinds) > 3000


def test_layer_one_is_at_most_60_words_and_its_reading_grade_is_reported(kinds: list[Kind], report: list[str]) -> None:
    lengths = [words(k.answer.at_a_glance.sentence) for k in kinds]
    grades = [textstat.flesch_kincaid_grade(k.answer.at_a_glance.sentence) for k in kinds]

    assert max(lengths) <= 60
    report.append(
        f"layer 1 over {len(kinds)} distinct answers: at most {max(lengths)} words (median "
        f"{statistics.median(lengths):g}); Flesch-Kincaid grade median {statistics.median(grades):.1f}, "
        f"range {min(grades):.1f} to {max(grades):.1f}"
    )


def test_the_cli_default_is_at_most_40_lines_of_100_columns(plugin: Plugin, kinds: list[Kind]) -> None:
    longest = 0
    for kind in kinds:
        lines = wrap_text(plugin.renderer.render(kind.answer, "text", "evidence")).splitlines()
        assert max(map(len, lines)) <= 100, kind.profiles[0]
        longest = max(longest, len(lines))
    assert longest <= 40


def test_the_chat_text_is_at_most_500_words_with_the_understood_line(plugin: Plugin, kinds: list[Kind]) -> None:
    for kind in kinds:
        layers = words(plugin.renderer.render(kind.answer, "markdown", "evidence"))
        assert layers + max(words(understood(p)) for p in kind.profiles) <= 500, kind.profiles[0]


def test_every_card_detail_is_short_gfm_without_footnotes_or_wide_tables(plugin: Plugin, kinds: list[Kind]) -> None:
    issued = 0
    for kind in kinds:
        profile = kind.answer.profile
        if profile.rpl_type or profile.baseline_live_birth_risk or profile.baseline_live_birth_source:
            continue  # a chart gives neither (no code says primary or secondary RPL; a baseline is the caller's)
        for card in cards_for(kind.answer, chart_of(profile), plugin.renderer, BASE):
            issued += 1
            assert len(card.detail) <= 2500, kind.profiles[0]
            assert not FOOTNOTE.search(card.detail)
            rows = [line for line in card.detail.splitlines() if line.startswith("|")]
            assert all(line.count("|") - 1 <= 4 for line in rows), kind.profiles[0]
    assert issued > 1000


def test_every_card_summary_sets_the_labelled_estimate_beside_the_randomized_contrast(
    plugin: Plugin, kinds: list[Kind]
) -> None:
    for kind in kinds:
        for card in cards_for(kind.answer, (), plugin.renderer, BASE):
            assert len(card.summary) <= 140
            assert card.summary.endswith("RCTs in RPL: no clear benefit")
            if kind.answer.estimates:
                lead = kind.answer.estimates[0]
                assert f"{lead.short_label}" in card.summary and "non-randomized RR" in card.summary


def test_no_absolute_risk_is_shown_unless_the_caller_gave_or_named_a_baseline(
    plugin: Plugin, kinds: list[Kind]
) -> None:
    for kind in kinds:
        profile = kind.answer.profile
        given = profile.baseline_live_birth_risk is not None or profile.baseline_live_birth_source is not None
        if given:
            continue
        assert all(e.absolute is None for e in kind.answer.estimates)
        for fmt in ("markdown", "text"):
            assert "per 1000" not in plugin.renderer.render(kind.answer, fmt), kind.profiles[0]


def test_no_answer_prints_a_per_protocol_result_or_a_record_that_is_never_shown(
    plugin: Plugin, kinds: list[Kind]
) -> None:
    assert {"gao2024_ma", "acr2020_refractory_oaps_ivig", "mu2024_cohort"}.isdisjoint(plugin.store.context)
    for kind in kinds:
        output = plugin.renderer.render(kind.answer, "markdown")
        assert "per-protocol" not in output.lower() and "per protocol" not in output.lower()
        assert "Gao" not in output and "American College of Rheumatology" not in output and "2.24" not in output


def test_timing_is_never_missing_information_and_aps_layer_one_names_standard_care(kinds: list[Kind]) -> None:
    for kind in kinds:
        answer = kind.answer
        assert "ivig_start" not in answer.missing_information
        has_aps = "antiphospholipid_syndrome" in (answer.profile.autoimmune_conditions or ())
        if has_aps and answer.status != "not_rpl":
            assert "APS standard care: aspirin plus heparin" in answer.at_a_glance.sentence, kind.profiles[0]
