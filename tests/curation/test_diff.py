"""`ivig-cds evidence diff`: the whole profile grid through two releases, and exactly the answers that changed.

The previous release (tests/data/evidence-2026.11) against the shipped one finds what the December 2026 records
changed and nothing else; one risk ratio changed in a copy changes exactly the answers that show it.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from plugin import cli
from plugin.config import Settings
from plugin.core.answer.plugin import Plugin, load_plugin
from plugin.curation import diff as diff_module
from plugin.curation.diff import Diff, diff
from plugin.curation.grid import Case, cases
from plugin.curation.reading import ASPECTS, Reader
from plugin.curation.report import print_report
from tests.releases import release_again

ROOT = Path(__file__).resolve().parents[2]
PREVIOUS = ROOT / "tests" / "data" / "evidence-2026.11"
RPL = {"matched", "insufficient_information", "outside_population"}
NK = "habets-2022-ivig-rpl#nk-above-12"


def aspect(reader: Reader, case: Case, name: str) -> str:
    return reader.read(case).aspects[ASPECTS.index(name)]


@pytest.fixture(scope="module")
def previous(settings: Settings) -> Reader:
    return Reader(load_plugin(settings.model_copy(update={"evidence_dir": PREVIOUS})))


@pytest.fixture(scope="module")
def current(plugin: Plugin) -> Reader:
    return Reader(plugin)


@pytest.fixture(scope="module")
def december(previous: Reader, current: Reader) -> Diff:
    return diff(previous, current)


@pytest.fixture(scope="module")
def grid(december: Diff, previous: Reader, current: Reader) -> list[Case]:
    return cases([previous.plugin, current.plugin])


def test_the_grid_covers_every_band_field_and_baseline_of_both_releases(december: Diff, grid: list[Case]) -> None:
    assert december.grid == len(grid) == 159_120
    losses = {c.profile.prior_pregnancy_losses for c in grid}
    assert losses == {None, 0, 1, 2, 3, 4, 27, 50}
    assert {c.profile.nk_cell_percent for c in grid} == {None, 0.0, 0.5, 1.0, 6.5, 12.0, 26.0, 40.0, 70.0, 100.0}
    assert len({c.profile.autoimmune_conditions for c in grid}) == 17  # unknown, none, and all 15 combinations
    sources = {c.profile.baseline_live_birth_source for c in grid} - {None}
    assert len(sources) == 8 and {c.ivig_order for c in grid} == {False, True}


def test_every_rpl_answer_now_shows_ling_2024_which_no_answer_showed_before(
    grid: list[Case], previous: Reader, current: Reader
) -> None:
    rpl = [c for c in grid if aspect(current, c, "status") in RPL]
    assert len(rpl) > 100_000
    assert all("ling2024_ma" in aspect(current, c, "context_shown").split(", ") for c in rpl)
    assert not any("ling2024_ma" in aspect(previous, c, "context_shown") for c in grid)
    rpl_set = set(rpl)
    assert not any("ling2024_ma" in aspect(current, c, "context_shown") for c in grid if c not in rpl_set)


def test_aps_answers_now_name_standard_care_first_in_layer_1(
    grid: list[Case], previous: Reader, current: Reader
) -> None:
    aps = [
        c
        for c in grid
        if "antiphospholipid_syndrome" in (c.profile.autoimmune_conditions or ())
        and aspect(current, c, "status") in RPL
    ]
    assert len(aps) == 49_520
    assert all("APS standard care: aspirin plus heparin" in aspect(current, c, "at_a_glance") for c in aps)
    assert not any("standard care" in aspect(previous, c, "at_a_glance") for c in aps)


def test_status_leading_estimate_and_certainty_change_only_where_a_named_baseline_is_new(
    grid: list[Case], previous: Reader, current: Reader
) -> None:
    unchanged = ("status", "leading_estimate", "certainty")
    moved = {
        c.profile.baseline_live_birth_source
        for c in grid
        if any(aspect(previous, c, a) != aspect(current, c, a) for a in unchanged)
    }
    assert moved == set(current.plugin.store.baselines())  # the eight sourced baselines 2026.11 did not hold
    before = {aspect(previous, c, "status") for c in grid if c.profile.baseline_live_birth_source is not None}
    assert before == {"refused: profile.baseline_not_in_release"}


def test_the_counts_and_the_parts_that_changed_are_the_december_records(december: Diff) -> None:
    assert december.counts == {
        "status": 32_640,
        "leading_estimate": 11_880,
        "certainty": 11_880,
        "at_a_glance": 110_820,
        "estimates_shown": 11_880,
        "context_shown": 110_820,
        "card_summary": 15_960,
        "anything": 159_120,
    }
    added = sorted(c.id for c in december.changes if c.kind == "record" and c.how == "added")
    assert len(added) == 19 and "ling2024_ma" in added and "eshre2017_aps_treatment" in added
    assert not [c for c in december.changes if c.kind == "record" and c.how == "removed"]
    assert len(december.researched) == 19  # every record the two share was searched again in December


def test_a_changed_risk_ratio_changes_exactly_the_answers_that_show_it(
    tmp_path: Path, settings: Settings, current: Reader, grid: list[Case]
) -> None:
    copy = tmp_path / "evidence"
    shutil.copytree(ROOT / "evidence", copy)
    analysis = copy / "analyses" / "habets-2022-ivig-rpl.toml"
    text = analysis.read_text(encoding="utf-8")
    assert text.count("point = 2.32\n") == 1
    analysis.write_text(text.replace("point = 2.32\n", "point = 2.31\n"), encoding="utf-8")
    mutated = Reader(load_plugin(settings.model_copy(update={"evidence_dir": release_again(copy)})))

    result = diff(current, mutated)

    showing = [c for c in grid if NK in aspect(current, c, "estimates_shown")]
    assert len(showing) == 43_272
    assert result.changed_cases == showing
    assert [c.described() for c in result.changes] == [f"estimate {NK} changed (NK >12%)"]
    assert {g.causes for g in result.groups} == {tuple(result.changes)}
    assert result.counts["status"] == result.counts["certainty"] == 0
    assert all("RR 2.31 (1.77 to 3.02)" in g.after.aspects[ASPECTS.index("estimates_shown")] for g in result.groups)


def test_the_json_report_names_both_releases_counts_parts_and_groups_with_an_example(december: Diff) -> None:
    report = json.loads(json.dumps(december.report()))

    assert (report["old"]["label"], report["new"]["label"]) == ("2026.11", "2026.12")
    assert (report["profiles"], report["changed"]) == (159_120, 159_120)
    ling = next(p for p in report["release_changes"] if p["part"].startswith("record ling2024_ma added"))
    assert ling["changed_answers_reading_it"] == 108_180
    biggest = report["groups"][0]
    assert biggest["profiles"] == max(g["profiles"] for g in report["groups"])
    assert set(biggest) == {"profiles", "aspects", "status", "because", "example", "before", "after"}
    assert sum(g["profiles"] for g in report["groups"]) == 159_120


def test_the_table_leads_with_the_releases_and_what_changed(december: Diff) -> None:
    out = io.StringIO()
    print_report(december, Console(file=out, width=160, highlight=False))
    text = out.getvalue()

    assert text.startswith("Evidence 2026.11 (sha256:")
    assert "159,120 of 159,120 profiles get a different answer" in text
    assert "at a glance (layer 1)" in text and "110,820" in text
    assert "record ling2024_ma added (Ling 2024)" in text
    assert "Group 1: 3,680 profiles" in text and "for example:" in text


def test_the_command_exits_1_when_answers_change_and_prints_the_table(
    december: Diff, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(diff_module, "diff", lambda before, after, progress=None: december)  # computed above

    code = cli.main(["evidence", "diff", str(PREVIOUS), str(ROOT / "evidence")])

    assert code == 1
    assert "159,120 of 159,120 profiles get a different answer" in capsys.readouterr().out


def test_the_command_exits_0_for_the_same_release_and_2_for_one_that_does_not_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["evidence", "diff", str(ROOT / "evidence"), str(ROOT / "evidence"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == 0
    broken = tmp_path / "evidence"
    shutil.copytree(ROOT / "evidence", broken)
    (broken / "context" / "shi2022-ma.toml").unlink()

    assert cli.main(["evidence", "diff", str(ROOT / "evidence"), str(broken)]) == 2
    assert "release.file_missing" in capsys.readouterr().err
