"""Shared fixtures: the real evidence store, tables and templates are loaded once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from plugin.app import create_app
from plugin.config import Settings
from plugin.core.answer.plugin import Plugin, load_plugin

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    database = tmp_path_factory.mktemp("database") / "ivig-cds.sqlite3"  # never the checkout's var/
    return Settings(
        evidence_dir=ROOT / "evidence", templates_dir=ROOT / "templates", database_url=f"sqlite:///{database}"
    )


@pytest.fixture(scope="session")
def plugin(settings: Settings) -> Plugin:
    return load_plugin(settings)


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


# Figures a test measures and reports (reading grades, counts): printed at the end of the run.
FIGURES: list[str] = []


@pytest.fixture(scope="session")
def report() -> list[str]:
    return FIGURES


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a parallel worker, hand the figures it measured to the process that prints the summary."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["figures"] = list(FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """A parallel worker finished: keep the figures it measured for the summary (a hook of the parallel runner)."""
    FIGURES.extend(getattr(node, "workeroutput", {}).get("figures", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
