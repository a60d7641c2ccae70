"""What a person meets at the command line: --version, help with examples and defaults, errors that name the flag
as typed without repeating its value, refused settings, a closed pipe, and where state goes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plugin import __version__

CONSOLE_SCRIPT = Path(sys.executable).with_name("ivig-cds")
# The value typed in each bad command line: none of them may come back in the error.
SECRET_LOOKING = "1e400x"


def clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.upper().startswith("IVIG_CDS_")}, **extra}


def run(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args], capture_output=True, text=True, env=clean_env(**env), cwd=cwd, timeout=120
    )


def test_version_prints_the_package_version() -> None:
    result = run("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"ivig-cds {__version__}\n", "")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["ask", "--nk-cell-percent", SECRET_LOOKING],
            "ivig-cds ask: error: argument --nk-cell-percent: must be a number",
        ),
        (
            ["ask", "--prior-pregnancy-losses", SECRET_LOOKING],
            "ivig-cds ask: error: argument --prior-pregnancy-losses: must be a whole number",
        ),
        (
            ["ask", "--format", SECRET_LOOKING],
            "ivig-cds ask: error: argument --format: must be one of text, markdown, json",
        ),
        (
            ["ask", "--th1-th2-ratio-elevated", SECRET_LOOKING],
            "ivig-cds ask: error: argument --th1-th2-ratio-elevated: must be yes or no",
        ),
        (
            ["serve", "--port", SECRET_LOOKING],
            "ivig-cds serve: error: argument --port: must be a port number, 0 to 65535",
        ),
        (
            ["evidence", SECRET_LOOKING],
            "ivig-cds evidence: error: argument COMMAND: must be one of check, release, diff, pool",
        ),
        (["db", SECRET_LOOKING], "ivig-cds db: error: argument COMMAND: must be one of upgrade, purge"),
        (["db"], "ivig-cds db: error: the following arguments are required: COMMAND"),
        (
            ["evidence", "pool", "x.csv", "--method", SECRET_LOOKING],
            "ivig-cds evidence pool: error: argument --method: must be one of mh, iv, dl, reml",
        ),
        (
            ["ask", "--nk-percent", "14", SECRET_LOOKING],
            "ivig-cds: error: unrecognized arguments: --nk-percent and 2 other arguments (see --help)",
        ),
    ],
    ids=["float", "int", "choice", "yes-no", "port", "evidence-command", "db-command", "db-none", "method", "unknown"],
)
def test_usage_errors_name_the_flag_and_what_is_allowed_never_the_value(args: list[str], expected: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == expected
    assert SECRET_LOOKING not in result.stderr
    assert "_command" not in result.stderr  # no internal destination name


def test_a_profile_error_names_the_flag_typed_not_the_profile_field() -> None:
    result = run("ask", "--autoimmune", "lupus,MRN-1234")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert [line.split(": must")[0] for line in lines] == ["ivig-cds ask: --autoimmune", "ivig-cds ask: --autoimmune"]
    assert "autoimmune_conditions" not in result.stderr and "MRN-1234" not in result.stderr


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--help"], ["--version", "serve", "ask", "decision-aid", "evidence", "db", "mcp", "ivig-cds COMMAND --help"]),
        (["serve", "--help"], ["(default: 127.0.0.1)", "(default: 8000)", "(default: 1)", "examples:"]),
        (["ask", "--help"], ["(default: text)", "examples:", "ivig-cds ask --prior-pregnancy-losses 3"]),
        (["evidence", "--help"], ["check", "pool", "examples:", "ivig-cds evidence check"]),
        (["evidence", "pool", "--help"], ["study,ivig_events,ivig_total,control_events,control_total", "example:"]),
        (["db", "--help"], ["upgrade", "purge", "examples:", "ivig-cds db upgrade"]),
        (
            ["decision-aid", "--help"],
            ["(default: text)", "--output FILE", "examples:", "ivig-cds decision-aid --prior-pregnancy-losses 3"],
        ),
    ],
    ids=["top", "serve", "ask", "evidence", "pool", "db", "decision-aid"],
)
def test_help_shows_examples_and_defaults_and_no_internal_name(args: list[str], shown: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 0
    assert [text for text in shown if text not in result.stdout] == []
    assert "_command" not in result.stdout


def test_an_unknown_setting_is_refused_naming_the_closest_one() -> None:
    result = run("ask", "--nk-cell-percent", "14", IVIG_CDS_DATABSE_URL="postgresql://ivig:pw@db/ivig")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "ivig-cds: IVIG_CDS_DATABSE_URL is not a setting: did you mean IVIG_CDS_DATABASE_URL?\n"


def test_a_setting_with_a_value_it_cannot_take_is_refused_without_the_value() -> None:
    result = run("serve", IVIG_CDS_MAX_BODY=SECRET_LOOKING)
    assert result.returncode == 2
    assert result.stderr.startswith("ivig-cds: IVIG_CDS_MAX_BODY: Input should be a valid integer")
    assert SECRET_LOOKING not in result.stderr


ASK = ["ask", "--prior-pregnancy-losses", "3", "--nk-cell-percent", "14", "--format", "json"]


def test_a_reader_that_stops_early_ends_ask_quietly(tmp_path: Path) -> None:
    """The pipe's reader end is closed before ask writes, so every write meets a closed pipe."""
    process = subprocess.Popen(
        [str(CONSOLE_SCRIPT), *ASK], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), text=True
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    with process.stderr:
        stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert stderr == ""


def test_ask_piped_into_head_prints_one_line_and_no_traceback() -> None:
    command = f"{CONSOLE_SCRIPT} {' '.join(ASK)} | head -1"
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=clean_env(), timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "{\n", "")


def test_state_goes_under_the_data_directory_not_the_working_directory(tmp_path: Path) -> None:
    """A chat client starts `ivig-cds` wherever it likes: with IVIG_CDS_DATA_DIR set, nothing lands there."""
    elsewhere, data = tmp_path / "client", tmp_path / "data"
    elsewhere.mkdir()
    assert run("ask", "--nk-cell-percent", "14", cwd=elsewhere, IVIG_CDS_DATA_DIR=str(data)).returncode == 0
    assert run("db", "upgrade", cwd=elsewhere, IVIG_CDS_DATA_DIR=str(data)).returncode == 0
    assert list(elsewhere.iterdir()) == []
    assert sorted(path.name for path in data.iterdir()) == ["cache", "ivig-cds.sqlite3"]
    assert len(list((data / "cache" / "proofs").iterdir())) == 4  # one proof per decision table


def test_a_relative_data_directory_is_resolved_once_and_printed_at_start(tmp_path: Path) -> None:
    """serve says where its state is before anything else (here it then refuses a database path that cannot be)."""
    result = run("serve", cwd=tmp_path, IVIG_CDS_DATA_DIR="state", IVIG_CDS_DATABASE_URL="sqlite:///nowhere/x.sqlite3")
    assert result.returncode == 2
    messages = [json.loads(line)["message"] for line in result.stderr.splitlines() if line.startswith("{")]
    assert messages[0] == f"data directory {tmp_path / 'state'}"
    assert result.stderr.splitlines()[-1] == (
        f"ivig-cds serve: IVIG_CDS_DATABASE_URL: the directory of the SQLite database does not exist: "
        f"{tmp_path / 'nowhere'}"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state"]
