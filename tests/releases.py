"""Evidence releases for the reload tests: copies of the bundled store under their own label, one with a context
record's text changed (so its content hash differs and every answer shows which release it came from), and
broken ones; and the symlink a curator swaps to point the service at another release."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The FDA thrombosis warning stands beside every answer, whatever its status, and in GET /v1/evidence.
MARKED_RECORD = "fda_thrombosis_boxed_warning"
MARKED_FILE = Path("context") / "fda-thrombosis-boxed-warning.toml"
MARKER = "Checked again for this release."


def release(folder: Path, label: str, *, marked: bool = False) -> Path:
    """A copy of the bundled evidence as release `label` in `folder/label`; `marked`: the FDA record's provenance
    (`where`) ends with MARKER."""
    target = folder / label
    shutil.copytree(ROOT / "evidence", target)
    manifest = target / "release.toml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(re.sub(r'^label = ".*"$', f'label = "{label}"', text, flags=re.M), encoding="utf-8")
    if marked:
        record = target / MARKED_FILE
        text = record.read_text(encoding="utf-8")
        changed = re.sub(r'^(where = ".*)"$', rf'\1 {MARKER}"', text, count=1, flags=re.M)
        assert changed != text
        record.write_text(changed, encoding="utf-8")
    return target


def broken(folder: Path, how: str) -> Path:
    """A release that must be refused: `unknown_key` (a key no context record has) or `toml_syntax`."""
    target = release(folder, f"broken-{how}")
    record = target / MARKED_FILE
    text = record.read_text(encoding="utf-8")
    extra = 'colour = "red"\n' if how == "unknown_key" else "where = [unclosed\n"
    record.write_text(text + extra, encoding="utf-8")
    return target


def point(link: Path, release_dir: Path) -> None:
    """Point `link` at `release_dir` in one step (a new symlink renamed over the old), as a curator swaps it."""
    staged = link.with_name(f".{link.name}.new")
    staged.unlink(missing_ok=True)
    staged.symlink_to(release_dir, target_is_directory=True)
    os.replace(staged, link)


def marked(context: list[dict[str, Any]]) -> bool:
    """Whether the FDA record in these context records carries MARKER."""
    (record,) = [r for r in context if r["id"] == MARKED_RECORD]
    return bool(record["where"].endswith(MARKER))
