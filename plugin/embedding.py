"""Security headers for what an EHR frames: the widget page, its forest-plot SVG and its own static files.

Framing is allowed by CSP `frame-ancestors` from a configured allow-list (default: same origin only), never
by X-Frame-Options, which would block the EHR (../shared/standards/interop.md section 5.2). Scripts run only
from the plugin's own files (no inline script), and the page's patient data stays out of referrers and caches.
"""

from __future__ import annotations

import re
from typing import Literal

# 'self', 'none' (alone) or an http(s) origin, optionally with a wildcard subdomain or port; nothing that could
# smuggle another directive (";", ",", quotes) into the header.
FRAME_SOURCE = re.compile(
    r"^(?:'self'|'none'|https?://(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]{1,5}|:\*)?)$"
)

Document = Literal["page", "svg", "asset"]

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'"
)
# An SVG opened on its own runs nothing and loads nothing.
SVG_POLICY = "default-src 'none'"


def check_frame_ancestors(sources: tuple[str, ...]) -> tuple[str, ...]:
    """Validate the allow-list at start-up, so a typo fails loudly instead of sending a broken header."""
    if not sources:
        raise ValueError("frame_ancestors must name at least one source; use 'none' to forbid framing")
    bad = [source for source in sources if not FRAME_SOURCE.match(source)]
    if bad:
        raise ValueError(
            f"frame_ancestors {bad} are not 'self', 'none' or an http(s) origin such as https://ehr.example.org"
        )
    if "'none'" in sources and len(sources) > 1:
        raise ValueError("frame_ancestors 'none' cannot be combined with other sources")
    return sources


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
