"""A release's manifest: the files that load are the files released, the version is their hash and the label's."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from plugin.core.evidence.release import MANIFEST, content_hash, file_digests, label_key, manifest_text
from plugin.core.evidence.store import load_evidence, load_release
from plugin.errors import EvidenceError

ROOT = Path(__file__).resolve().parents[3]
EVIDENCE = ROOT / "evidence"
PREVIOUS = ROOT / "tests" / "data" / "evidence-2026.11"
RECORD = Path("context") / "ling2024-ma.toml"


@pytest.fixture
def store_copy(tmp_path: Path) -> Path:
    shutil.copytree(EVIDENCE, tmp_path / "evidence")
    return tmp_path / "evidence"


def refused(directory: Path) -> EvidenceError:
    with pytest.raises(EvidenceError) as caught:
        load_evidence(directory)
    return caught.value


def test_the_shipped_store_is_release_2026_12_and_the_previous_one_2026_11() -> None:
    current, previous = load_evidence(EVIDENCE), load_evidence(PREVIOUS)

    assert (current.label, current.release.released_on.isoformat()) == ("2026.12", "2026-12-07")
    assert (previous.label, previous.release.released_on.isoformat()) == ("2026.11", "2026-12-01")
    assert current.version == current.release.version == content_hash(EVIDENCE, "2026.12")
    assert len(current.release.files) == 44 and len(previous.release.files) == 25
    assert current.sources_last_searched == current.release.sources_last_searched == "2026-11"
    assert "Ling 2024" in current.release.notes


def test_a_modified_file_under_an_unchanged_manifest_is_refused_naming_the_file(store_copy: Path) -> None:
    record = store_copy / RECORD
    record.write_text(record.read_text(encoding="utf-8").replace("n_studies = 12", "n_studies = 13"), "utf-8")

    error = refused(store_copy)

    assert (error.code, error.details["file"]) == ("release.file_changed", str(record))


def test_a_removed_file_is_refused_naming_it(store_copy: Path) -> None:
    (store_copy / "context" / "shi2022-ma.toml").unlink()

    error = refused(store_copy)

    assert (error.code, error.details["file"]) == ("release.file_missing", str(store_copy / "context/shi2022-ma.toml"))


def test_an_added_file_is_refused_naming_it(store_copy: Path) -> None:
    shutil.copy(store_copy / RECORD, store_copy / "rules" / "notes.json")

    error = refused(store_copy)

    assert (error.code, error.details["file"]) == ("release.file_unlisted", str(store_copy / "rules" / "notes.json"))


def test_a_manifest_whose_version_is_not_its_files_hash_is_refused(store_copy: Path) -> None:
    manifest = store_copy / MANIFEST
    release = load_release(manifest)
    manifest.write_text(manifest_text(release.model_copy(update={"version": "sha256:0123456789abcdef"})), "utf-8")

    error = refused(store_copy)

    assert (error.code, error.details["field"], error.details["value"]) == (
        "release.version_mismatch",
        "version",
        "sha256:0123456789abcdef",
    )


def test_a_manifest_that_misstates_how_current_the_sources_are_is_refused(store_copy: Path) -> None:
    manifest = store_copy / MANIFEST
    release = load_release(manifest)
    manifest.write_text(manifest_text(release.model_copy(update={"sources_last_searched": "2026-12"})), "utf-8")

    error = refused(store_copy)

    assert (error.code, error.message) == (
        "release.last_searched_mismatch",
        "the store's sources were last searched 2026-11",
    )


def test_without_a_manifest_nothing_loads(store_copy: Path) -> None:
    (store_copy / MANIFEST).unlink()

    assert refused(store_copy).code == "release.missing"


def test_an_unknown_key_in_the_manifest_is_refused_naming_it(store_copy: Path) -> None:
    manifest = store_copy / MANIFEST
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("notes = ", "note = ", 1), "utf-8")

    error = refused(store_copy)

    assert (error.code, error.details["field"]) == ("release.schema", "note")


def test_content_is_checked_before_the_manifest_so_a_curator_sees_the_edit_s_own_error_first(store_copy: Path) -> None:
    analysis = store_copy / "analyses" / "habets-2022-ivig-rpl.toml"
    analysis.write_text(analysis.read_text(encoding="utf-8").replace("ivig = 284", "ivig = 248"), "utf-8")

    assert refused(store_copy).code == "evidence.arm_totals_mismatch"


def test_the_label_is_part_of_the_version_and_the_manifest_and_readme_are_not(store_copy: Path) -> None:
    assert content_hash(store_copy, "2026.12") != content_hash(store_copy, "2026.12.1")
    before = content_hash(store_copy, "2026.12")
    (store_copy / "README.md").write_text("edited\n", encoding="utf-8")
    (store_copy / MANIFEST).write_text("# edited\n" + (store_copy / MANIFEST).read_text("utf-8"), "utf-8")

    assert content_hash(store_copy, "2026.12") == before
    assert MANIFEST not in file_digests(store_copy) and "README.md" not in file_digests(store_copy)


def test_the_written_manifest_reads_back_as_the_same_release_even_with_quotes_and_lines_in_the_notes() -> None:
    release = load_release(EVIDENCE / MANIFEST)
    tricky = release.model_copy(update={"notes": 'A "quoted" word,\na second line, a backslash \\ and é.'})

    assert tomllib.loads(manifest_text(tricky))["notes"] == tricky.notes


@pytest.mark.parametrize(
    ("earlier", "later"),
    [("2026.11", "2026.12"), ("2026.12", "2026.12.1"), ("2026.12.1", "2027.01"), ("2026.12.2", "2026.12.10")],
)
def test_labels_order_as_releases_do(earlier: str, later: str) -> None:
    assert label_key(earlier) < label_key(later)
