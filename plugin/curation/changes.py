"""What changed between two releases, part by part: records, estimates, the analysis, the question, decision-table
rows. An answer that changed is traced to the parts it read that changed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from plugin.core.answer.plugin import Plugin
from plugin.core.evidence.analysis import Estimate
from plugin.core.rules.table import DecisionTable, Row
from plugin.curation.reading import Read

How = Literal["added", "removed", "changed"]
# A table's rows, reasons and note texts are compared row by row; the rest of its definition as a whole.
TABLE_PARTS = {"rows", "why", "notes", "glance"}


@dataclass(frozen=True, order=True)
class Change:
    """One part of the release that differs, as an answer reads it (`read`), with a line a curator recognises it by."""

    kind: str
    id: str
    how: How
    about: str

    @property
    def read(self) -> Read:
        return (self.kind, self.id)

    def described(self) -> str:
        return f"{self.kind} {self.id} {self.how}" + (f" ({self.about})" if self.about else "")


def compared(kind: str, old: Mapping[str, Any], new: Mapping[str, Any], about: Mapping[str, str]) -> list[Change]:
    """Each id in either mapping whose content is new, gone or different."""
    found = []
    for key in sorted(old.keys() | new.keys()):
        how: How | None = "added" if key not in old else "removed" if key not in new else None
        if how is None and old[key] != new[key]:
            how = "changed"
        if how is not None:
            found.append(Change(kind, key, how, about.get(key, "")))
    return found


def release_changes(old: Plugin, new: Plugin) -> list[Change]:
    """Every part that differs between the releases, search dates aside (the report gives those once)."""
    pair = (old, new)
    records = [
        {i: r.model_dump(mode="json", exclude={"last_searched"}) for i, r in p.store.context.items()} for p in pair
    ]
    shorts = {i: r.short for p in pair for i, r in p.store.context.items()}
    estimates = [{ref: e.model_dump(mode="json") for ref, e in estimates_of(p).items()} for p in pair]
    labels = {ref: e.short_label for p in pair for ref, e in estimates_of(p).items()}
    analyses = [{i: analysis_content(a.model_dump(mode="json")) for i, a in p.store.analyses.items()} for p in pair]
    questions = [p.store.question.model_dump(mode="json") for p in pair]
    tables = [{i: t.spec.model_dump(mode="json", exclude=TABLE_PARTS) for i, t in p.tables.items()} for p in pair]
    rows = [rows_of(p.tables) for p in pair]
    conditions = {key: condition_of(row) for p in pair for key, row in row_index(p.tables).items()}
    return [
        *compared("record", records[0], records[1], shorts),
        *compared("estimate", estimates[0], estimates[1], labels),
        *compared("analysis", analyses[0], analyses[1], {}),
        *compared("question", questions[0], questions[1], {}),
        *compared("table", tables[0], tables[1], {}),
        *compared("row", rows[0], rows[1], conditions),
    ]


def estimates_of(plugin: Plugin) -> dict[str, Estimate]:
    return {a.ref(e): e for a in plugin.store.analyses.values() for e in a.estimates}


def analysis_content(dump: dict[str, Any]) -> dict[str, Any]:
    """The analysis without its estimates (compared one by one) or the date its source was last searched."""
    source = {k: v for k, v in dump["source"].items() if k != "last_searched"}
    return {**{k: v for k, v in dump.items() if k != "estimates"}, "source": source}


def row_index(tables: Mapping[str, DecisionTable]) -> dict[str, Row]:
    """Every row by "table-id row-id", as an answer's trace names them."""
    return {f"{table.id} {row.id}": row for table in tables.values() for row in table.rows}


def rows_of(tables: Mapping[str, DecisionTable]) -> dict[str, str]:
    """Each row's content: its conditions, outputs and reason, and the text of each note it gives."""
    found = {}
    for table in tables.values():
        for row in table.rows:
            notes = {code: [table.spec.notes.get(code), table.spec.glance.get(code)] for code in row.then}
            found[f"{table.id} {row.id}"] = json.dumps([row.cells, row.then, row.why, notes], sort_keys=True)
    return found


def condition_of(row: Row) -> str:
    """The profiles a row is about, in the table's own terms: its cells that are not `*`."""
    return "; ".join(f"{name} = {cell}" for name, cell in row.cells.items() if cell.strip() != "*") or "every answer"
