"""Every real decision table in evidence/rules: examples, the exhaustive grid, reachability, and DESIGN.md's rules.

The grid (plugin.tables.grid) is complete rather than sampled: every bound of every interval, the floats either
side of it and the midpoints, times every choice, every set of conditions and unknown. The status and estimates
rules of DESIGN.md are re-stated below in plain Python and compared with the tables on every grid point.
"""

from __future__ import annotations

import math
import random
import tomllib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pytest

from plugin.core.evidence.analysis import EvidenceStore
from plugin.core.evidence.store import load_evidence
from plugin.core.rules.loading import grid, grid_values, load_tables
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, IVIG_STARTS, RPL_TYPES, PatientProfile
from plugin.core.rules.table import DERIVED_INPUTS, STATUSES, DecisionTable, Value

ROOT = Path(__file__).resolve().parents[3]
EVIDENCE = ROOT / "evidence"
TABLE_FILES = sorted((EVIDENCE / "rules").glob("*.toml"))
STATUS_TABLE = "habets-2022-ivig-rpl-status"
ESTIMATES_TABLE = "habets-2022-ivig-rpl-estimates"
NOTES_TABLE = "habets-2022-ivig-rpl-notes"
CONTEXT_TABLE = "habets-2022-ivig-rpl-context"
ANALYSIS = "habets-2022-ivig-rpl"
OVERALL = f"{ANALYSIS}#overall"
NK = f"{ANALYSIS}#nk-above-12"
TIMING = f"{ANALYSIS}#start-before-or-during-conception-cycle"
DESIGN_STATUSES = {"matched", "insufficient_information", "outside_population", "not_rpl"}


def _read(path: Path) -> dict[str, object]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def _table_id(path: Path) -> str:
    return str(_read(path)["id"])


UNIQUE_TABLE_FILES = [p for p in TABLE_FILES if _read(p)["hit_policy"] == "unique"]


@pytest.fixture(scope="module")
def evidence_store() -> EvidenceStore:
    return load_evidence(EVIDENCE)


@pytest.fixture(scope="module")
def tables(evidence_store: EvidenceStore) -> dict[str, DecisionTable]:
    return load_tables(EVIDENCE, set(evidence_store.refs()), set(evidence_store.context))


@pytest.fixture(params=TABLE_FILES, ids=_table_id)
def table(request: pytest.FixtureRequest, tables: dict[str, DecisionTable]) -> DecisionTable:
    return tables[_table_id(request.param)]


@pytest.fixture(params=UNIQUE_TABLE_FILES, ids=_table_id)
def unique_table(request: pytest.FixtureRequest, tables: dict[str, DecisionTable]) -> DecisionTable:
    return tables[_table_id(request.param)]


def test_the_store_has_the_four_tables_and_status_and_estimates_are_unique(tables: dict[str, DecisionTable]) -> None:
    assert set(tables) == {STATUS_TABLE, ESTIMATES_TABLE, NOTES_TABLE, CONTEXT_TABLE}
    assert {_table_id(p) for p in UNIQUE_TABLE_FILES} == {STATUS_TABLE, ESTIMATES_TABLE}


# --- Every table --------------------------------------------------------------------------------------------------


def test_worked_examples_give_the_rows_they_expect(table: DecisionTable) -> None:
    assert table.spec.examples
    for example in table.spec.examples:
        derived = {k: v for k, v in example.given.items() if k in DERIVED_INPUTS}
        profile = PatientProfile.model_validate({k: v for k, v in example.given.items() if k not in derived})

        assert table.match(profile, derived).rows == example.expect_rows, example.given


def test_unique_table_hits_exactly_one_row_on_every_grid_point(unique_table: DecisionTable) -> None:
    hits_per_point = [(values, [r.id for r in unique_table.hits(values)]) for values in grid(unique_table)]

    assert [(values, hits) for values, hits in hits_per_point if len(hits) != 1] == []


def test_every_row_is_reachable_from_some_grid_point(table: DecisionTable) -> None:
    fired = {row.id for values in grid(table) for row in table.hits(values)}

    assert fired == {row.id for row in table.rows}


def test_rows_looked_up_by_what_the_cells_tell_apart_are_the_rows_every_predicate_gives(table: DecisionTable) -> None:
    """`hits` works the rows out once per combination of cells that hold and looks them up after; 1,500 grid points
    (every one of a smaller grid) and as many again with their numbers drawn anew get the rows that evaluating
    every cell gives."""
    rng = random.Random(26)
    points = list(grid(table))
    points = rng.sample(points, min(len(points), 1500))
    drawn = [{name: redrawn(rng, table.spec.inputs[name].kind, value) for name, value in p.items()} for p in points]
    assert [values for values in points + drawn if table.hits(values) != table.evaluated(values)] == []


def redrawn(rng: random.Random, kind: str, value: Value) -> Value:
    if value is None or kind not in ("number", "integer"):
        return value
    return rng.randint(0, 12) if kind == "integer" else round(rng.uniform(0, 100), 2)


def test_grid_includes_the_boundaries_the_issue_names(table: DecisionTable) -> None:
    for name, spec in table.spec.inputs.items():
        values = grid_values(spec, [row.cells[name] for row in table.rows])

        assert None in values, name  # unknown is always tried
        if name == "nk_cell_percent":
            assert {0.0, 12.0, math.nextafter(12.0, math.inf), 100.0} <= set(values)
            assert all(0 <= v <= 100 for v in values if isinstance(v, float))
        elif name == "prior_pregnancy_losses":
            assert {0, 1, 2, 3, 50} <= set(values)
        elif name == "autoimmune_conditions":
            assert () in values
            assert all((condition,) in values for condition in AUTOIMMUNE_CONDITIONS)
        elif name == "ivig_start":
            assert set(IVIG_STARTS) <= set(values)
        elif name in ("th1_th2_ratio_elevated", "ivig_order"):
            assert {True, False} <= set(values)
        elif name == "status":
            assert set(STATUSES) <= set(values)
        elif name == "rpl_type":
            assert set(RPL_TYPES) <= set(values)
        else:
            pytest.fail(f"input {name} has no boundary expectations here: add them")


def test_every_row_has_a_one_line_reason(table: DecisionTable) -> None:
    for row in table.rows:
        assert row.why.strip() and "\n" not in row.why, row.id


# --- DESIGN.md's rules, re-stated -----------------------------------------------------------------------------------


def design_status(values: Mapping[str, Value]) -> str:
    """DESIGN.md "Status of an answer", written directly from its table."""
    losses = values["prior_pregnancy_losses"]
    nk = values["nk_cell_percent"]
    conditions = values["autoimmune_conditions"]
    th1_th2 = values["th1_th2_ratio_elevated"]
    if isinstance(losses, int) and losses < 2:
        return "not_rpl"
    nk_high = isinstance(nk, int | float) and nk > 12
    autoimmune = isinstance(conditions, tuple) and len(conditions) > 0
    if nk_high or autoimmune or th1_th2 is True:
        return "matched"
    if nk is None or conditions is None or th1_th2 is None:
        return "insufficient_information"
    return "outside_population"


def design_estimates(values: Mapping[str, Value], store: EvidenceStore) -> tuple[str, ...]:
    """DESIGN.md: applicable subgroups, the more precise (narrower log CI) first, then always `overall`."""
    nk = values["nk_cell_percent"]
    subgroups = []
    if isinstance(nk, int | float) and nk > 12:
        subgroups.append(NK)
    if values["ivig_start"] in ("before_conception", "conception_cycle"):
        subgroups.append(TIMING)

    def log_width(ref: str) -> float:
        low, high = store.estimate(ref)[1].ci
        return math.log(high) - math.log(low)

    return (*sorted(subgroups, key=log_width), OVERALL)


def test_status_table_agrees_with_design_md_on_every_grid_point(tables: dict[str, DecisionTable]) -> None:
    table = tables[STATUS_TABLE]
    disagreements = []
    for values in grid(table):
        got = [row.then[0] for row in table.hits(values)]
        if got != [design_status(values)]:
            disagreements.append((values, got, design_status(values)))

    assert disagreements == []


def test_status_grid_has_4080_points_and_reaches_every_status_of_design_md(tables: dict[str, DecisionTable]) -> None:
    table = tables[STATUS_TABLE]
    reached = Counter(row.then[0] for values in grid(table) for row in table.hits(values))

    # losses 8 (0, 1, 2, 3, 26, 49, 50, unknown) x NK 10 (0, 0+, 6, 12-, 12, 12+, 56, 100-, 100, unknown)
    # x autoimmune 17 (2^4 subsets + unknown) x Th1/Th2 3 (true, false, unknown)
    assert sum(reached.values()) == 8 * 10 * 17 * 3 == 4080
    assert set(reached) == DESIGN_STATUSES == set(STATUSES)


def test_estimates_table_agrees_with_design_md_on_every_grid_point(
    tables: dict[str, DecisionTable], evidence_store: EvidenceStore
) -> None:
    table = tables[ESTIMATES_TABLE]
    disagreements = []
    points = 0
    for values in grid(table):
        points += 1
        got = [row.then for row in table.hits(values)]
        if got != [design_estimates(values, evidence_store)]:
            disagreements.append((values, got))

    assert disagreements == []
    assert points == 10 * 5  # NK 10 points x ivig_start 4 values + unknown


def test_every_then_of_the_estimates_table_resolves_in_the_store(
    tables: dict[str, DecisionTable], evidence_store: EvidenceStore
) -> None:
    for row in tables[ESTIMATES_TABLE].rows:
        for ref in row.then:
            analysis, estimate = evidence_store.estimate(ref)  # KeyError if it does not resolve

            assert analysis.ref(estimate) == ref
        assert row.then[-1] == OVERALL, row.id  # overall is always shown beside any subgroup


def test_notes_table_flags_exactly_two_losses_and_unknown_losses_as_design_md_asks(
    tables: dict[str, DecisionTable],
) -> None:
    table = tables[NOTES_TABLE]
    for values in grid(table):
        notes = {note for row in table.hits(values) for note in row.then}
        losses = values["prior_pregnancy_losses"]

        matched = values["status"] == "matched"
        assert ("two-prior-losses" in notes) is (losses == 2 and matched), values
        assert ("losses-unknown" in notes) is (losses is None and matched), values


# --- CLINICAL.md section 6, re-stated ------------------------------------------------------------------------------

EVERY_RPL = {"egerup2015_overall", "egerup2015_conclusion", "wang2016_overall", "ata2011_sr", "bjog2007_sr"}
EVERY_RPL |= {"p386_ipd_ma", "cochrane2014_ivig", "nba_au_recurrent_miscarriage"}
# Section 10: the newer randomized syntheses, the positions that disagree, and the thrombophilia statement.
EVERY_RPL |= {
    "ling2024_ma",
    "shi2022_ma",
    "ontario_ig_rpl_criteria",
    "ksri2017_ivig_guideline",
    "cadth_ivig_rsa_review",
}
EVERY_RPL |= {"eshre2017_hereditary_thrombophilia_treatment"}
TESTING = {"eshre2017_nk_testing", "rcog2023_immunological_screening", "eshre2017_cytokine_testing"}
SAFETY = ["fda_thrombosis_boxed_warning", "fda_1998_renal_warning", "iga_contraindication"]
FOUR_OR_MORE = {"christiansen2015_rct", "yamada2022_design", "yamada2022_ongoing_pregnancy"}
APS = ["eshre2017_aps_treatment", "nba_au_recurrent_miscarriage", "aps_ivig_vs_lmwh_aspirin_rct"]
RPL_SUBGROUPS = {"primary": {"wang2016_primary"}, "secondary": {"egerup2015_secondary_rm", "wang2016_secondary"}}


def clinical_context(values: Mapping[str, Value]) -> set[str]:
    """CLINICAL.md sections 6, 10 and 11, written directly from them."""
    status, losses, start = values["status"], values["prior_pregnancy_losses"], values["ivig_start"]
    rpl = status in ("matched", "insufficient_information", "outside_population")
    wanted: set[str] = set(SAFETY)  # section 11: in every status that mentions IVIG as an option
    if rpl:
        wanted |= EVERY_RPL | TESTING
        if start in ("before_conception", "conception_cycle"):
            wanted.add("wang2016_preconception")
        if start == "after_pregnancy_confirmed":
            wanted.add("wang2016_post_implantation")
        if isinstance(losses, int) and losses >= 4:
            wanted |= FOUR_OR_MORE
        if (
            isinstance(values["autoimmune_conditions"], tuple)
            and "antiphospholipid_syndrome" in values["autoimmune_conditions"]
        ):
            wanted |= set(APS)
        wanted |= RPL_SUBGROUPS.get(str(values["rpl_type"]), set())
    return wanted


def test_the_context_table_agrees_with_clinical_md_on_its_whole_grid(tables: dict[str, DecisionTable]) -> None:
    table = tables[CONTEXT_TABLE]
    disagreements = []
    for values in grid(table):
        got = {record for row in table.hits(values) for record in row.then}
        if got != clinical_context(values):
            disagreements.append(values)
    assert disagreements == []


def test_at_an_ivig_order_the_safety_points_come_first_and_with_aps_standard_care_then_the_blood_authority(
    tables: dict[str, DecisionTable],
) -> None:
    table = tables[CONTEXT_TABLE]
    order = [
        r
        for row in table.rows
        if row.id in table.match(PatientProfile(), {"status": "matched", "ivig_order": True}).rows
        for r in row.then
    ]
    assert order[:3] == SAFETY
    aps = PatientProfile(autoimmune_conditions=("antiphospholipid_syndrome",))
    first = next(row for row in table.rows if row.id in table.match(aps, {"status": "matched"}).rows)
    assert first.then == tuple(APS)
