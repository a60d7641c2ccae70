"""The installed wheel finds evidence/ and templates/ on its own, away from the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from this checkout (no network: the build backend comes from the dev extras)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("ivig_cds-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def run_from_wheel(site: Path, cwd: Path, code: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVIG_CDS_")}
    env["PYTHONPATH"] = str(site)  # ahead of the editable install, so `plugin` comes from the wheel
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout


def test_the_wheel_carries_the_evidence_store_and_templates(unpacked_wheel: Path) -> None:
    data = unpacked_wheel / "plugin" / "_data"
    assert (data / "evidence" / "analyses" / "habets-2022-ivig-rpl.toml").is_file()
    assert {p.name for p in (data / "evidence" / "rules").glob("*.toml")} == {
        p.name for p in (ROOT / "evidence" / "rules").glob("*.toml")
    }
    assert (data / "templates" / "partials" / "warning.md.j2").is_file()


def test_an_installed_copy_answers_from_its_own_data_outside_the_checkout(unpacked_wheel: Path, tmp_path: Path) -> None:
    code = """
import json, plugin
from plugin.cli import main
from plugin.config import Settings
settings = Settings()
print(json.dumps({"module": plugin.__file__, "evidence": str(settings.evidence_dir),
                  "templates": str(settings.templates_dir)}))
main(["ask", "--prior-pregnancy-losses", "3", "--nk-cell-percent", "18", "--format", "json"])
"""
    first, _, rest = run_from_wheel(unpacked_wheel, tmp_path, code).partition("\n")
    where = json.loads(first)
    for key in ("module", "evidence", "templates"):
        assert where[key].startswith(str(unpacked_wheel)), key
    answer = json.loads(rest)
    assert answer["status"] == "matched"
    assert answer["estimates"][0]["id"] == "habets-2022-ivig-rpl#nk-above-12"
    assert "non-randomized" in answer["rendered"]["markdown"]
