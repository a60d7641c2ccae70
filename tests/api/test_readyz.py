"""/readyz reports the database; /healthz stays liveness and answers without one."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from plugin.app import create_app
from plugin.config import Settings
from plugin.storage.store import Storage

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
