"""`ivig-cds evidence pool` through the real entry point: the BCG rows of section 3.5 per method, and bad CSVs
refused with exit 2, the error code, the row and the column."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.docs_pages import section

ROOT = Path(__file__).resolve().parent.parent
BCG_CSV = ROOT / "tests" / "data" / "bcg.csv"
BCG: dict[str, Any] = json.loads((ROOT / "tests" / "data" / "bcg.json").read_text(encoding="utf-8"))
CONSOLE_SCRIPT = Path(sys.executable).with_name("ivig-cds")
HEADER = "study,ivig_events,ivig_total,control_events,control_total\n"


def pool(path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), "evidence", "pool", str(path), *flags],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ),
        timeout=60,
    )


def test_bcg_csv_holds_the_same_13_trials_as_the_reference_json() -> None:
    rows = BCG_CSV.read_text(encoding="utf-8").splitlines()

    assert rows[0] + "\n" == HEADER
    assert [row.rsplit(",", 4)[1:] for row in rows[1:]] == [
        [str(t["tpos"]), str(t["tpos"] + t["tneg"]), str(t["cpos"]), str(t["cpos"] + t["cneg"])] for t in BCG["trials"]
    ]


@pytest.mark.parametrize(
    ("row", "flags"),
    [
        pytest.param("mh-common", ["--method", "mh"], id="mh"),
        pytest.param("iv-common", ["--method", "iv"], id="iv"),
        pytest.param("dl-random", ["--method", "dl"], id="dl"),
        pytest.param("reml-random", ["--method", "reml"], id="reml"),
        pytest.param("reml-hksj", ["--method", "reml", "--hksj"], id="reml-hksj"),
    ],
)
def test_pool_prints_the_section_3_5_values_for_bcg(row: str, flags: list[str]) -> None:
    result = pool(BCG_CSV, *flags)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    got = {
        "log_rr": printed["log_rr"],
        "log_ci": [printed["log_ci_low"], printed["log_ci_high"]],
        "rr": printed["rr"],
        "ci": [printed["ci_low"], printed["ci_high"]],
        "se": printed["se"],
        "q": printed["q"],
        "tau2": printed["tau2"],
        "i2_percent": 100 * printed["i2"],
        "t_critical": (printed["log_ci_high"] - printed["log_rr"]) / printed["se"],
    }

    assert printed["k"] == 13
    # Rounded to the standard's printed digits (4 dp; I2 in % to 2 dp), as in tests/core/stats/test_meta_analysis.py.
    for name, value in BCG["expected"][row].items():
        digits = 2 if name == "i2_percent" else 4
        rounded = [round(v, digits) for v in got[name]] if isinstance(value, list) else round(got[name], digits)
        assert rounded == value, name


def test_reml_pool_prints_the_z_prediction_interval_and_says_which_distribution() -> None:
    printed = json.loads(pool(BCG_CSV, "--method", "reml").stdout)

    assert [round(printed["log_pi_low"], 4), round(printed["log_pi_high"], 4)] == BCG["expected"]["reml-prediction"][
        "log_pi_z"
    ]
    assert (printed["pi_distribution"], printed["pi_df"]) == ("z", None)
    assert printed["pi_low"] < printed["ci_low"] < printed["rr"] < printed["ci_high"] < printed["pi_high"]


def test_common_effect_pool_prints_null_tau2_and_no_prediction_interval() -> None:
    printed = json.loads(pool(BCG_CSV, "--method", "mh").stdout)

    assert (printed["tau2"], printed["pi_low"], printed["pi_high"], printed["pi_distribution"]) == (None,) * 4


@pytest.mark.parametrize(
    ("body", "code", "where"),
    [
        pytest.param("study,ivig_events,ivig_total,control_events\na,1,10,2\n", "study_data.missing_column",
                     "row 1, column control_total", id="missing-column"),
        pytest.param(HEADER + "a,1,10,2,20\nb,12,10,2,20\n", "study_data.events_above_total",
                     "row 3, column ivig_events", id="events-above-total"),
        pytest.param(HEADER + "a,1,10,-2,20\n", "study_data.not_a_count", "row 2, column control_events",
                     id="negative"),
        pytest.param(HEADER + "a,1,10,2,20.5\n", "study_data.not_a_count", "row 2, column control_total",
                     id="non-integer"),
        pytest.param("", "study_data.empty", "", id="empty-file"),
    ],
)  # fmt: skip
def test_bad_csv_exits_2_with_the_code_row_and_column(tmp_path: Path, body: str, code: str, where: str) -> None:
    path = tmp_path / "studies.csv"
    path.write_text(body, encoding="utf-8")
    result = pool(path, "--method", "dl")

    assert result.returncode == 2
    assert code in result.stderr and where in result.stderr
    assert result.stdout == ""


def test_hksj_with_mh_exits_2_with_a_code() -> None:
    result = pool(BCG_CSV, "--method", "mh", "--hksj")

    assert result.returncode == 2
    assert "pooling.hksj_not_for_mh" in result.stderr


def test_the_documented_pool_example_shows_lines_the_cli_prints() -> None:
    curators = section("cli.md", "Curators: re-pooling study data")
    block = re.search(r"```console\n\$ \.venv/bin/ivig-cds evidence pool (\S+) (.*?)\n(.*?)```", curators, re.DOTALL)
    assert block
    result = pool(ROOT / block.group(1), *block.group(2).split())
    printed = result.stdout.splitlines()

    shown = [line for line in block.group(3).splitlines() if line.strip() != "..."]
    assert shown and all(line in printed for line in shown), [line for line in shown if line not in printed]
