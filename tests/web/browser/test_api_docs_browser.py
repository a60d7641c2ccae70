"""/, /docs and /redoc in Chromium with every request outside loopback blocked: the pages work with no internet."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import ConsoleMessage, Page, Request

LOAD_MS = 30_000  # ReDoc parses the whole document before it draws; under coverage on two cores it takes seconds


def watched(page: Page) -> tuple[list[str], list[str]]:
    """Requests that left loopback (each is aborted by the context's route) and console errors (CSP included)."""
    outside: list[str] = []
    errors: list[str] = []

    def on_request(request: Request) -> None:
        if not request.url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            outside.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    return outside, errors


def operations(base_url: str) -> list[tuple[str, str]]:
    document = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


def test_swagger_ui_renders_every_operation_from_local_assets(base_url: str, page_factory: Callable[..., Page]) -> None:
    page = page_factory()
    outside, errors = watched(page)
    page.goto(f"{base_url}/docs")
    page.wait_for_selector(".opblock", timeout=LOAD_MS)
    shown = [
        (block.locator(".opblock-summary-method").inner_text(), block.locator(".opblock-summary-path").inner_text())
        for block in page.locator(".opblock").all()
    ]
    assert sorted((method, path.replace("\u200b", "")) for method, path in shown) == sorted(operations(base_url))
    assert page.locator(".info .title").inner_text().startswith("ivig-cds")
    assert (outside, errors) == ([], [])


def test_redoc_renders_the_operations_from_local_assets(base_url: str, page_factory: Callable[..., Page]) -> None:
    page = page_factory()
    outside, errors = watched(page)
    page.goto(f"{base_url}/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", timeout=LOAD_MS)
    sections = page.locator("[data-section-id^='operation/']").count()
    assert sections == len(operations(base_url))
    assert page.locator("h1").first.inner_text().startswith("ivig-cds")
    assert (outside, errors) == ([], [])


def test_the_home_page_links_the_docs_and_they_open(base_url: str, page_factory: Callable[..., Page]) -> None:
    page = page_factory()
    outside, errors = watched(page)
    page.goto(f"{base_url}/")
    assert page.locator("#version").inner_text() == httpx.get(f"{base_url}/openapi.json").json()["info"]["version"]
    page.get_by_role("link", name="/docs").click()
    page.wait_for_selector(".opblock", timeout=LOAD_MS)
    assert page.url == f"{base_url}/docs"
    assert (outside, errors) == ([], [])
