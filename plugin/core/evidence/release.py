"""A release of the evidence store: its manifest (`release.toml`) and the proof that the files are the ones released.

The manifest gives the label people use (`2026.12`), the day it was released, how current its sources are, the
curators' notes on what changed, the version every answer carries, and the SHA-256 of every store file. A file
edited, added or removed after the release no longer matches, and the store refuses to load naming it: what a CDS
committee reviewed is what serves.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field

from plugin.core.evidence.context import SEARCH_DATE
from plugin.core.evidence.model import Frozen, Text
from plugin.errors import EvidenceError

MANIFEST = "release.toml"
STORE_SUFFIXES = (".toml", ".csv", ".json")
LABEL = r"^\d{4}\.\d{2}(\.\d+)?$"
VERSION = r"^sha256:[0-9a-f]{16}$"
DIGEST = r"^[0-9a-f]{64}$"


class Release(Frozen):
    """`release.toml`: what a curator released, and the hash of every file it released."""

    schema_version: Literal[1]
    label: str = Field(pattern=LABEL)
    released_on: datetime.date
    sources_last_searched: str = Field(pattern=SEARCH_DATE)
    version: str = Field(pattern=VERSION)
    notes: Text
    files: dict[str, str] = Field(min_length=1)

    def label_key(self) -> tuple[int, ...]:
        return label_key(self.label)


def label_key(label: str) -> tuple[int, ...]:
    """A label as numbers, so `2026.12.1` follows `2026.12` and `2027.01` follows both."""
    return tuple(int(part) for part in label.split("."))


def newer(label: str, than: str) -> bool:
    """Whether release `label` comes after release `than`, as versions compare (`2026.9` < `2026.12`)."""
    return label_key(label) > label_key(than)


def store_files(directory: Path) -> list[Path]:
    """Every file of the store the version covers, in path order: the data files, not the manifest or the README."""
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and p.suffix in STORE_SUFFIXES and p.relative_to(directory).as_posix() != MANIFEST
    )


def file_digests(directory: Path) -> dict[str, str]:
    """Each store file's path (relative, `/`-separated) and the SHA-256 of its bytes."""
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in store_files(directory)
    }


def content_hash(directory: Path, label: str) -> str:
    """SHA-256 over the label and every store file's relative path and bytes, in path order: the evidence version.

    The label is part of it because every answer shows the label: two releases that differ only in label give
    different answers, so they must not share a version (caches are keyed by it).
    """
    digest = hashlib.sha256(b"label\0" + label.encode("utf-8") + b"\0")
    for path in store_files(directory):
        digest.update(path.relative_to(directory).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()[:16]


def check_release(directory: Path, release: Release, sources_last_searched: str) -> str:
    """Prove the files are the ones released; return the version.

    Raises:
        EvidenceError: a file changed, is missing or was added since the release, or the manifest's version or
            last-searched date is not the store's.
    """
    manifest = str(directory / MANIFEST)
    found = file_digests(directory)
    for name, digest in release.files.items():
        if name not in found:
            raise EvidenceError(
                "a released file is missing", code="release.file_missing", file=str(directory / name), field="files"
            )
        if found[name] != digest:
            raise EvidenceError(
                "the file changed after the release (release it again with `ivig-cds evidence release`)",
                code="release.file_changed",
                file=str(directory / name),
                field="files",
            )
    unlisted = sorted(set(found) - set(release.files))
    if unlisted:
        raise EvidenceError(
            "a file was added after the release (release it again with `ivig-cds evidence release`)",
            code="release.file_unlisted",
            file=str(directory / unlisted[0]),
            field="files",
        )
    version = content_hash(directory, release.label)
    if version != release.version:
        raise EvidenceError(
            "the manifest's version is not the content hash of its files and label",
            code="release.version_mismatch",
            file=manifest,
            field="version",
            value=release.version,
        )
    if sources_last_searched != release.sources_last_searched:
        raise EvidenceError(
            f"the store's sources were last searched {sources_last_searched}",
            code="release.last_searched_mismatch",
            file=manifest,
            field="sources_last_searched",
            value=release.sources_last_searched,
        )
    return version


def manifest_text(release: Release) -> str:
    """`release.toml` as TOML: a header, the fields, then one line per file.

    Strings are written as TOML basic strings; JSON's string escapes are a subset of TOML's, so `json.dumps` writes
    them exactly.
    """
    lines = [
        "# This release of the evidence store, written by `ivig-cds evidence release`: edit the files, then release",
        "# again. A file that no longer matches its hash below is refused at load.",
        f"schema_version = {release.schema_version}",
        f"label = {json.dumps(release.label)}",
        f"released_on = {release.released_on.isoformat()}",
        f"sources_last_searched = {json.dumps(release.sources_last_searched)}",
        f"version = {json.dumps(release.version)}",
        f"notes = {json.dumps(release.notes, ensure_ascii=False)}",
        "",
        "[files]",
        *(f"{json.dumps(name)} = {json.dumps(digest)}" for name, digest in sorted(release.files.items())),
    ]
    return "\n".join(lines) + "\n"
