"""/readyz reports the database, and the session keys several SMART processes need; /healthz stays liveness and
answers without a database."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Protocol

import pytest
from fastapi.testclient import TestClient

from plugin.app import create_app
from plugin.config import Settings
from plugin.storage.store import Storage
from plugin.web.metrics import MULTIPROCESS_ENV
from tests.storage.conftest import postgres  # noqa: F401  # the session's PostgreSQL server
from tests.storage.postgres import Postgres

ROOT = Path(__file__).resolve().parents[2]


def app_on(url: str) -> TestClient:
    return TestClient(
        create_app(Settings(evidence_dir=ROOT / "evidence", templates_dir=ROOT / "templates", database_url=url))
    )


def test_readyz_is_200_once_the_schema_is_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivig-cds.sqlite3'}"
    Storage(url, timeout=5.0, retention_days=1).upgrade()
    response = app_on(url).get("/readyz")
    assert response.status_code == 200
    assert {key: response.json()[key] for key in ("status", "database")} == {"status": "ready", "database": "ok"}


def test_readyz_is_503_naming_an_out_of_date_schema_while_healthz_stays_200(tmp_path: Path) -> None:
    client = app_on(f"sqlite:///{tmp_path / 'never-upgraded.sqlite3'}")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert {key: response.json()[key] for key in ("status", "database")} == {
        "status": "not_ready",
        "database": "storage.schema_out_of_date",
    }
    assert response.json()["evidence_version"] == client.get("/healthz").json()["evidence_version"]
    assert client.get("/healthz").status_code == 200


def test_a_database_url_of_another_kind_stops_the_app_from_being_built(tmp_path: Path) -> None:
    try:
        app_on("mysql://db.example.org/ivig")
    except ValueError as exc:
        assert "sqlite:///PATH or postgresql://" in str(exc)
    else:
        raise AssertionError("a MySQL URL was accepted")


SMART_ISSUERS = {"https://ehr.example.org/fhir": {"client_id": "ivig-cds"}}
KEY = base64.b64encode(bytes(range(32))).decode("ascii")


class Reply(Protocol):
    status_code: int

    def json(self) -> Any: ...


def health(response: Reply) -> tuple[int, dict[str, str]]:
    """The status code and what /readyz says of the process (besides the evidence release it reports too)."""
    said = response.json()
    return response.status_code, {key: said[key] for key in ("status", "database", "sessions") if key in said}


def smart_app(url: str, **settings: Any) -> TestClient:
    configured = Settings(
        evidence_dir=ROOT / "evidence",
        templates_dir=ROOT / "templates",
        database_url=url,
        smart_issuers=SMART_ISSUERS,
        **settings,
    )
    return TestClient(create_app(configured))


def test_one_process_on_sqlite_may_seal_sessions_with_a_random_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivig-cds.sqlite3'}"
    Storage(url, timeout=5.0, retention_days=1).upgrade()
    response = smart_app(url).get("/readyz")
    assert health(response) == (200, {"status": "ready", "database": "ok"})


def test_several_workers_without_session_keys_are_not_ready_and_say_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ivig-cds.sqlite3'}"
    Storage(url, timeout=5.0, retention_days=1).upgrade()
    monkeypatch.setenv(MULTIPROCESS_ENV, str(tmp_path))  # what `serve --workers N` sets for its workers
    response = smart_app(url).get("/readyz")
    assert health(response) == (
        503,
        {"status": "not_ready", "database": "ok", "sessions": "smart.session_key_missing"},
    )
    keyed = smart_app(url, session_keys=[KEY]).get("/readyz")
    assert health(keyed) == (200, {"status": "ready", "database": "ok"})


def test_replicas_on_postgresql_without_session_keys_are_not_ready_and_say_why(
    postgres: Postgres,  # noqa: F811
) -> None:
    url = postgres.new_database()
    storage = Storage(url, timeout=5.0, retention_days=1)
    storage.upgrade()
    storage.close()
    with smart_app(url) as client:
        response = client.get("/readyz")
    assert health(response) == (
        503,
        {"status": "not_ready", "database": "ok", "sessions": "smart.session_key_missing"},
    )
    with smart_app(url, session_keys=[KEY]) as client:
        keyed = client.get("/readyz")
    assert health(keyed) == (200, {"status": "ready", "database": "ok"})
