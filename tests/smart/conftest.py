"""SMART fixtures: the local EHR and the app under real uvicorn servers on 127.0.0.1, and Debian's Chromium.

The app's public URL must be known before it is built (it is the redirect URI), so its socket is bound first.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page

from plugin.app import create_app
from plugin.config import Settings
from plugin.smart.scopes import requested
from tests.cds_hooks.support import serve
from tests.smart.ehr import CLIENT_ID, Ehr
from tests.widget.browser import conftest as widget_browser
from tests.widget.browser.conftest import AXE, only_loopback, require

# The widget's browser fixtures, shared: one Chromium set-up for every browser test.
playwright = widget_browser.playwright
browser = widget_browser.browser

START_SECONDS = 20.0
V2 = frozenset({"permission-v2"})
EHR_SCOPE = requested(V2, ehr_launch=True)
STANDALONE_SCOPE = requested(V2, ehr_launch=False)
V1_EHR_SCOPE = requested(frozenset({"permission-v1"}), ehr_launch=True)
# Every scope the app may ask for, in either syntax: what docs/smart.md tells an integrator to register.
ALL_SCOPES = {*EHR_SCOPE.split(), *STANDALONE_SCOPE.split(), *V1_EHR_SCOPE.split(), "launch/patient"}


@contextmanager
def serving_on(sock: socket.socket, app: FastAPI) -> Iterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(START_SECONDS)
        sock.close()


@dataclass
class Smart:
    """The app as an EHR sees it: its URL and the running FastAPI app (for the tests' clock seams)."""

    url: str
    app: FastAPI

    def launch_url(self, ehr: Ehr, launch: str | None, iss: str | None = None) -> str:
        query = f"?iss={iss or ehr.fhir}" + (f"&launch={launch}" if launch else "")
        return f"{self.url}/smart/launch{query}"


@pytest.fixture(scope="module")
def ehr() -> Iterator[Ehr]:
    record = Ehr()
    with serve(record.app()) as url:
        record.base = url
        yield record


@pytest.fixture(scope="module")
def smart(settings: Settings, ehr: Ehr) -> Iterator[Smart]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    configured = Settings(
        **{
            **settings.model_dump(),
            "public_base_url": url,
            "smart_issuers": {ehr.fhir: {"client_id": CLIENT_ID}},
            "frame_ancestors": ("'self'", ehr.base),
            "session_secret": "a-test-secret-not-used-anywhere-else",
        }
    )
    app = create_app(configured)
    app.state.storage.upgrade()  # launches and chart sessions live in the database, as `make run` prepares it
    # Registered as docs/smart.md says: the redirect URL and every scope the app asks for, a public client.
    ehr.register(f"{url}/smart/callback", ALL_SCOPES)
    with serving_on(sock, app):
        yield Smart(url, app)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1280, "height": 900})
    opened.route("**/*", only_loopback)
    yield opened
    opened.close()


@pytest.fixture
def other_context(browser: Browser) -> Iterator[BrowserContext]:
    """A second browser profile: its own cookies, as another clinician's machine would have."""
    opened = browser.new_context(viewport={"width": 1280, "height": 900})
    opened.route("**/*", only_loopback)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    require(AXE, "axe-core")
    return AXE.read_text(encoding="utf-8")


def serious_axe_violations(page: Page, axe_source: str) -> list[str]:
    """axe-core's serious and critical findings on the page (injected over DevTools: the page's CSP stays)."""
    page.evaluate(axe_source)
    found: list[str] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id)"""
    )
    return found
