"""Writing a release's manifest, only once the edited store passes every check `serve` makes before it binds."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from plugin.app import preflight
from plugin.config import Settings
from plugin.core.answer.plugin import load_plugin
from plugin.core.evidence.analysis import EvidenceStore, oldest_search
from plugin.core.evidence.release import MANIFEST, Release, content_hash, file_digests, label_key, manifest_text
from plugin.core.evidence.store import load_evidence, load_parts, load_release
from plugin.errors import EvidenceError


def release(settings: Settings, label: str, notes: str, released_on: datetime.date) -> tuple[Release, Release | None]:
    """Check the store at `settings.evidence_dir` as `serve` would, then write its manifest; return the new
    release and the one it replaces (None for a first release).

    Raises:
        EvidenceError: the store fails a check (nothing is written), the notes are empty, or the label does not
            follow the one already released for different files.
        RuleTableError, TemplateError: a decision table or a channel cannot serve this store.
    """
    directory = settings.evidence_dir
    if not notes.strip():
        raise EvidenceError(
            "the curators' notes say what changed; the notes are empty",
            code="release.notes_empty",
            file=str(directory / MANIFEST),
            field="notes",
        )
    previous = previous_release(directory / MANIFEST)
    parts = load_parts(directory)
    draft = Release(
        schema_version=1,
        label=label,
        released_on=released_on,
        sources_last_searched=oldest_search(parts.analyses, parts.context),
        version=content_hash(directory, label),
        notes=notes.strip(),
        files=file_digests(directory),
    )
    if previous is not None and draft.version != previous.version and label_key(label) <= previous.label_key():
        raise EvidenceError(
            f"a release of other files must have a label after {previous.label}, so every replica knows which is newer",
            code="release.label_not_newer",
            file=str(directory / MANIFEST),
            field="label",
            value=label,
        )
    store = EvidenceStore(**parts._asdict(), version=draft.version, release=draft)
    preflight(load_plugin(settings, store), settings)  # every table proved, every status rendered in every door
    write_atomically(directory / MANIFEST, manifest_text(draft))
    load_evidence(directory)  # the manifest written is the one a load accepts
    return draft, previous


def previous_release(path: Path) -> Release | None:
    """The release this one replaces; None for a first release, or for a manifest too old or broken to read (it
    is written anew)."""
    try:
        return load_release(path)
    except EvidenceError:
        return None


def write_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename over it: a reader sees the old manifest or the new, never half."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
