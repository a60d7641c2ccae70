"""/docs (Swagger UI) and /redoc from assets installed with the service, so both work with no internet.

The pages are FastAPI's own (its documented self-hosting); the JavaScript and CSS come from the fastapi-offline
package, a pinned runtime dependency that ships Swagger UI and ReDoc inside its wheel, so `pip install` brings
them and no build step or CDN is involved (ReDoc's one remote image, its logo, is pointed at the local favicon).
Each page gets a Content-Security-Policy: scripts only from this
service plus Swagger UI's one inline start-up script, allowed by its hash; styles may be inline, since both
viewers inject their own.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response

from plugin.web.errors import error_body

ASSETS_PATH = "/docs/assets"
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# ReDoc runs its search index in a worker made from a blob: URL.
BASE_POLICY = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


# The one remote URL in the bundles: ReDoc's sidebar logo, pointed at the local favicon instead.
REMOTE_LOGO = (b"https://cdn.redoc.ly/redoc/logo-mini.svg", f"{ASSETS_PATH}/favicon.png".encode())


def asset(name: str) -> bytes:
    data = resources.files("fastapi_offline").joinpath("static", name).read_bytes()
    return data.replace(*REMOTE_LOGO) if name == "redoc.standalone.js" else data


def policy(html: str) -> str:
    """The page's CSP: its inline scripts allowed by their SHA-256 and nothing else inline."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(html)
    ]
    sources = " ".join(["'self'", *hashes])
    return f"script-src {sources}; {BASE_POLICY}"


def page(response: HTMLResponse) -> HTMLResponse:
    html = bytes(response.body).decode()
    headers = {"Content-Security-Policy": policy(html), "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(html, headers=headers)


def install(app: FastAPI, title: str) -> None:
    """Serve /docs, /redoc and their assets; `app` must be built with docs_url=None and redoc_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"
    favicon = f"{ASSETS_PATH}/favicon.png"
    swagger = page(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title}: Swagger UI",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=favicon,
            oauth2_redirect_url=None,
        )
    )
    redoc = page(
        get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title}: ReDoc",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )
    )
    files = {name: asset(name) for name in ASSET_TYPES}  # read once: a missing asset stops the start

    async def swagger_ui() -> HTMLResponse:
        return swagger

    async def redoc_page() -> HTMLResponse:
        return redoc

    async def docs_asset(name: str) -> Response:
        if name not in files:
            return JSONResponse(error_body("request.not_found", "Not Found"), status_code=404)
        headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
        return Response(files[name], media_type=ASSET_TYPES[name], headers=headers)

    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{ASSETS_PATH}/{{name}}", docs_asset, methods=["GET"], include_in_schema=False)
