"""Signed cookies for the doors an EHR frames: a random value the server can trust it issued, set so that it survives
in the EHR's iframe (`Secure`, `HttpOnly`, `SameSite=None`, `Partitioned`), and the secret that signs them."""

from __future__ import annotations

from itsdangerous import BadSignature, Signer
from starlette.requests import Request
from starlette.responses import Response

from plugin.web.sealing import Sealer


def partitioned(response: Response) -> None:
    """Mark the cookie just set Partitioned (CHIPS): kept under the EHR's site, so browsers that block third-party
    cookies still keep it in the EHR's iframe. Python's http.cookies knows the attribute only from 3.14."""
    name, header = response.raw_headers[-1]
    response.raw_headers[-1] = (name, header + b"; Partitioned")


class SignedCookie:
    """A random id in a cookie, signed so a forged or altered one is simply not found."""

    def __init__(self, name: str, secret: str | list[bytes], salt: str) -> None:
        """`secret` is one secret, or several (itsdangerous signs with the last and accepts any)."""
        self.name = name
        self.signer = Signer(secret, salt=salt)

    def set(self, response: Response, value: str, max_age: int) -> None:
        response.set_cookie(
            self.name,
            self.signer.sign(value).decode("ascii"),
            max_age=max_age,
            path="/",
            secure=True,
            httponly=True,
            samesite="none",
        )
        partitioned(response)

    def clear(self, response: Response) -> None:
        response.delete_cookie(self.name, path="/", secure=True, httponly=True, samesite="none")
        partitioned(response)  # a partitioned cookie is only replaced by another partitioned one

    def read(self, request: Request) -> str | None:
        raw = request.cookies.get(self.name)
        if not raw:
            return None
        try:
            return self.signer.unsign(raw).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None


def session_secret(configured: str | None, sealer: Sealer) -> str | list[bytes]:
    """The configured secret; else secrets derived from the session keys, so replicas that share those keys accept
    each other's cookies (and rotate with them); else, without keys either, the sealer's random key of this process
    (announced by the sealer: sessions end at every restart)."""
    if configured:
        return configured
    return sealer.cookie_secrets()
