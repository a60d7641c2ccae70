"""Browser fixtures: the app under a real uvicorn on 127.0.0.1, and Debian's headless Chromium driven by Playwright.

Outside CI a missing Chromium or axe-core skips these tests (run `make browser-deps`); in CI (CI=true) it fails
them, so a bare machine cannot pass without having run them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Request, Route, sync_playwright

from plugin.app import create_app
from plugin.config import Settings

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
AXE = ROOT / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_SECONDS = 20.0


def require(path: Path, what: str) -> None:
    if path.exists():
        return
    message = f"{what} not found at {path}: run `make browser-deps`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """A real uvicorn serving `app` on a free loopback port, in a thread of the test process."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, ws="none"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(SERVER_START_SECONDS)
        sock.close()


@pytest.fixture(scope="session")
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


class ChartPage(BaseHTTPRequestHandler):
    """A stand-in EHR chart: GET /chart?src=<url> is a page that frames <url>."""

    def do_GET(self) -> None:
        src = parse_qs(urlsplit(self.path).query).get("src", [""])[0]
        body = f'<!doctype html><title>EHR chart</title><iframe title="IVIG widget" src="{escape(src)}"></iframe>'
        data = body.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test output is for the tests."""


@pytest.fixture(scope="session")
def ehr_origin() -> Iterator[str]:
    """Another origin on this machine (its own loopback port), as an EHR framing the widget would be."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChartPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(SERVER_START_SECONDS)


@pytest.fixture(scope="session")
def framable_base_url(settings: Settings, ehr_origin: str) -> Iterator[str]:
    """The app configured with that EHR origin on its frame-ancestors allow-list."""
    allowed = Settings(**{**settings.model_dump(), "frame_ancestors": ("'self'", ehr_origin)})
    with serving(create_app(allowed)) as url:
        yield url


# Module scope: the sync API keeps an event loop in the test thread while it is open, which would stop later
# tests from starting their own loops (asyncio.run), so the browser closes when its test module ends.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    require(CHROMIUM, "Debian's chromium")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    require(AXE, "axe-core")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def only_loopback(route: Route, request: Request) -> None:
    """Nothing leaves the machine: the widget must not load third-party assets, and the test must not either."""
    if request.url.startswith("http://127.0.0.1:"):
        route.continue_()
    else:
        route.abort()


def open_context(browser: Browser, width: int, *, javascript: bool = True, height: int = 900) -> BrowserContext:
    context = browser.new_context(viewport={"width": width, "height": height}, java_script_enabled=javascript)
    context.route("**/*", only_loopback)
    return context


@pytest.fixture
def page_factory(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Opens pages in fresh contexts and records what they asked for and complained about."""
    contexts: list[BrowserContext] = []

    def open_page(width: int = 1280, *, javascript: bool = True, height: int = 900) -> Page:
        context = open_context(browser, width, javascript=javascript, height=height)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
