"""`ivig-cds serve` under a real uvicorn on 127.0.0.1, driven with the curl examples of the README and the docs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.docs_pages import page
from tests.served import Server, served

# The README's quickstart shows the first part of what the page of its door shows in full; both are checked.
JSON_EXAMPLES = ["README.md", "json-api.md"]
CLI_EXAMPLES = ["README.md", "cli.md"]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with served() as running:
        yield running


def curl_example(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request body of the page's curl example and the (abridged) JSON it says comes back."""
    text = page(name)
    request = re.search(r"curl -s http://127\.0\.0\.1:8000/v1/answer .*?-d '(\{.*?\})'", text, re.DOTALL)
    assert request, f"{name} has no curl example"
    response = re.search(r"```json\n(.*?)```", text[request.end() :], re.DOTALL)
    assert response, f"{name} shows no JSON answer after its curl example"
    return json.loads(request.group(1)), json.loads(response.group(1))


def assert_contains(actual: Any, shown: Any, path: str = "$") -> None:
    """Everything the page shows is in the real answer, with the same value; lists match item by item, and a
    list the page ends with "…" is abridged: its items are the first ones of the real list."""
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


@pytest.mark.parametrize("name", JSON_EXAMPLES)
def test_curl_of_the_documented_example_returns_the_answer_shown_there(server: Server, name: str) -> None:
    body, shown = curl_example(name)
    response = httpx.post(f"{server.url}/v1/answer", json=body, timeout=10)
    assert response.status_code == 200
    assert_contains(response.json(), shown)


def test_the_served_app_rejects_bad_input_with_422_over_real_http(server: Server) -> None:
    response = httpx.post(f"{server.url}/v1/answer", json={"nk_cell_percent": 140}, timeout=10)
    assert response.status_code == 422
    assert [field["path"] for field in response.json()["error"]["details"]["fields"]] == ["nk_cell_percent"]


def test_the_log_is_one_json_line_per_request_with_its_route_and_never_the_query(server: Server) -> None:
    response = httpx.get(f"{server.url}/widget", params={"nk_cell_percent": "14.5", "ivig_start": "undecided"})
    assert response.status_code == 200
    httpx.get(f"{server.url}/openapi.json")  # a later line proves the widget line has been written
    lines = server.log_until('"route": "/openapi.json"')
    records = [json.loads(line) for line in lines]  # every line is JSON: nothing else was written
    (widget,) = [record for record in records if record.get("route") == "/widget"]
    assert {key: widget[key] for key in ("logger", "method", "status")} == {
        "logger": "plugin.access",
        "method": "GET",
        "status": 200,
    }
    assert widget["request_id"] == response.headers["x-request-id"]
    assert isinstance(widget["duration_ms"], float)
    assert all("nk_cell_percent" not in line and "ivig_start" not in line for line in lines)
    # the value sent appears in no text of any line (durations are numbers and may contain its digits)
    assert all("14.5" not in text for record in records for text in texts_of(record))


def texts_of(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included: where a logged query value would show."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from texts_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts_of(item)


@pytest.mark.parametrize("name", CLI_EXAMPLES)
def test_the_documented_cli_example_output_is_what_the_cli_prints(name: str) -> None:
    block = re.search(r"```console\n\$ (.*?)```", page(name), re.DOTALL)
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
