"""The evidence loader: the real store loads with a content-hash version; broken copies fail closed with a code.

Each broken case copies the real store to tmp_path and changes one thing in the analysis file, so the diff from
the real file is the whole test fixture.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plugin.core.evidence.analysis import EvidenceStore
from plugin.core.evidence.store import load_evidence
from plugin.errors import EvidenceError
from tests.releases import release_again

ROOT = Path(__file__).resolve().parents[3]
EVIDENCE = ROOT / "evidence"
ANALYSIS_FILE = Path("analyses") / "habets-2022-ivig-rpl.toml"
STATUS_TABLE_FILE = Path("rules") / "habets-2022-ivig-rpl-status.toml"
TIMING = "start-before-or-during-conception-cycle"


@pytest.fixture
def store_copy(tmp_path: Path) -> Path:
    """A byte-for-byte copy of the real evidence directory."""
    target = tmp_path / "evidence"
    shutil.copytree(EVIDENCE, target)
    return target


def edit(directory: Path, old: str, new: str, relative: Path = ANALYSIS_FILE) -> Path:
    """Replace the one occurrence of `old` in a store file; fails if `old` is not there exactly once."""
    path = directory / relative
    text = path.read_text(encoding="utf-8")
    # Guards the fixture itself: if the real file changes, the edit must fail loudly, never test nothing.
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {relative}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def load_error(directory: Path) -> EvidenceError:
    with pytest.raises(EvidenceError) as caught:
        load_evidence(directory)
    return caught.value


# --- The real store and its version -------------------------------------------------------------------------------


def test_real_store_loads_and_addresses_every_estimate_by_reference() -> None:
    store = load_evidence(EVIDENCE)

    assert list(store.refs()) == [
        "habets-2022-ivig-rpl#overall",
        "habets-2022-ivig-rpl#nk-above-12",
        f"habets-2022-ivig-rpl#{TIMING}",
    ]
    analysis, estimate = store.estimate("habets-2022-ivig-rpl#nk-above-12")
    assert (analysis.id, estimate.point) == ("habets-2022-ivig-rpl", 2.32)


def test_an_estimate_reference_the_store_does_not_hold_raises_key_error() -> None:
    store = load_evidence(EVIDENCE)

    with pytest.raises(KeyError):
        store.estimate("habets-2022-ivig-rpl#no-such-estimate")
    with pytest.raises(KeyError):
        store.estimate("no-such-analysis#overall")


def test_version_is_a_sha256_content_hash() -> None:
    version = load_evidence(EVIDENCE).version

    assert version.startswith("sha256:")
    assert len(version.removeprefix("sha256:")) == 16
    int(version.removeprefix("sha256:"), 16)


def test_version_is_the_same_for_identical_content_in_another_directory(store_copy: Path) -> None:
    assert load_evidence(store_copy).version == load_evidence(EVIDENCE).version


def test_one_byte_of_an_analysis_file_changed_is_refused_until_released_with_a_new_version(store_copy: Path) -> None:
    before = load_evidence(store_copy).version
    edit(store_copy, "# Habets et al. 2022:", "# Habets et al. 2022;")  # a reviewer comment: still valid content

    refused = load_error(store_copy)
    assert (refused.code, refused.details["file"]) == ("release.file_changed", str(store_copy / ANALYSIS_FILE))
    assert load_evidence(release_again(store_copy)).version != before


def test_one_byte_of_a_decision_table_changed_is_refused_until_released_with_a_new_version(store_copy: Path) -> None:
    before = load_evidence(store_copy).version
    edit(store_copy, "# Which kind of answer", "# Which kind of answers", relative=STATUS_TABLE_FILE)

    refused = load_error(store_copy)
    assert (refused.code, refused.details["file"]) == ("release.file_changed", str(store_copy / STATUS_TABLE_FILE))
    assert load_evidence(release_again(store_copy)).version != before


def test_version_of_an_edited_store_returns_when_the_edit_is_undone(store_copy: Path) -> None:
    original = load_evidence(store_copy).version
    edit(store_copy, "# Habets et al. 2022:", "# Habets et al. 2022;")
    edit(store_copy, "# Habets et al. 2022;", "# Habets et al. 2022:")

    assert load_evidence(store_copy).version == original


# --- Broken copies: consistency checks ----------------------------------------------------------------------------


def test_news_item_248_is_rejected_as_arm_totals_mismatch(store_copy: Path) -> None:
    path = edit(store_copy, "ivig = 284", "ivig = 248")  # the news item's slip: 248 + 194 = 442, not 478

    error = load_error(store_copy)

    assert error.code == "evidence.arm_totals_mismatch"
    assert error.details == {
        "file": str(path),
        "field": "participants",
        "value": {"total": 478, "ivig": 248, "control": 194},
    }


def test_ci_that_is_not_log_symmetric_is_rejected(store_copy: Path) -> None:
    path = edit(store_copy, "ci = [1.44, 2.73]", "ci = [1.44, 3.73]")

    error = load_error(store_copy)

    assert error.code == "evidence.ci_not_log_symmetric"
    assert error.details == {"file": str(path), "field": "estimates.overall.ci", "value": [1.98, 1.44, 3.73]}


def test_p_0_06_for_the_timing_estimate_is_rejected_as_inconsistent_with_its_ci(store_copy: Path) -> None:
    path = edit(store_copy, "p_value = 0.006", "p_value = 0.06")  # the CI implies about 0.0062

    error = load_error(store_copy)

    assert error.code == "evidence.p_value_inconsistent"
    assert error.details == {"file": str(path), "field": f"estimates.{TIMING}.p_value", "value": 0.06}


# --- Broken copies: provenance and schema -------------------------------------------------------------------------


def test_estimate_without_where_is_rejected_as_missing_provenance(store_copy: Path) -> None:
    path = edit(store_copy, 'n_participants = 478\nwhere = "Abstract"\n', "n_participants = 478\n")

    error = load_error(store_copy)

    assert error.code == "evidence.missing_provenance"
    assert (error.details["file"], error.details["field"]) == (str(path), "estimates.0.where")
    assert error.details["value"]["id"] == "overall"  # the block that lost its locator


def test_typo_wher_is_rejected_as_schema_error_naming_the_typo(store_copy: Path) -> None:
    path = edit(store_copy, 'n_participants = 478\nwhere = "Abstract"', 'n_participants = 478\nwher = "Abstract"')

    error = load_error(store_copy)

    assert error.code == "evidence.schema"
    assert error.details == {"file": str(path), "field": "estimates.0.wher", "value": "Abstract"}


def test_derived_tag_without_a_method_is_rejected_as_schema_error(store_copy: Path) -> None:
    path = edit(store_copy, "control = 194\n", 'control = 194\nprovenance_for = { control = "derived" }\n')

    error = load_error(store_copy)

    assert error.code == "evidence.schema"
    assert (error.details["file"], error.details["field"]) == (str(path), "participants")
    assert error.details["value"]["provenance_for"] == {"control": "derived"}


def test_derived_block_without_a_method_is_rejected_as_schema_error(store_copy: Path) -> None:
    # The [participants] block's tag is the last line before [warning].
    path = edit(store_copy, 'provenance = "stated"\n\n[warning]', 'provenance = "derived"\n\n[warning]')

    error = load_error(store_copy)

    assert error.code == "evidence.schema"
    assert (error.details["file"], error.details["field"]) == (str(path), "participants")
    assert error.details["value"]["provenance"] == "derived"


def test_point_outside_its_ci_is_rejected_as_schema_error(store_copy: Path) -> None:
    path = edit(store_copy, "point = 1.98", "point = 2.98")

    error = load_error(store_copy)

    assert error.code == "evidence.schema"
    assert (error.details["file"], error.details["field"]) == (str(path), "estimates.0")
    assert (error.details["value"]["point"], error.details["value"]["ci"]) == (2.98, [1.44, 2.73])


def test_duplicate_estimate_ids_are_rejected_as_schema_error(store_copy: Path) -> None:
    path = edit(store_copy, 'id = "nk-above-12"', 'id = "overall"')

    error = load_error(store_copy)

    assert error.code == "evidence.schema"
    assert (error.details["file"], error.details["field"]) == (str(path), "estimates")
    assert [e["id"] for e in error.details["value"]] == ["overall", "overall", TIMING]


def test_duplicate_study_ids_are_rejected_as_schema_error(store_copy: Path) -> None:
    path = edit(store_copy, 'id = "winger2008"', 'id = "stricker2005"')

    error = load_error(store_copy)

    assert error.code == "evidence.schema"
    assert (error.details["file"], error.details["field"]) == (str(path), "studies")


def test_toml_syntax_error_is_rejected_naming_the_file(store_copy: Path) -> None:
    path = edit(store_copy, "ci = [1.44, 2.73]", "ci = [1.44, 2.73")

    error = load_error(store_copy)

    assert error.code == "evidence.toml_syntax"
    assert error.details == {"file": str(path)}


def test_empty_analyses_directory_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "analyses").mkdir()

    error = load_error(tmp_path)

    assert error.code == "evidence.empty"
    assert error.details == {"file": str(tmp_path / "analyses")}


def test_missing_evidence_directory_is_rejected_as_empty(tmp_path: Path) -> None:
    error = load_error(tmp_path / "nowhere")

    assert error.code == "evidence.empty"


def test_a_broken_file_beside_a_good_one_stops_the_whole_load(store_copy: Path) -> None:
    # Fail closed: no partial store. The good copy sorts first, so it has already loaded when the bad one fails.
    good = store_copy / ANALYSIS_FILE
    broken = store_copy / "analyses" / "zz-broken.toml"
    shutil.copyfile(good, broken)
    edit(store_copy, 'id = "habets-2022-ivig-rpl"', 'id = "zz-broken"', relative=Path("analyses") / broken.name)
    edit(store_copy, "ivig = 284", "ivig = 248", relative=Path("analyses") / broken.name)

    error = load_error(store_copy)

    assert error.code == "evidence.arm_totals_mismatch"
    assert error.details["file"] == str(broken)


def test_analysis_file_named_other_than_its_id_is_rejected(store_copy: Path) -> None:
    renamed = (store_copy / ANALYSIS_FILE).rename(store_copy / "analyses" / "habets-2022.toml")

    error = load_error(store_copy)

    assert error.code == "evidence.schema"
    assert error.details == {"file": str(renamed), "field": "id", "value": "habets-2022-ivig-rpl"}


def test_store_is_frozen_once_loaded() -> None:
    store: EvidenceStore = load_evidence(EVIDENCE)
    overall = store.analyses["habets-2022-ivig-rpl"].overall

    with pytest.raises(ValueError):  # pydantic's ValidationError (frozen_instance) is a ValueError
        overall.point = 3.0  # type: ignore[misc]


# --- Certainty that follows from its reasons (CLINICAL.md section 1) ---------------------------------------------


def test_a_risk_of_bias_judged_serious_but_not_rated_down_is_refused(store_copy: Path) -> None:
    text = (store_copy / ANALYSIS_FILE).read_text(encoding="utf-8")
    first = text.index('level = "very_low"')  # the overall estimate's block comes first
    (store_copy / ANALYSIS_FILE).write_text(text[:first] + 'level = "low"' + text[first + 18 :], encoding="utf-8")

    error = load_error(store_copy)

    assert error.code == "evidence.certainty_not_rated_down"
    assert error.details["field"] == "estimates.overall.certainty.level"


def test_a_level_rated_down_without_a_serious_domain_is_refused(store_copy: Path) -> None:
    edit(
        store_copy,
        '{ domain = "risk_of_bias", judgement = "serious", reason = "The authors describe',
        '{ domain = "risk_of_bias", judgement = "not_serious", reason = "The authors describe',
    )

    assert load_error(store_copy).code == "evidence.certainty_without_reason"


# --- Context records: only what the sources confirmed (CLINICAL.md section 6) ------------------------------------

CONTEXT = Path("context")


def test_the_real_store_holds_the_context_records_with_their_status_and_no_not_found_record() -> None:
    store = load_evidence(EVIDENCE)

    assert len(store.context) == 38  # 29 records shown beside answers, 8 baselines a caller may name, 1 subgroup
    assert {r.status for r in store.context.values()} == {"verified", "partly"}
    egerup = store.context["egerup2015_overall"]
    assert (egerup.estimate, egerup.ci, egerup.p, egerup.n_studies) == (0.92, (0.75, 1.12), "0.42", 11)
    assert egerup.direction == "lower_favours_ivig" and egerup.outcome == "no_live_birth"
    assert egerup.n_participants is None and "n_participants" in egerup.unconfirmed


def test_a_not_found_record_is_refused(store_copy: Path) -> None:
    edit(store_copy, 'status = "verified"', 'status = "not_found"', CONTEXT / "wang2016-overall.toml")

    error = load_error(store_copy)

    assert error.code == "context.not_found_shown"
    assert error.details["file"].endswith("wang2016-overall.toml")


def test_a_partly_record_that_shows_an_unconfirmed_figure_is_refused(store_copy: Path) -> None:
    edit(store_copy, "n_studies = 11\n", "n_studies = 11\nn_participants = 1008\n", CONTEXT / "egerup2015-overall.toml")

    error = load_error(store_copy)

    assert error.code == "context.unconfirmed_shown"
    assert error.details["field"] == "n_participants"


def test_a_partly_record_that_lists_nothing_unconfirmed_is_refused(store_copy: Path) -> None:
    edit(store_copy, 'unconfirmed = ["n_participants"]\n', "", CONTEXT / "egerup2015-overall.toml")

    assert load_error(store_copy).code == "context.unconfirmed_missing"


def test_an_estimate_without_its_direction_is_refused(store_copy: Path) -> None:
    edit(store_copy, 'direction = "lower_favours_ivig"\n', "", CONTEXT / "egerup2015-overall.toml")

    assert load_error(store_copy).code == "context.schema"


def test_a_store_without_context_records_is_refused(store_copy: Path) -> None:
    shutil.rmtree(store_copy / CONTEXT)

    assert load_error(store_copy).code == "context.empty"


# --- Study data re-pooled at load (issue: evidence science, item 3) -------------------------------------------------


def test_the_timing_estimate_is_re_pooled_from_its_two_studies_and_the_others_say_which_counts_are_missing() -> None:
    from plugin.core.evidence.study_data import missing_counts

    analysis = load_evidence(EVIDENCE).analyses["habets-2022-ivig-rpl"]
    by_id = {e.id: e for e in analysis.estimates}
    assert missing_counts(analysis, by_id[TIMING]) == []
    assert len(missing_counts(analysis, by_id["overall"])) == 18  # of 32: five of eight studies lack counts
    assert missing_counts(analysis, by_id["nk-above-12"])[:2] == ["ahmadi2019.ivig_events", "ahmadi2019.control_events"]


def test_study_counts_that_no_longer_give_the_published_figure_are_refused(store_copy: Path) -> None:
    edit(store_copy, "ivig_events = 20\nivig_total = 37", "ivig_events = 15\nivig_total = 37")

    error = load_error(store_copy)

    assert error.code == "evidence.repooling_mismatch"
    assert error.details["field"] == f"estimates.{TIMING}"


def test_complete_study_data_without_a_pooling_method_is_refused(store_copy: Path) -> None:
    edit(store_copy, 'pooling_method = "dl"\nprovenance_for = { pooling_method = "inferred" }\n', "")
    text = (store_copy / ANALYSIS_FILE).read_text(encoding="utf-8")
    start = text.index("method_for = { pooling_method")
    end = text.index("\n", start)
    (store_copy / ANALYSIS_FILE).write_text(text[:start] + text[end + 1 :], encoding="utf-8")

    assert load_error(store_copy).code == "evidence.pooling_method_missing"


# --- The question the store answers -------------------------------------------------------------------------------

QUESTION_FILE = Path("question.toml")


def test_the_store_says_which_analysis_randomized_lead_and_tables_answer_the_question() -> None:
    store = load_evidence(EVIDENCE)

    assert (store.question.analysis, store.analysis.id) == ("habets-2022-ivig-rpl", "habets-2022-ivig-rpl")
    assert store.question.randomized_lead == "egerup2015_overall"
    assert store.question.tables.model_dump() == {
        step: f"habets-2022-ivig-rpl-{step}" for step in ("status", "estimates", "notes", "context")
    }


def test_a_store_that_does_not_say_which_question_it_answers_is_refused(store_copy: Path) -> None:
    (store_copy / QUESTION_FILE).unlink()

    assert load_error(store_copy).code == "question.missing"


def test_a_question_naming_an_analysis_the_store_lacks_is_refused(store_copy: Path) -> None:
    edit(store_copy, 'analysis = "habets-2022-ivig-rpl"', 'analysis = "habets-2023-ivig-rpl"', QUESTION_FILE)

    error = load_error(store_copy)
    assert (error.code, error.details["field"]) == ("question.unknown_analysis", "analysis")


@pytest.mark.parametrize("lead", ["egerup2016_overall", "egerup2015_conclusion"])  # absent; a record with no estimate
def test_a_randomized_lead_that_is_not_a_record_with_an_estimate_is_refused(store_copy: Path, lead: str) -> None:
    edit(store_copy, '"egerup2015_overall"', f'"{lead}"', QUESTION_FILE)

    error = load_error(store_copy)
    assert (error.code, error.details["field"]) == ("question.unknown_randomized_lead", "randomized_lead")


def test_a_question_with_an_unknown_key_is_refused_naming_it(store_copy: Path) -> None:
    edit(store_copy, "schema_version = 1", "schema_version = 1\nanalyses = 2", QUESTION_FILE)

    error = load_error(store_copy)
    assert (error.code, error.details["field"]) == ("question.schema", "analyses")
