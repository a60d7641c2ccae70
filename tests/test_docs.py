"""The documentation that must not drift: the configuration reference is the settings model's, row for row; the
licence is the one pyproject names; the changelog keeps its format."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from plugin.config import Settings, variable
from plugin.settings_reference import reference_markdown, type_name

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "configuration.md"


def test_the_committed_configuration_reference_is_the_one_the_settings_model_generates() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == reference_markdown(), (
        "run `python -m plugin.settings_reference > docs/configuration.md`"
    )


def test_every_setting_has_one_row_with_a_description_and_an_example() -> None:
    rows = re.findall(
        r"^\| `(IVIG_CDS_\w+)` \| ([^|]+) \| .+ \| (.+) \| (.+) \|$", REFERENCE.read_text(encoding="utf-8"), re.M
    )
    assert [name for name, *_ in rows] == [variable(name) for name in Settings.model_fields]
    assert [name for name, _, example, description in rows if not example.strip() or len(description) < 20] == []


def test_types_are_named_for_a_reader() -> None:
    fields = Settings.model_fields
    assert [
        type_name(fields[name].annotation) for name in ("data_dir", "proof_dir", "frame_ancestors", "smart_issuers")
    ] == [
        "path",
        "path, or empty",
        "JSON list of strings",
        "JSON object of strings to objects",
    ]


def test_the_licence_is_the_mit_licence_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"]
    assert declared == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")


def test_the_changelog_follows_keep_a_changelog_with_an_unreleased_section() -> None:
    headings = re.findall(r"^## \[(.+?)\]", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    assert headings[0] == "Unreleased"
    assert "0.1.0" in headings
