"""The SMART page of the docs (docs/smart.md), followed step by step against the local EHR: register the app with
the table's URLs and scopes, run its `console` block (the local URLs in place of the example ones), launch from the
chart page."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import BrowserContext

from tests.docs_pages import section
from tests.smart.ehr import LAUNCH, PATIENT, Ehr

EXAMPLE_APP = "https://cds.example.org"
EXAMPLE_FHIR = "https://ehr.example.org/fhir"
EXAMPLE_EHR = "https://ehr.example.org"
START_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def smart_section() -> str:
    return section("smart.md", "SMART App Launch (the widget launched from the EHR)")


def registration() -> dict[str, str]:
    """The registration table: what -> its first code span (the text itself when it has none)."""
    rows = re.findall(r"^\| (launch URL|redirect URL|scopes|client type) \| (.*) \|$", smart_section(), re.MULTILINE)
    return {what: value if what == "client type" else re.findall(r"`([^`]*)`", value)[0] for what, value in rows}


def console_commands() -> list[str]:
    block = re.search(r"```console\n(.*?)```", smart_section(), re.DOTALL)
    assert block, "the SMART page has no console block"
    return [line.removeprefix("$ ") for line in block.group(1).splitlines() if line.startswith("$ ")]


def localized(text: str, app: str, ehr: Ehr) -> str:
    return text.replace(EXAMPLE_APP, app).replace(EXAMPLE_FHIR, ehr.fhir).replace(EXAMPLE_EHR, ehr.base)


@pytest.fixture(scope="module")
def served(ehr: Ehr, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """The page's commands: its exports and other commands in order, then its `ivig-cds serve` on a free port;
    yields the URL and the log. The database goes to a temporary file, not the checkout's var/."""
    port = free_port()
    app = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVIG_CDS_")}
    env["IVIG_CDS_DATABASE_URL"] = f"sqlite:///{tmp_path_factory.mktemp('smart') / 'ivig-cds.sqlite3'}"
    commands = [localized(command, app, ehr) for command in console_commands()]
    before, (serve,) = commands[:-1], commands[-1:]
    for command in before:
        if command.startswith("export "):
            name, _, value = shlex.split(command.removeprefix("export "))[0].partition("=")
            env[name] = value
        else:
            argv = shlex.split(command)
            argv[0] = str(Path(sys.executable).with_name(argv[0]))
            subprocess.run(argv, env=env, check=True, capture_output=True, timeout=START_SECONDS)
    argv = shlex.split(serve.replace("--port 8000", f"--port {port}"))
    argv[0] = str(Path(sys.executable).with_name(argv[0]))
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        # Bounded, and generous: on a busy 2-core machine under coverage, start-up was seen to pass 30 s.
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{app}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)  # still importing and loading the evidence
        else:
            pytest.fail(f"ivig-cds serve did not answer /healthz within {START_SECONDS:.0f} s: {log}")
        yield app, log
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)
        process.stdout.close()


def test_the_documented_registration_and_commands_launch_the_widget_filled_from_the_chart(
    context: BrowserContext, ehr: Ehr, served: tuple[str, list[str]]
) -> None:
    app, log = served
    table = registration()
    assert table["client type"].startswith("public")
    launch_url, redirect_url = localized(table["launch URL"], app, ehr), localized(table["redirect URL"], app, ehr)
    scopes = set(table["scopes"].split()) | {"launch/patient"}
    ehr.register(redirect_url, scopes)

    page = context.new_page()
    page.goto(
        f"{ehr.base}/chart?" + urlencode({"src": f"{launch_url}?" + urlencode({"iss": ehr.fhir, "launch": LAUNCH})})
    )
    widget = page.frame_locator("iframe")
    widget.locator("#allow").click()
    widget.locator("#chart-source").wait_for()
    assert ehr.authorize_requests[-1]["scope"] == table["scopes"]
    assert widget.locator("#field-nk_cell_percent").input_value() == "18.0"
    assert widget.locator("#field-prior_pregnancy_losses").input_value() == "3"
    lead = widget.locator(".lead-estimate").inner_text()
    assert " ".join(lead.split()).startswith("NK >12% RR 2.32 (1.77 to 3.02)")
    assert widget.locator("#warnings .warning-title").inner_text().endswith("Non-randomized evidence")
    httpx.get(f"{app}/openapi.json")  # a later line: every line before it has been written
    deadline = time.monotonic() + 10
    while not any('"route": "/openapi.json"' in line for line in log) and time.monotonic() < deadline:
        time.sleep(0.05)
    written = "".join(log)
    assert '"route": "/smart/callback"' in written and PATIENT not in written and "tok-" not in written
