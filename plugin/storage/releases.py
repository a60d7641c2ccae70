"""The evidence releases replicas have switched to: each replica records the release it switches to, and looks
for a newer one that another replica switched to (`plugin.web.evidence_switch` polls it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from plugin.core.evidence.release import label_key
from plugin.storage.engine import insert_if_absent
from plugin.storage.schema import evidence_release


@dataclass(frozen=True)
class ReleaseRow:
    """A release by its label (`2026.12`, `2026.12.1`) and content hash, and when a replica first switched to it."""

    label: str
    version: str
    switched_at: datetime


def record(connection: Connection, label: str, version: str, at: datetime) -> bool:
    """Record a switch to this release; False when a replica recorded it before (the first time is kept)."""
    return insert_if_absent(connection, evidence_release, [{"label": label, "version": version, "switched_at": at}]) > 0


def newest(connection: Connection) -> ReleaseRow | None:
    """The release with the highest label (the last recorded of that label when it was cut twice); None before any.

    A row whose label is not numbered like a release is passed over."""
    found = []
    for row in connection.execute(select(evidence_release)):
        try:
            key = label_key(row.label)
        except ValueError:
            continue
        found.append((key, row.switched_at, ReleaseRow(row.label, row.version, row.switched_at)))
    return max(found, key=lambda item: item[:2])[2] if found else None
