"""POST /admin/evidence/reload and /readyz: a new evidence release switched to without a restart, proven first, a
broken one refused with the release before still serving, the same one left as it is; only with the token."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from plugin.api import routes
from plugin.app import create_app
from plugin.storage import releases
from plugin.storage.store import Storage
from tests.cds_hooks.support import SERVICE_URL, cds_settings, chart, hook_request
from tests.releases import MARKED_FILE, broken, marked, point, release

TOKEN = "reload-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
PROFILE = {"prior_pregnancy_losses": 3, "nk_cell_percent": 14}


@dataclass
class Service:
    client: TestClient
    folder: Path
    link: Path  # what IVIG_CDS_EVIDENCE_DIR names: a symlink to one release
    old: Path  # release 2026.12, a copy of the bundled store
    new: Path  # release 2026.12.1, one record's provenance changed
    database_url: str

    def reload(self) -> Any:
        return self.client.post("/admin/evidence/reload", headers=BEARER)

    def version(self) -> str:
        return str(self.client.get("/healthz").json()["evidence_version"])


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    old, new = release(tmp_path, "2026.12"), release(tmp_path, "2026.12.1", marked=True)
    link = tmp_path / "current"
    point(link, old)
    settings = cds_settings(tmp_path, evidence_dir=link, admin_token=TOKEN, evidence_poll_seconds=0)
    with TestClient(create_app(settings)) as client:
        yield Service(client, tmp_path, link, old, new, settings.database_url)


def reloads(client: TestClient) -> dict[tuple[str, str], float]:
    """ivig_cds_evidence_reloads_total by (trigger, outcome)."""
    return {
        (sample.labels["trigger"], sample.labels["outcome"]): sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
        if sample.name == "ivig_cds_evidence_reloads_total"
    }


def test_without_the_token_setting_the_endpoint_does_not_exist(client: TestClient) -> None:
    response = client.post("/admin/evidence/reload", headers=BEARER)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "request.not_found")
    assert "/admin/evidence/reload" not in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789abcdef"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer "},
    ],
    ids=["none", "wrong", "longer", "not-bearer", "empty"],
)
def test_without_the_right_bearer_token_the_answer_is_401_and_nothing_reloads(
    service: Service, headers: dict[str, str]
) -> None:
    before = service.version()
    point(service.link, service.new)
    response = service.client.post("/admin/evidence/reload", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "error": {
            "code": "admin.unauthorized",
            "message": "a valid bearer token is required",
            "details": {"fields": []},
        }
    }
    assert TOKEN not in response.text and "wrong-token" not in response.text
    assert service.version() == before
    assert service.client.get("/readyz").json()["evidence_reload"] is None


def test_a_reload_switches_to_the_release_the_symlink_names_now(service: Service) -> None:
    first = service.client.get("/readyz").json()
    old_version = first["evidence_version"]
    assert (first["evidence_label"], first["evidence_reload"]) == ("2026.12", None)
    assert first["switched_at"].endswith("Z")

    point(service.link, service.new)
    response = service.reload()

    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "switched"
    assert body["evidence_label"] == "2026.12.1"
    assert body["evidence_version"] != old_version
    assert body["previous"] == {"evidence_label": "2026.12", "evidence_version": old_version}
    assert body["message"] == f"switched to release 2026.12.1 ({body['evidence_version']})"
    answer = service.client.post("/v1/answer", json=PROFILE).json()
    assert (answer["evidence_version"], answer["evidence_label"]) == (body["evidence_version"], "2026.12.1")
    assert marked(answer["context"])
    assert f"Evidence version `{body['evidence_version']}` (release 2026.12.1;" in answer["rendered"]["markdown"]
    evidence = service.client.get("/v1/evidence").json()
    assert evidence["evidence_version"] == body["evidence_version"] and marked(evidence["context"])
    widget = service.client.get("/widget", params=PROFILE).text
    assert f'<code id="evidence-version">{body["evidence_version"]}</code> (release 2026.12.1;' in widget
    card = service.client.post(SERVICE_URL, json=hook_request(chart(nkCells="nk-percent.json"))).json()["cards"][0]
    assert f"Evidence 2026.12.1 (`{body['evidence_version']}`)" in card["detail"]

    ready = service.client.get("/readyz").json()
    assert (ready["evidence_version"], ready["evidence_label"]) == (body["evidence_version"], "2026.12.1")
    assert ready["switched_at"] == body["switched_at"] >= first["switched_at"]
    assert ready["evidence_reload"] == {
        "status": "switched",
        "trigger": "admin",
        "at": body["switched_at"],
        "evidence_label": "2026.12.1",
        "evidence_version": body["evidence_version"],
        "previous": {"evidence_label": "2026.12", "evidence_version": old_version},
    }
    assert reloads(service.client) == {("admin", "switched"): 1.0}
    info = [
        sample.labels
        for family in text_string_to_metric_families(service.client.get("/metrics").text)
        for sample in family.samples
        if sample.name == "ivig_cds_evidence_info"
    ]
    assert info == [{"evidence_version": body["evidence_version"], "evidence_label": "2026.12.1", "version": "0.1.0"}]


def test_the_switch_is_recorded_in_the_shared_database(service: Service) -> None:
    point(service.link, service.new)
    switched = service.reload().json()
    storage = Storage(service.database_url, timeout=5.0, retention_days=1)
    try:
        newest = storage.transaction(releases.newest, write=False)
    finally:
        storage.close()
    assert newest is not None
    assert (newest.label, newest.version) == ("2026.12.1", switched["evidence_version"])


def test_reloading_the_release_already_served_changes_nothing_and_says_so(service: Service) -> None:
    version = service.version()
    switched_at = service.client.get("/readyz").json()["switched_at"]
    response = service.reload()
    assert response.status_code == 200
    assert response.json() == {
        "outcome": "unchanged",
        "message": f"release 2026.12 ({version}) is already served: nothing to switch",
        "evidence_label": "2026.12",
        "evidence_version": version,
        "switched_at": switched_at,
    }
    ready = service.client.get("/readyz").json()
    assert (ready["switched_at"], ready["evidence_reload"]["status"]) == (switched_at, "unchanged")
    assert reloads(service.client) == {("admin", "unchanged"): 1.0}


@pytest.mark.parametrize(
    ("how", "code", "field"),
    [
        ("unknown_key", "context.schema", "colour"),
        ("toml_syntax", "evidence.toml_syntax", None),
        ("tampered", "release.file_changed", "files"),
    ],
)
def test_a_broken_release_is_refused_and_the_one_before_keeps_serving(
    service: Service, caplog: pytest.LogCaptureFixture, how: str, code: str, field: str | None
) -> None:
    version = service.version()
    point(service.link, broken(service.folder, how))
    response = service.reload()

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"]["file"].endswith(str(MARKED_FILE))
    assert error["details"].get("field") == field
    assert error["details"]["serving"] == {"evidence_label": "2026.12", "evidence_version": version}
    assert service.version() == version
    answer = service.client.post("/v1/answer", json=PROFILE).json()
    assert (answer["evidence_version"], answer["evidence_label"], marked(answer["context"])) == (
        version,
        "2026.12",
        False,
    )
    reload = service.client.get("/readyz").json()["evidence_reload"]
    assert (reload["status"], reload["trigger"], reload["error"]["code"]) == ("failed", "admin", code)
    assert reload["error"]["file"] == error["details"]["file"]
    assert [r.message for r in caplog.records if r.levelname == "ERROR" and code in r.getMessage()] != []
    assert reloads(service.client) == {("admin", "failed"): 1.0}

    point(service.link, service.new)  # mended: the next reload switches
    assert service.reload().json()["outcome"] == "switched"
    assert service.client.get("/readyz").json()["evidence_reload"]["status"] == "switched"


def test_a_request_in_flight_finishes_on_the_release_it_started_with(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /v1/evidence takes the plugin, then is held (inside the route, before it has read the context records)
    while the service switches; it answers from the release it started with, and the next request from the new."""
    entered, release_it = threading.Event(), threading.Event()
    held = threading.local()

    def study_data_held(analysis: Any) -> Any:
        if not getattr(held, "done", False) and threading.current_thread().name != "MainThread":
            held.done = True
            entered.set()
            assert release_it.wait(30)
        return study_data_of(analysis)

    study_data_of = routes.study_data_of
    monkeypatch.setattr(routes, "study_data_of", study_data_held)
    old_version = service.version()
    answers: list[Any] = []
    reader = threading.Thread(target=lambda: answers.append(service.client.get("/v1/evidence").json()))
    reader.start()
    assert entered.wait(30)
    point(service.link, service.new)
    switched = service.reload().json()
    assert switched["outcome"] == "switched"
    assert service.client.post("/v1/answer", json=PROFILE).json()["evidence_version"] == switched["evidence_version"]
    release_it.set()
    reader.join(30)

    (held_answer,) = answers
    assert (held_answer["evidence_version"], marked(held_answer["context"])) == (old_version, False)
    after = service.client.get("/v1/evidence").json()
    assert (after["evidence_version"], marked(after["context"])) == (switched["evidence_version"], True)


def test_a_replica_whose_directory_lacks_the_newer_release_waits_and_one_that_has_it_converges(
    tmp_path: Path,
) -> None:
    """Two apps on one database: one switches; the other finds the newer label at its next look and switches too
    once its own evidence directory holds that release, reporting `waiting` until then."""
    old, new = release(tmp_path, "2026.12"), release(tmp_path, "2026.12.1", marked=True)
    first, second = tmp_path / "first", tmp_path / "second"
    point(first, old)
    point(second, old)
    database = {"database_url": f"sqlite:///{tmp_path / 'shared.sqlite3'}"}
    a = cds_settings(tmp_path, evidence_dir=first, admin_token=TOKEN, evidence_poll_seconds=0, **database)
    b = cds_settings(tmp_path, evidence_dir=second, evidence_poll_seconds=0.2, **database)
    with TestClient(create_app(a)) as one, TestClient(create_app(b)) as other:
        assert other.get("/readyz").json()["evidence_poll_seconds"] == 0.2
        point(first, new)
        switched = one.post("/admin/evidence/reload", headers=BEARER).json()
        waiting = wait_for(other, lambda ready: (ready["evidence_reload"] or {}).get("status") == "waiting")
        assert waiting["evidence_label"] == "2026.12"
        assert waiting["evidence_reload"] == {
            "status": "waiting",
            "trigger": "poll",
            "at": waiting["evidence_reload"]["at"],
            "evidence_label": "2026.12.1",
            "evidence_version": switched["evidence_version"],
            "reason": "the evidence directory holds release 2026.12, not 2026.12.1",
        }
        point(second, new)
        converged = wait_for(other, lambda ready: ready["evidence_label"] == "2026.12.1")
        assert converged["evidence_version"] == switched["evidence_version"]
        assert converged["evidence_reload"]["trigger"] == "poll"
        assert converged["evidence_converges_within_seconds"] >= 0.2
        assert reloads(other) == {("poll", "waiting"): 1.0, ("poll", "switched"): 1.0}


def wait_for(client: TestClient, condition: Any, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        ready: dict[str, Any] = client.get("/readyz").json()
        if condition(ready) or time.monotonic() > deadline:
            assert condition(ready), ready
            return ready
        time.sleep(0.05)


def test_a_signal_reloads_and_so_it_does_again_after_the_app_is_started_a_second_time(tmp_path: Path) -> None:
    """What SIGHUP calls on the serving loop (`ask`), in an app started twice, as a test may: each start has its
    own loop, and the reload works in both."""
    old, new = release(tmp_path, "2026.12"), release(tmp_path, "2026.12.1", marked=True)
    link = tmp_path / "current"
    point(link, old)
    app = create_app(cds_settings(tmp_path, evidence_dir=link, evidence_poll_seconds=0))
    for target, label in ((new, "2026.12.1"), (old, "2026.12")):
        with TestClient(app) as client:
            point(link, target)
            assert client.portal is not None
            client.portal.call(app.state.evidence.ask)
            ready = wait_for(client, lambda ready, label=label: ready["evidence_label"] == label)
            assert (ready["evidence_reload"]["status"], ready["evidence_reload"]["trigger"]) == ("switched", "signal")
