"""GET / links every door with the version; /docs and /redoc are pages of this service, under a strict CSP."""

from __future__ import annotations

import base64
import hashlib
import html
import re

from fastapi.testclient import TestClient

from plugin import __version__

AID = "/decision-aid?prior_pregnancy_losses=3&nk_cell_percent=18&autoimmune_conditions=antiphospholipid_syndrome"
DOORS = [
    "/widget",
    AID,
    "/docs",
    "/redoc",
    "/cds-services",
    "/v1/tools?format=openai",
    "/healthz",
    "/readyz",
    "/metrics",
]


def test_home_links_every_door_and_describes_mcp(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert [html.unescape(href) for href in re.findall(r'<a href="([^"]+)">', response.text)] == DOORS
    assert "<dt><code>/mcp</code></dt>" in response.text
    assert f'<span id="version">{__version__}</span>' in response.text
    evidence_version = client.get("/healthz").json()["evidence_version"]
    assert f'<code id="evidence-version">{evidence_version}</code>' in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_home_is_in_the_openapi_document_as_html(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/"]["get"]
    assert "text/html" in operation["responses"]["200"]["content"]


def test_every_door_the_home_page_links_answers(client: TestClient) -> None:
    assert {door: client.get(door).status_code for door in DOORS if door != "/readyz"} == dict.fromkeys(
        [door for door in DOORS if door != "/readyz"], 200
    )


def test_docs_pages_load_no_cdn_and_allow_only_their_own_inline_script(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        assert "cdn." not in page.text and "https://" not in page.text
        policy = page.headers["content-security-policy"]
        inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
        hashes = ["'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in inline]
        assert policy.startswith(" ".join(["script-src 'self'", *hashes]) + ";")
        for source in re.findall(r'(?:src|href)="([^"]+)"', page.text):
            assert source.startswith("/"), source
            assert client.get(source).status_code == 200


def test_the_redoc_bundle_names_no_remote_host(client: TestClient) -> None:
    bundle = client.get("/docs/assets/redoc.standalone.js")
    assert bundle.headers["content-type"] == "text/javascript; charset=utf-8"
    assert b"cdn.redoc.ly" not in bundle.content


def test_an_unknown_docs_asset_is_a_404_in_the_json_shape(client: TestClient) -> None:
    response = client.get("/docs/assets/../../etc/passwd")
    assert response.status_code == 404
    assert client.get("/docs/assets/nope.js").json()["error"]["code"] == "request.not_found"
