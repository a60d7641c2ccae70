"""The documentation that must not drift: the configuration reference is the settings model's, row for row; the
licence is the one pyproject names; the changelog keeps its format; the README stays a short start whose links
resolve, and its SMART quickstart is what the SMART page registers and runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from plugin.config import Settings, variable
from plugin.settings_reference import reference_markdown, type_name
from tests.docs_pages import section

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


def test_the_readme_is_a_short_start_whose_links_all_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    first_screen = "\n".join(readme.splitlines()[:30])
    assert "make run" in first_screen and "make test" in first_screen
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert local, "the README links no page of the docs"
    assert [link for link in local if not (ROOT / link).is_file()] == []
    # every page of the site is reachable from the README (the changelog page is CHANGELOG.md, which it links)
    pages = {path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").glob("*.md")}
    pages -= {"docs/index.md", "docs/changelog.md"}
    assert pages <= set(local), sorted(pages - set(local))


def test_the_readme_smart_quickstart_is_what_the_smart_page_registers_and_runs() -> None:
    quickstart = section("README.md", "SMART App Launch")
    guide = section("smart.md", "SMART App Launch (the widget launched from the EHR)")
    registered = dict(re.findall(r"^\| (launch URL|redirect URL) \| `([^`]*)` \|$", guide, re.M))
    assert len(registered) == 2 and all(f"URL `{url}`" in quickstart for url in registered.values())
    shown, guided = (re.search(r"```console\n(.*?)```", text, re.S) for text in (quickstart, guide))
    assert shown and guided
    exports = shown.group(1).splitlines()
    assert exports and set(exports) <= set(guided.group(1).splitlines())
