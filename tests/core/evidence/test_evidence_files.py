"""Every real evidence/analyses/*.toml: the published figures exactly, provenance, and numbers that add up.

The figures pinned here are the abstract's (DESIGN.md's estimate table; sources/habets2022.md section 2).
A new analysis file fails `test_every_analysis_file_has_its_published_figures_pinned_here` until its figures
are pinned below too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest

from plugin.core.evidence.analysis import Analysis
from plugin.core.evidence.store import load_analysis

ROOT = Path(__file__).resolve().parents[3]
ANALYSIS_FILES = sorted((ROOT / "evidence" / "analyses").glob("*.toml"))
TIMING = "start-before-or-during-conception-cycle"


class Published(NamedTuple):
    point: float
    ci: tuple[float, float]
    p_value: float | None
    p_value_text: str | None
    certainty: str


class Pinned(NamedTuple):
    doi: str
    n_studies: int
    total: int
    ivig: int
    control: int
    estimates: dict[str, Published]


PINNED = {
    "habets-2022-ivig-rpl": Pinned(
        doi="10.1186/s13223-022-00660-8",
        n_studies=8,
        total=478,
        ivig=284,  # the news item's 248 is a transposition: 248 + 194 = 442
        control=194,
        estimates={
            # Very low (CLINICAL.md section 1): non-randomized evidence starts low, serious risk of bias rates it down.
            "overall": Published(1.98, (1.44, 2.73), None, "< 0.0001", "very_low"),
            "nk-above-12": Published(2.32, (1.77, 3.02), None, "< 0.0001", "very_low"),
            TIMING: Published(4.47, (1.53, 13.05), 0.006, None, "very_low"),
        },
    ),
}


def _analysis_id(path: Path) -> str:
    with path.open("rb") as handle:
        return str(tomllib.load(handle)["id"])


@pytest.fixture(scope="module", params=ANALYSIS_FILES, ids=_analysis_id)
def analysis(request: pytest.FixtureRequest) -> Analysis:
    path: Path = request.param
    return load_analysis(path)


def test_the_store_holds_at_least_one_analysis_file() -> None:
    assert ANALYSIS_FILES, "evidence/analyses/ is empty: every test below would be skipped"


def test_every_analysis_file_has_its_published_figures_pinned_here(analysis: Analysis) -> None:
    assert analysis.id in PINNED


def test_estimate_ids_are_exactly_those_of_design_md(analysis: Analysis) -> None:
    ids = [e.id for e in analysis.estimates]

    assert sorted(ids) == sorted(PINNED[analysis.id].estimates)
    assert analysis.overall.id == "overall"


def test_estimates_carry_exactly_the_published_numbers(analysis: Analysis) -> None:
    for estimate in analysis.estimates:
        published = PINNED[analysis.id].estimates[estimate.id]
        got = Published(estimate.point, estimate.ci, estimate.p_value, estimate.p_value_text, estimate.certainty.level)

        assert got == published, estimate.id
        assert (estimate.measure, estimate.outcome, estimate.ci_level) == ("RR", "live_birth", 0.95), estimate.id


def test_certainty_is_very_low_for_overall_nk_and_timing(analysis: Analysis) -> None:
    levels = {e.id: e.certainty.level for e in analysis.estimates}

    assert levels == {e: p.certainty for e, p in PINNED[analysis.id].estimates.items()}


def test_participants_are_the_papers_total_and_arms(analysis: Analysis) -> None:
    pinned = PINNED[analysis.id]
    people = analysis.participants

    assert (people.n_studies, people.total, people.ivig, people.control) == (
        pinned.n_studies,
        pinned.total,
        pinned.ivig,
        pinned.control,
    )
    assert (analysis.overall.n_studies, analysis.overall.n_participants) == (pinned.n_studies, pinned.total)


def test_source_carries_the_papers_doi(analysis: Analysis) -> None:
    assert analysis.source.doi == PINNED[analysis.id].doi


def test_every_ratio_is_printed_with_at_most_two_decimals(analysis: Analysis) -> None:
    # The abstract prints RRs and CIs to 2 decimals: a stored 1.984 would be a number the source never gave.
    for estimate in analysis.estimates:
        for value in (estimate.point, *estimate.ci):
            assert float(f"{value:.2f}") == value, (estimate.id, value)


def test_every_ci_brackets_its_point(analysis: Analysis) -> None:
    for estimate in analysis.estimates:
        low, high = estimate.ci

        assert 0 < low < estimate.point < high, estimate.id


def test_every_study_with_both_arm_totals_sums_to_its_n(analysis: Analysis) -> None:
    with_arms = [s for s in analysis.studies if s.ivig_total is not None and s.control_total is not None]

    assert with_arms, "no study gives both arm totals: this test would check nothing"
    for study in with_arms:
        assert study.ivig_total is not None and study.control_total is not None
        assert study.ivig_total + study.control_total == study.n_total, study.id


def test_events_never_exceed_their_arm_total(analysis: Analysis) -> None:
    for study in analysis.studies:
        for events, total in ((study.ivig_events, study.ivig_total), (study.control_events, study.control_total)):
            if events is not None:
                assert total is not None and 0 <= events <= total, study.id


def test_study_sizes_add_up_to_the_total_when_every_study_is_listed(analysis: Analysis) -> None:
    assert len(analysis.studies) == analysis.participants.n_studies
    assert sum(s.n_total for s in analysis.studies) == analysis.participants.total


def test_derived_subgroup_membership_names_held_studies_and_adds_up(analysis: Analysis) -> None:
    sizes = {s.id: s.n_total for s in analysis.studies}
    for estimate in analysis.estimates:
        membership = estimate.derived_membership
        if membership is None:
            continue

        assert membership.provenance != "stated", estimate.id  # the source does not list the members
        assert membership.method, estimate.id
        assert sum(sizes[s] for s in membership.studies) == membership.n_participants, estimate.id


def test_every_number_not_stated_in_the_source_says_how_it_was_obtained(analysis: Analysis) -> None:
    blocks = [analysis.participants, *analysis.estimates, *analysis.studies]
    for block in blocks:
        assert block.where.strip()
        if block.provenance != "stated":
            assert block.method
        for name, tag in block.provenance_for.items():
            if tag != "stated":
                assert name in block.method_for or block.method, (block, name)
