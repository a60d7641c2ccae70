"""`serve` and `evidence check` refuse to start with a part missing: no half-working service that 500s later."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plugin.core.answer.plugin import STATUS_EXAMPLES
from plugin.core.rules.table import STATUSES
from tests.releases import release_again
from tests.test_cli import ROOT, run


def copy_of(tmp_path: Path, name: str) -> Path:
    shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path / name


def env(tmp_path: Path) -> dict[str, str]:
    return {"IVIG_CDS_EVIDENCE_DIR": str(tmp_path / "evidence"), "IVIG_CDS_TEMPLATES_DIR": str(tmp_path / "templates")}


@pytest.fixture
def parts(tmp_path: Path) -> Path:
    copy_of(tmp_path, "evidence")
    copy_of(tmp_path, "templates")
    return tmp_path


def refused(parts: Path, code: str, *, serve: bool = False) -> None:
    """`evidence check` runs the same start-up checks as `serve` (which is tried too where the issue found it)."""
    commands = [("evidence", "check"), *([("serve", "--port", "0")] if serve else [])]
    for command in commands:
        result = run(*command, env=env(parts))
        assert (result.returncode, code in result.stderr) == (1, True), (command, result.stderr[-500:])
        assert "Uvicorn running" not in result.stderr


def test_every_status_has_an_example_that_start_up_renders() -> None:
    assert tuple(STATUS_EXAMPLES) == STATUSES


def test_without_the_decision_tables_neither_serve_nor_evidence_check_starts(parts: Path) -> None:
    shutil.rmtree(parts / "evidence" / "rules")
    release_again(parts / "evidence")
    refused(parts, "rules.missing_table", serve=True)


def test_without_any_context_record_neither_starts(parts: Path) -> None:
    for record in (parts / "evidence" / "context").glob("*.toml"):
        record.unlink()
    refused(parts, "context.empty")


def test_a_template_syntax_error_stops_the_start_naming_the_template(parts: Path) -> None:
    page = parts / "templates" / "widget" / "page.html.j2"
    page.write_text(page.read_text(encoding="utf-8") + "{% if %}", encoding="utf-8")
    result = run("evidence", "check", env=env(parts))
    assert (result.returncode, "templates.invalid" in result.stderr) == (1, True)
    assert "widget/page.html.j2" in result.stderr


def test_a_missing_warning_partial_stops_the_start(parts: Path) -> None:
    (parts / "templates" / "partials" / "warning.html.j2").unlink()
    refused(parts, "templates.invalid", serve=True)


def test_a_missing_widget_asset_stops_the_start(parts: Path) -> None:
    (parts / "templates" / "widget" / "static" / "widget.js").unlink()
    refused(parts, "templates.invalid")


def test_a_question_naming_a_table_the_store_lacks_stops_the_start(parts: Path) -> None:
    question = parts / "evidence" / "question.toml"
    text = question.read_text(encoding="utf-8")
    question.write_text(text.replace('notes = "habets-2022-ivig-rpl-notes"', 'notes = "habets-2022-notes"'), "utf-8")
    release_again(parts / "evidence")
    refused(parts, "rules.missing_table")
