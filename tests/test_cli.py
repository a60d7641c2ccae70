"""The `ivig-cds` command through its real entry point: ask (the issue's worked cases), evidence check, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.releases import release_again

ROOT = Path(__file__).resolve().parent.parent
ISSUE_FLAGS = [
    "--prior-pregnancy-losses",
    "3",
    "--nk-cell-percent",
    "14",
    "--autoimmune",
    "none",
    "--th1-th2-ratio-elevated",
    "no",
    "--ivig-start",
    "after_pregnancy_confirmed",
]
CONSOLE_SCRIPT = Path(sys.executable).with_name("ivig-cds")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def ask_json(*flags: str) -> dict[str, Any]:
    result = run("ask", *flags, "--format", "json")
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_issue_profile_is_matched_with_nk_subgroup_then_overall() -> None:
    answer = ask_json(*ISSUE_FLAGS)
    assert answer["status"] == "matched"
    assert [e["id"] for e in answer["estimates"]] == [
        "habets-2022-ivig-rpl#nk-above-12",
        "habets-2022-ivig-rpl#overall",
    ]
    assert "nonrandomized_evidence" in [w["code"] for w in answer["warnings"]]
    assert answer["evidence_version"].startswith("sha256:")


def test_nk_12_makes_the_same_profile_outside_the_population() -> None:
    flags = [*ISSUE_FLAGS]
    flags[flags.index("14")] = "12"
    assert ask_json(*flags)["status"] == "outside_population"


def test_dropping_autoimmune_makes_it_insufficient_naming_autoimmune_conditions() -> None:
    flags = [*ISSUE_FLAGS]
    flags[flags.index("14")] = "12"
    del flags[flags.index("--autoimmune") : flags.index("--autoimmune") + 2]
    answer = ask_json(*flags)
    assert answer["status"] == "insufficient_information"
    assert answer["missing_information"] == ["autoimmune_conditions"]


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_text_and_markdown_carry_the_warning_and_the_published_numbers(fmt: str) -> None:
    result = run("ask", *ISSUE_FLAGS, "--format", fmt)
    assert result.returncode == 0
    assert "non-randomized studies with serious risk of bias" in " ".join(result.stdout.split())
    assert "2.32" in result.stdout and "1.77 to 3.02" in result.stdout


def test_autoimmune_accepts_a_comma_separated_list() -> None:
    answer = ask_json("--autoimmune", "antiphospholipid_syndrome,systemic_lupus_erythematosus")
    assert answer["profile"]["autoimmune_conditions"] == ["antiphospholipid_syndrome", "systemic_lupus_erythematosus"]
    assert answer["status"] == "matched"


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--nk-cell-percent", "140"], "--nk-cell-percent: must be at most 100"),
        (["--prior-pregnancy-losses", "-2"], "--prior-pregnancy-losses: must be at least 0"),
        (["--ivig-start", "maybe"], "--ivig-start: must be one of"),
        (["--autoimmune", "MRN-1234"], "--autoimmune: must be one of"),
        (["--baseline-live-birth-risk", "1.5"], "--baseline-live-birth-risk: must be less than 1"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag_and_what_is_allowed_never_the_value(flags: list[str], line: str) -> None:
    result = run("ask", *flags)
    assert result.returncode == 2
    assert result.stderr.startswith(f"ivig-cds ask: {line}")
    assert flags[1] not in result.stderr  # a finding typed in is not repeated back
    assert result.stdout == ""


def test_evidence_check_verifies_the_store_and_prints_its_version() -> None:
    result = run("evidence", "check")
    assert result.returncode == 0, result.stderr
    assert "habets-2022-ivig-rpl#nk-above-12: RR 2.32 (1.77-3.02)" in result.stdout
    assert "evidence version sha256:" in result.stdout


def test_ask_remembers_the_table_proofs_and_evidence_check_neither_reads_nor_writes_them(tmp_path: Path) -> None:
    proofs = tmp_path / "proofs"
    assert run("evidence", "check", env={"IVIG_CDS_PROOF_DIR": str(proofs)}).returncode == 0
    assert not proofs.exists()
    assert run("ask", "--nk-cell-percent", "14", env={"IVIG_CDS_PROOF_DIR": str(proofs)}).returncode == 0
    assert len(list(proofs.iterdir())) == 4  # one per decision table


def test_evidence_check_fails_closed_on_a_broken_store_naming_file_field_and_value(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "evidence", tmp_path / "evidence")
    analysis = tmp_path / "evidence" / "analyses" / "habets-2022-ivig-rpl.toml"
    analysis.write_text(analysis.read_text(encoding="utf-8").replace("ivig = 284", "ivig = 248"), encoding="utf-8")
    result = run("evidence", "check", env={"IVIG_CDS_EVIDENCE_DIR": str(tmp_path / "evidence")})
    assert result.returncode == 1
    assert "evidence.arm_totals_mismatch" in result.stderr
    assert "habets-2022-ivig-rpl.toml" in result.stderr and "248" in result.stderr


def test_serve_refuses_to_start_on_a_broken_store(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "evidence", tmp_path / "evidence")
    table = tmp_path / "evidence" / "rules" / "habets-2022-ivig-rpl-status.toml"
    table.write_text(table.read_text(encoding="utf-8").replace('"(12, 100]"', '"(13, 100]"', 1), encoding="utf-8")
    release_again(tmp_path / "evidence")
    result = run("serve", "--port", "0", env={"IVIG_CDS_EVIDENCE_DIR": str(tmp_path / "evidence")})
    assert result.returncode == 1
    assert "rules.gap" in result.stderr
