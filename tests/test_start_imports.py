"""A start imports what its first answer needs, not what a door needs only for its first request of a kind: authlib
for the first SMART launch, FHIR R5's models for the first FHIR export (each a tenth of a second or less)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LATER = ("authlib", "fhir.resources.bundle")


def test_the_app_answers_before_importing_authlib_or_fhir_r5_and_the_export_imports_r5(tmp_path: Path) -> None:
    script = "\n".join(
        [
            "import sys",
            "from fastapi.testclient import TestClient",
            "from plugin.app import create_app",
            f"later = {LATER!r}",
            "with TestClient(create_app()) as client:",
            "    answered = client.post('/v1/answer', json={'prior_pregnancy_losses': 3}).status_code",
            "    print(answered, [name for name in later if name in sys.modules])",
            "    exported = client.get('/v1/evidence/habets-2022-ivig-rpl/fhir').status_code",
            "    print(exported, [name for name in later if name in sys.modules])",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "IVIG_CDS_DATA_DIR": str(tmp_path)},
        check=True,
        timeout=120,
    )
    assert result.stdout.splitlines() == ["200 []", "200 ['fhir.resources.bundle']"]


def test_the_oauth_module_is_the_only_one_that_imports_authlib() -> None:
    importing = sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "plugin").rglob("*.py")
        if "import authlib" in path.read_text(encoding="utf-8") or "from authlib" in path.read_text(encoding="utf-8")
    )
    assert importing == ["plugin/smart/oauth.py"]
