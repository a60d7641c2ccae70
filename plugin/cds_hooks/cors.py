"""CORS for /cds-services only: browser CDS clients such as the public sandbox call the service from the page.

Every response there carries the CORS headers, including a 500: the catch-all sits inside the CORS layer, so even
an unexpected failure reaches the browser as a readable OperationOutcome instead of an opaque network error.
Browsers that guard private networks ask first when a public page calls a loopback or LAN address
(`Access-Control-Request-Private-Network: true`); allowed origins get `Access-Control-Allow-Private-Network: true`,
which the sandbox walk-through in docs/cds-hooks.md (sandbox -> http://127.0.0.1:8000) needs. A refused preflight
is a 400 with an OperationOutcome and no allow headers. Other doors keep their own policy.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plugin.cds_hooks.models import CDS_PREFIX
from plugin.cds_hooks.outcome import http_outcome, outcome

log = logging.getLogger(__name__)


class CatchAll:
    """The last resort inside the CORS layer: an unexpected error becomes a 500 OperationOutcome, never text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception("CDS Hooks request failed unexpectedly")
            if started:
                raise
            await JSONResponse(http_outcome(500), status_code=500)(scope, receive, send)


class CdsCors:
    """CORS, private-network preflight and the catch-all for paths under /cds-services; other paths pass through."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            CatchAll(app),
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            allow_private_network=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inside = scope["type"] == "http" and (scope["path"] + "/").startswith(f"{CDS_PREFIX}/")
        if not inside:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers:
            await self.preflight(scope, receive, send, headers)
            return
        await self.cors(scope, receive, send)

    async def preflight(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        answer = self.cors.preflight_response(request_headers=headers)
        if answer.status_code == 200:
            await answer(scope, receive, send)
            return
        # Starlette explains a refusal in plain text and may still allow private-network access; do neither.
        dropped = ("access-control-", "content-length", "content-type")
        refused = {k: v for k, v in answer.headers.items() if not k.startswith(dropped)}
        body = outcome({"severity": "error", "code": "security", "diagnostics": "cds.cors_refused"})
        await JSONResponse(body, status_code=answer.status_code, headers=refused)(scope, receive, send)
