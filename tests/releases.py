"""Copies of the evidence store that tests edit, released again so that a test reaches the check it is about.

A copy edited after its release is refused as `release.file_changed` before any later check runs; a curator
releases an edit with `ivig-cds evidence release` (whose own checks are tested in tests/curation). Here the
manifest is rewritten for the files as they now are, keeping its label and dates.
"""

from __future__ import annotations

from pathlib import Path

from plugin.core.evidence.release import MANIFEST, content_hash, file_digests, manifest_text
from plugin.core.evidence.store import load_release


def release_again(directory: Path) -> Path:
    """Rewrite `directory`'s manifest for its files as they are now; return the directory."""
    release = load_release(directory / MANIFEST)
    files = file_digests(directory)
    again = release.model_copy(update={"files": files, "version": content_hash(directory, release.label)})
    (directory / MANIFEST).write_text(manifest_text(again), encoding="utf-8")
    return directory
