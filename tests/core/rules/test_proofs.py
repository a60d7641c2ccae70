"""A table proven once is not proven again until its file or the proving code changes; `evidence check` always
proves; a directory that cannot be written costs only the time of proving again."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from plugin.core.evidence.analysis import EvidenceStore
from plugin.core.evidence.store import load_evidence
from plugin.core.rules import loading as tables
from plugin.core.rules.proofs import ProofDirectory
from plugin.core.rules.table import DecisionTable
from plugin.errors import RuleTableError

EVIDENCE = Path(__file__).resolve().parents[3] / "evidence"


@pytest.fixture(scope="module")
def store() -> EvidenceStore:
    return load_evidence(EVIDENCE)


@pytest.fixture
def proved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the tables proven on their grid, in order (the real proof still runs)."""
    ids: list[str] = []
    real = tables.verify

    def counting(table: DecisionTable, path: Path) -> None:
        ids.append(table.id)
        real(table, path)

    monkeypatch.setattr(tables, "verify", counting)
    return ids


def load(store: EvidenceStore, evidence: Path, proofs: ProofDirectory | None) -> dict[str, DecisionTable]:
    return tables.load_tables(evidence, set(store.refs()), set(store.context), proofs)


def copy_of_evidence(tmp_path: Path) -> Path:
    shutil.copytree(EVIDENCE, tmp_path / "evidence")
    return tmp_path / "evidence"


def test_the_second_load_proves_nothing_and_gives_the_same_tables(
    store: EvidenceStore, tmp_path: Path, proved: list[str]
) -> None:
    proofs = ProofDirectory(tmp_path / "proofs")
    first = load(store, EVIDENCE, proofs)
    assert len(proved) == 4 and len(list((tmp_path / "proofs").iterdir())) == 4
    second = load(store, EVIDENCE, proofs)
    assert len(proved) == 4  # nothing proven again
    assert {i: [r.cells for r in t.rows] for i, t in first.items()} == {
        i: [r.cells for r in t.rows] for i, t in second.items()
    }


def test_a_changed_table_file_is_proven_again_and_a_broken_one_still_fails(
    store: EvidenceStore, tmp_path: Path, proved: list[str]
) -> None:
    evidence = copy_of_evidence(tmp_path)
    proofs = ProofDirectory(tmp_path / "proofs")
    load(store, evidence, proofs)
    status = evidence / "rules" / "habets-2022-ivig-rpl-status.toml"
    status.write_text(status.read_text() + "\n# a comment is a change too\n")
    load(store, evidence, proofs)
    assert proved[4:] == ["habets-2022-ivig-rpl-status"]
    status.write_text(status.read_text().replace('nk_cell_percent = "(12, 100]"', 'nk_cell_percent = "(13, 100]"'))
    with pytest.raises(RuleTableError) as caught:
        load(store, evidence, proofs)
    assert caught.value.code == "rules.gap"


def test_new_proving_code_invalidates_every_proof(
    store: EvidenceStore, tmp_path: Path, proved: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proofs = ProofDirectory(tmp_path / "proofs")
    load(store, EVIDENCE, proofs)
    monkeypatch.setattr(tables, "PROVING_DIGEST", "0" * 64)
    load(store, EVIDENCE, proofs)
    assert len(proved) == 8


def under_a_file(tmp: Path) -> Path:
    """A directory that cannot be made: a plain file stands where its parent should be."""
    (tmp / "a-file").write_text("")
    return tmp / "a-file" / "proofs"


@pytest.mark.parametrize("directory", [lambda tmp: None, under_a_file], ids=["no directory", "unwritable"])
def test_without_a_usable_directory_every_load_proves(
    store: EvidenceStore, tmp_path: Path, proved: list[str], directory: Callable[[Path], Path | None]
) -> None:
    where = directory(tmp_path)
    for _ in range(2):
        load(store, EVIDENCE, ProofDirectory(where) if where is not None else None)
    assert len(proved) == 8
