"""Copies of the evidence store that tests edit, released again so that a test reaches the check it is about; and,
for the reload tests, releases under their own label, one with a context record's text changed (so its content hash
differs and every answer shows which release it came from), broken ones, and the symlink a curator swaps to point
the service at another release.

A copy edited after its release is refused as `release.file_changed` before any later check runs; a curator
releases an edit with `ivig-cds evidence release` (whose own checks are tested in tests/curation). Here the
manifest is rewritten for the files as they now are, keeping its dates (and its label unless a new one is given).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from plugin.core.evidence.release import MANIFEST, content_hash, file_digests, manifest_text
from plugin.core.evidence.store import load_release

ROOT = Path(__file__).resolve().parent.parent
# The FDA thrombosis warning stands beside every answer, whatever its status, and in GET /v1/evidence.
MARKED_RECORD = "fda_thrombosis_boxed_warning"
MARKED_FILE = Path("context") / "fda-thrombosis-boxed-warning.toml"
MARKER = "Checked again for this release."
# The label a broken release claims: newer than any the tests switch to, so only its fault can refuse it.
BROKEN_LABEL = "2026.12.9"


def release_again(directory: Path, label: str | None = None) -> Path:
    """Rewrite `directory`'s manifest for its files as they are now (under `label`, if given); return the
    directory."""
    release = load_release(directory / MANIFEST)
    label = label or release.label
    files = file_digests(directory)
    again = release.model_copy(update={"label": label, "files": files, "version": content_hash(directory, label)})
    (directory / MANIFEST).write_text(manifest_text(again), encoding="utf-8")
    return directory


def release(folder: Path, label: str, *, marked: bool = False, name: str | None = None) -> Path:
    """A copy of the bundled evidence released as `label` in `folder/name` (`folder/label` by default); `marked`:
    the FDA record's provenance (`where`) ends with MARKER."""
    target = folder / (name or label)
    shutil.copytree(ROOT / "evidence", target)
    if marked:
        record = target / MARKED_FILE
        text = record.read_text(encoding="utf-8")
        changed = re.sub(r'^(where = ".*)"$', rf'\1 {MARKER}"', text, count=1, flags=re.M)
        assert changed != text
        record.write_text(changed, encoding="utf-8")
    return release_again(target, label)


def broken(folder: Path, how: str) -> Path:
    """A release that must be refused, for its fault in the FDA record: `unknown_key` (a key no context record has,
    `context.schema`) or `toml_syntax` (`evidence.toml_syntax`), each with its manifest rewritten for its files so
    that only the fault refuses it; or `tampered` (its provenance edited after the release, the manifest left as it
    was: `release.file_changed`)."""
    target = release(folder, BROKEN_LABEL, name=f"broken-{how}")
    record = target / MARKED_FILE
    text = record.read_text(encoding="utf-8")
    if how == "tampered":
        record.write_text(text.replace('where = "', 'where = "Edited after the release. ', 1), encoding="utf-8")
        return target
    extra = 'colour = "red"\n' if how == "unknown_key" else "where = [unclosed\n"
    record.write_text(text + extra, encoding="utf-8")
    return release_again(target)


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
