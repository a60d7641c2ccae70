"""Helpers for the CDS Hooks tests: FHIR fixtures, request builders, and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import copy
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from plugin.config import Settings
from plugin.storage.store import Storage

ROOT = Path(__file__).resolve().parents[2]
FHIR_DATA = ROOT / "tests" / "data" / "fhir"
SERVICE_URL = "/cds-services/ivig-rpl-evidence"
ORDER_SELECT_URL = "/cds-services/ivig-rpl-evidence-order-select"


def load(name: str) -> dict[str, Any]:
    """A fixture from tests/data/fhir (a fresh copy: tests may change it)."""
    data: dict[str, Any] = json.loads((FHIR_DATA / name).read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def cds_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a CDS Hooks test, with an SQLite database in `tmp_path` upgraded as `ivig-cds db upgrade` does."""
    values: dict[str, Any] = {
        "evidence_dir": ROOT / "evidence",
        "templates_dir": ROOT / "templates",
        "public_base_url": "https://cds.example.org",
        "database_url": f"sqlite:///{tmp_path / 'ivig-cds.sqlite3'}",
        "allow_unauthenticated": True,
    }
    settings = Settings(**(values | overrides))
    storage = Storage(settings.database_url, timeout=settings.database_timeout, retention_days=1)
    storage.upgrade()
    storage.close()
    return settings


def ivig_order(prefetch: dict[str, Any] | None = None, **order: Any) -> dict[str, Any]:
    """The spec's order-select example with one more draft MedicationRequest (`order` fields), selected, and the
    prefetch given (the problem list by default)."""
    body = load("cds-request-spec-order-select.json")
    draft = {
        "resourceType": "MedicationRequest",
        "id": "ivig-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/1288992"},
        **order,
    }
    body["context"]["draftOrders"]["entry"].append({"resource": draft})
    body["context"]["selections"].append("MedicationRequest/ivig-1")
    body["prefetch"] = chart() if prefetch is None else prefetch
    return body


def ivig_order_request() -> dict[str, Any]:
    """An IVIG draft order selected, with the problem list prefetched."""
    return ivig_order(medicationCodeableConcept={"text": "IVIG 10% solution"})


def issue_card(client: Any, url: str = SERVICE_URL, headers: dict[str, str] | None = None) -> str:
    """Call the patient-view service (or, given its URL, order-select for IVIG) and return its one card's uuid."""
    body = ivig_order_request() if url == ORDER_SELECT_URL else hook_request(chart())
    response = client.post(url, json=body, headers=headers or {})
    assert response.status_code == 200, response.text
    (card,) = response.json()["cards"]
    uuid: str = card["uuid"]
    return uuid


def hook_request(prefetch: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A patient-view call with the given prefetch (left out when None) and any top-level fields replaced."""
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "1288992", "encounterId": "89284"},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body | fields


def chart(conditions: str | None = "conditions-snomed.json", **others: str | None) -> dict[str, Any]:
    """A prefetch object from fixture names: a key given None is sent as null."""
    names = {"conditions": conditions, **others}
    return {key: None if name is None else load(name) for key, name in names.items()}


def empty_values(value: Any, path: str = "$") -> list[str]:
    """Paths of every null, empty string, empty list or empty object (the CDS Hooks spec forbids them)."""
    if value is None or value in ("", [], {}):
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in empty_values(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in empty_values(item, f"{path}[{i}]")]
    return []


@contextmanager
def serve(app: ASGIApp, port: int = 0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (on `port`, or any free one) in a thread; yields its base URL.

    The socket is bound and listening before the thread starts, so requests queue instead of racing start-up.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
