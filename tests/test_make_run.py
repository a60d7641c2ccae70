"""`make run`: a lean install (the runtime dependencies only, with pip's progress shown), then the service on the
PORT and HOST given."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.served import free_port

ROOT = Path(__file__).resolve().parent.parent
# What make test brings and serving never needs: none of it may be in the venv make run builds.
DEVELOPMENT_ONLY = ["playwright", "mypy", "openai", "anthropic", "pytest", "ruff", "coverage", "schemathesis", "mkdocs"]


def make_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("IVIG_CDS_", "COVERAGE_"))}, **extra}


def test_make_runs_install_step_builds_a_venv_without_the_development_tools(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["make", "-C", str(ROOT), f"VENV={venv}", f"{venv}/.installed-run"],
        capture_output=True,
        text=True,
        env=make_env(),
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--quiet" not in result.stdout and "Successfully installed" in result.stdout  # pip's progress is shown
    listed = subprocess.run([str(venv / "bin" / "pip"), "list", "--format=json"], capture_output=True, text=True)
    installed = {package["name"].lower().replace("_", "-") for package in json.loads(listed.stdout)}
    assert "ivig-cds" in installed and "uvicorn" in installed and "prometheus-client" in installed
    assert sorted(installed & set(DEVELOPMENT_ONLY)) == []
    version = subprocess.run([str(venv / "bin" / "ivig-cds"), "--version"], capture_output=True, text=True)
    assert version.stdout == "ivig-cds 0.1.0\n"


def test_make_run_serves_on_the_port_and_host_given(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / ".installed-run").exists():
        pytest.skip("make run would first install .venv; run the tests through make test")
    port = free_port()
    process = subprocess.Popen(
        ["make", "-C", str(ROOT), "--no-print-directory", "run", f"PORT={port}", "HOST=127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=make_env(IVIG_CDS_DATA_DIR=str(tmp_path / "state")),
        start_new_session=True,  # make and the server it starts are stopped together
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                home = httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, "make run exited"
                time.sleep(0.2)
        else:
            pytest.fail("make run did not answer within 90 s")
        assert home.status_code == 200 and 'href="/docs"' in home.text
        assert (tmp_path / "state" / "ivig-cds.sqlite3").is_file()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert f'"message": "data directory {tmp_path / "state"}"' in output
