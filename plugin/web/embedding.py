"""Security headers for what an EHR frames: the widget page, its forest-plot SVG and its own static files.

Framing is allowed by CSP `frame-ancestors` from a configured allow-list (default: same origin only), never
by X-Frame-Options, which would block the EHR (CSP Level 2 `frame-ancestors` obsoletes it). Scripts run only
from the plugin's own files (no inline script), and the page's patient data stays out of referrers and caches.
"""

from __future__ import annotations

from typing import Literal

Document = Literal["page", "svg", "asset"]

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'"
)
# An SVG opened on its own runs nothing and loads nothing.
SVG_POLICY = "default-src 'none'"


def security_headers(frame_ancestors: tuple[str, ...], document: Document) -> dict[str, str]:
    """Headers for one response; the page is also kept out of caches, since its URL and body carry patient data."""
    policy = SVG_POLICY if document == "svg" else PAGE_POLICY
    headers = {
        "Content-Security-Policy": f"{policy}; frame-ancestors {' '.join(frame_ancestors)}",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    headers["Cache-Control"] = "no-cache" if document == "asset" else "no-store"
    return headers
