"""URLs the service will send a token to, in one normalized form, so that look-alikes never compare equal.

A base URL is scheme, host, port and path: scheme and host lower-case, the port a number (a default port
compares equal to none written), the path without a trailing slash. Anything that could make two spellings reach
different places, or the same place under another name, is refused rather than normalized: userinfo
(`user:pw@`, which also swaps the bearer for Basic auth), a query or fragment (even an empty `?` or `#`), dot
segments and encoded slashes or dots, whitespace, control characters and non-ASCII, a port out of range, a
malformed IPv6 literal. A host is loopback only as a literal loopback address
(`127.0.0.1`, `::1`): `localhost` is a name that resolves as the resolver likes, and `0x7f000001` is an
inet_aton spelling that no configuration lists.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
HIDDEN_IN_PATH = ("%2e", "%2f", "%5c")


@dataclass(frozen=True)
class BaseUrl:
    scheme: str
    host: str
    port: int
    path: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def contains(self, url: str) -> bool:
        """A URL on this server under this base (a paging link may add a query; nothing else may differ)."""
        found = split(url, query_allowed=True)
        if found is None:
            return False
        inside = found.path == self.path or found.path.startswith(f"{self.path}/")
        return (found.scheme, found.host, found.port) == (self.scheme, self.host, self.port) and inside


def split(raw: str, *, query_allowed: bool = False) -> BaseUrl | None:
    """The normalized base of an http(s) URL, or None when it is anything but plain (see the module docstring)."""
    if not raw.isascii() or any(c <= " " or c == "\x7f" or c == "\\" for c in raw) or "#" in raw:
        return None
    if "?" in raw and not query_allowed:
        return None
    try:
        parts: SplitResult = urlsplit(raw)
        port = parts.port
    except ValueError:  # a malformed IPv6 literal, a port out of range or not a number
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or "@" in parts.netloc or not parts.hostname:
        return None
    path = parts.path.rstrip("/")
    segments = path.split("/")
    if "." in segments or ".." in segments or any(hidden in path.lower() for hidden in HIDDEN_IN_PATH):
        return None
    return BaseUrl(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme], path)


def for_log(raw: str) -> str:
    """A URL fit for a log line: scheme, host, port and path only (never the userinfo or the query)."""
    try:
        parts = urlsplit(raw)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    shown = f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
    return "".join(c if " " <= c < "\x7f" else f"\\x{ord(c):02x}" for c in shown)  # no control bytes in logs
