"""The decision aid over the complete profile grid: every status renders it as a page and as text; a patient can
read it (Flesch-Kincaid grade 8 or lower on the running text, measured with textstat and reported); it passes the
answers' wording lint; it prints no number that the evidence store does not give or that is not worked out from the
store and what the caller gave; and it draws no picture of chances without a baseline.

An aid is made from its answer, and an answer depends on the kind of patient (the answer cache's class of profile),
not on her exact values, so each class is made and read once, for the first profile of the grid in it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import textstat

from plugin.core.answer.decision_aid import DecisionAid, decision_aid
from plugin.core.answer.formats import fmt_plain_number
from plugin.core.answer.plugin import Plugin
from plugin.core.rules.profile import PatientProfile
from tests.decision_aid_text import (
    DENOMINATOR,
    lint,
    printed_numbers,
    running_text,
    running_text_of_text,
    store_numbers,
    visible_text,
)
from tests.test_point_of_care import BASELINES, grid

ROOT = Path(__file__).resolve().parent.parent
GRADE = 8
# Baselines that draw the picture (0.3), withhold its upper limit (0.4) or all of it (0.6) for the NK estimate.
MORE_BASELINES = [{"baseline_live_birth_risk": 0.4}, {"baseline_live_birth_risk": 0.6}]


@dataclass
class Kind:
    aid: DecisionAid
    page: str
    text: str
    profiles: int


def profiles() -> list[PatientProfile]:
    found = []
    for profile in grid():
        found.append(profile)
        if profile.prior_pregnancy_losses in (4, 10) and profile.nk_cell_percent == 100.0:
            found += [profile.model_copy(update=b) for b in [*BASELINES, *MORE_BASELINES]]
    return found


@pytest.fixture(scope="module")
def kinds(plugin: Plugin) -> list[Kind]:
    found: dict[tuple[object, ...], Kind] = {}
    for profile in profiles():
        key = plugin.answers.key(profile, False)
        if key in found:
            found[key].profiles += 1
            continue
        aid = decision_aid(plugin.compute(profile), plugin.store)  # not the door bodies the cache would render
        page, text = plugin.renderer.render_aid(aid, "html"), plugin.renderer.render_aid(aid, "text")
        found[key] = Kind(aid, page, text, 1)
    return list(found.values())


def test_every_status_renders_a_decision_aid_with_its_options_harms_unknowns_and_sources(kinds: list[Kind]) -> None:
    assert {k.aid.answer.status for k in kinds} == {
        "matched",
        "insufficient_information",
        "outside_population",
        "not_rpl",
    }
    assert sum(k.profiles for k in kinds) == 7 * 8 * 8 * 3 * 5 * 3 + 2 * 8 * 3 * 5 * 3 * 4
    for kind in kinds:
        answer = kind.aid.answer
        for output in (kind.page, kind.text):
            assert "This page is material for a talk with your clinician. It is not advice" in output
            assert "IVIG is a blood product. It goes into a vein through a drip." in output
            assert "Blood clots. In the US, every IVIG product carries a boxed warning about them" in output
            assert "If a trial of IVIG is open to you, you could choose to join it." in output
            assert "The sources were last searched in November 2026." in output
            assert f"{answer.evidence_version}" in output and f"release {answer.evidence_label}" in output
            assert answer.nonrandomized_warning.text in output
        assert "https://doi.org/10.1186/s13223-022-00660-8" in kind.page


def test_a_patient_can_read_every_aid_at_grade_8_or_lower(kinds: list[Kind], report: list[str]) -> None:
    grades: dict[str, list[float]] = {}
    for kind in kinds:
        for fmt, running in (("page", running_text(kind.page)), ("text", running_text_of_text(kind.text))):
            grade = textstat.flesch_kincaid_grade(running)
            assert grade <= GRADE, (fmt, kind.aid.answer.profile, grade)
            grades.setdefault(fmt, []).append(grade)
    words = [textstat.lexicon_count(running_text(k.page)) for k in kinds]
    page = grades["page"]
    report.append(
        f"decision aid over {len(kinds)} kinds of patient ({sum(k.profiles for k in kinds)} profiles): "
        f"Flesch-Kincaid grade of the page's running text median {statistics.median(page):.1f}, range "
        f"{min(page):.1f} to {max(page):.1f} (text: at most {max(grades['text']):.1f}); running text "
        f"{min(words)} to {max(words)} words"
    )


def test_every_aid_passes_the_wording_lint(kinds: list[Kind]) -> None:
    failures = [
        (kind.aid.answer.profile, found)
        for kind in kinds
        for output in (visible_text(kind.page), kind.text)
        if (found := lint(output, kind.aid))
    ]
    assert failures == []


def in_100(*factors: float) -> str:
    """Women in 100, worked out here apart from the core: the exact decimal product, rounded half up."""
    product = Decimal(100)
    for factor in factors:
        product *= Decimal(repr(factor))
    return str(product.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def worked_out(plugin: Plugin, aid: DecisionAid) -> set[str]:
    """The numbers an aid may work out: her own values, the placebo arms and the picture in women of 100."""
    profile = aid.answer.profile
    own = {str(profile.prior_pregnancy_losses)} if profile.prior_pregnancy_losses is not None else set()
    own |= {fmt_plain_number(profile.nk_cell_percent)} if profile.nk_cell_percent is not None else set()
    arms = [
        r.baseline.risk
        for r in plugin.store.baselines().values()
        if r.baseline and r.baseline.source_kind == "placebo_arm"
    ]
    own |= {in_100(min(arms)), in_100(max(arms)), DENOMINATOR}
    if aid.icons is not None and aid.lead is not None:
        source = profile.baseline_live_birth_source
        base = plugin.store.context[source].baseline.risk if source else profile.baseline_live_birth_risk  # type: ignore[union-attr]
        assert base is not None
        shown = {in_100(base), in_100(base, aid.lead.rr), in_100(base, aid.lead.ci_low), in_100(base, aid.lead.ci_high)}
        own |= shown | {str(int(in_100(base, aid.lead.rr)) - int(in_100(base)))}
    return own


def test_every_number_an_aid_prints_is_in_the_evidence_store_or_worked_out_from_it(
    plugin: Plugin, kinds: list[Kind]
) -> None:
    stored = store_numbers(ROOT / "evidence")
    for kind in kinds:
        allowed = stored | worked_out(plugin, kind.aid)
        for output in (visible_text(kind.page), kind.text):
            assert printed_numbers(output, kind.aid) <= allowed, (
                kind.aid.answer.profile,
                printed_numbers(output, kind.aid) - allowed,
            )


def test_no_aid_draws_a_picture_of_chances_without_a_baseline(kinds: list[Kind]) -> None:
    drawn = 0
    for kind in kinds:
        profile = kind.aid.answer.profile
        given = profile.baseline_live_birth_risk is not None or profile.baseline_live_birth_source is not None
        has_picture = 'id="icon-array"' in kind.page
        assert has_picture == (kind.aid.icons is not None)
        assert ("Out of 100 women like you" in kind.text) == has_picture
        if not given:
            assert not has_picture and kind.aid.no_icons in ("no_estimate", "no_baseline"), profile
        drawn += has_picture
    assert drawn > 0  # a caller's 0.3 draws the NK estimate's picture
