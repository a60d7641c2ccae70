"""The widget's browser fixtures (a real uvicorn, Debian's Chromium, nothing leaving loopback), reused here."""

from tests.widget.browser.conftest import base_url, browser, page_factory, playwright

__all__ = ["base_url", "browser", "page_factory", "playwright"]
