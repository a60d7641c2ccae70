"""`ivig-cds serve` under a real uvicorn on 127.0.0.1, driven with the README's own curl example."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """`ivig-cds serve` on a free port, with every line it logs collected by a reader thread."""

    url: str
    log: list[str]

    def log_until(self, marker: str) -> list[str]:
        """The log so far, once a line containing `marker` has arrived (bounded wait for the reader thread)."""
        deadline = time.monotonic() + 10
        while not any(marker in line for line in self.log) and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.log)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    program = str(Path(sys.executable).with_name("ivig-cds"))
    database = tmp_path_factory.mktemp("serve") / "ivig-cds.sqlite3"
    env = os.environ | {"IVIG_CDS_DATABASE_URL": f"sqlite:///{database}"}
    subprocess.run([program, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=60)  # as `make run`
    command = [program, "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    running = Server(url=f"http://127.0.0.1:{port}", log=log)
    try:
        deadline = time.monotonic() + 60  # generous: a shared CI machine under coverage can take half of it
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"ivig-cds serve exited with {process.returncode}: {''.join(log)}")
            try:
                if httpx.get(f"{running.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)  # the server is still importing and loading the evidence
        else:
            pytest.fail("ivig-cds serve did not answer /healthz within 60 s")
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)
        process.stdout.close()


def readme_curl_example() -> tuple[dict[str, Any], dict[str, Any]]:
    """The request body of the README's curl example and the (abridged) JSON it says comes back."""
    text = README.read_text(encoding="utf-8")
    request = re.search(r"curl -s http://127\.0\.0\.1:8000/v1/answer .*?-d '(\{.*?\})'", text, re.DOTALL)
    assert request, "the README has no curl example"
    response = re.search(r"```json\n(.*?)```", text[request.end() :], re.DOTALL)
    assert response, "the README shows no JSON answer after its curl example"
    return json.loads(request.group(1)), json.loads(response.group(1))


def assert_contains(actual: Any, shown: Any, path: str = "$") -> None:
    """Everything the README shows is in the real answer, with the same value; lists match item by item, and a
    list the README ends with "…" is abridged: its items are the first ones of the real list."""
    if isinstance(shown, dict):
        assert isinstance(actual, dict), path
        for key, value in shown.items():
            assert key in actual, f"{path}.{key} is missing"
            assert_contains(actual[key], value, f"{path}.{key}")
    elif isinstance(shown, list) and shown and shown[-1] == "…":
        assert isinstance(actual, list) and len(actual) >= len(shown), path
        assert_contains(actual[: len(shown) - 1], shown[:-1], path)
    elif isinstance(shown, list):
        assert isinstance(actual, list) and len(actual) == len(shown), path
        for index, (got, want) in enumerate(zip(actual, shown, strict=True)):
            assert_contains(got, want, f"{path}[{index}]")
    else:
        assert actual == shown, f"{path}: {actual!r} != {shown!r}"


def test_curl_of_the_readme_example_returns_the_answer_the_readme_shows(server: Server) -> None:
    body, shown = readme_curl_example()
    response = httpx.post(f"{server.url}/v1/answer", json=body, timeout=10)
    assert response.status_code == 200
    assert_contains(response.json(), shown)


def test_the_served_app_rejects_bad_input_with_422_over_real_http(server: Server) -> None:
    response = httpx.post(f"{server.url}/v1/answer", json={"nk_cell_percent": 140}, timeout=10)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "nk_cell_percent"]


def test_access_log_keeps_the_path_but_not_the_findings_in_the_query(server: Server) -> None:
    response = httpx.get(f"{server.url}/widget", params={"nk_cell_percent": "14.5", "ivig_start": "undecided"})
    assert response.status_code == 200
    httpx.get(f"{server.url}/openapi.json")  # a later line proves the widget line has been written
    lines = server.log_until("GET /openapi.json")
    widget_lines = [line for line in lines if "GET /widget" in line]
    assert widget_lines and all("14.5" not in line and "nk_cell_percent" not in line for line in widget_lines)


def test_the_readme_cli_example_output_is_what_the_cli_prints() -> None:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ (.*?)```", text, re.DOTALL)
    assert block
    lines = block.group(1).splitlines()
    command = [lines.pop(0)]
    while command[-1].endswith("\\"):
        command.append(lines.pop(0))
    flags = " ".join(line.rstrip("\\") for line in command).split()[1:]  # drop the program path
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ivig-cds")), *flags], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("\n".join(lines) + "\n")
