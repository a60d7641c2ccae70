"""Which patients' answers change between two releases: the whole profile grid through both, every changed answer
counted by what changed in it, and grouped by the parts of the release that made it change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plugin.core.evidence.release import Release
from plugin.curation.changes import Change, release_changes
from plugin.curation.grid import Case, cases
from plugin.curation.reading import ASPECTS, Reader, Reading

# Shown before and after for a group; `anything` is the whole answer, too long to show.
SHOWN = ASPECTS[:-1]


@dataclass
class Group:
    """Answers that changed in the same aspects, between the same statuses, because of the same parts."""

    aspects: tuple[str, ...]
    statuses: tuple[str, str]
    causes: tuple[Change, ...]
    example: Case
    before: Reading
    after: Reading
    profiles: int = 0

    def report(self) -> dict[str, Any]:
        shown = [name for name in self.aspects if name in SHOWN]
        return {
            "profiles": self.profiles,
            "aspects": list(self.aspects),
            "status": {"before": self.statuses[0], "after": self.statuses[1]},
            "because": [c.described() for c in self.causes] or ["not traced to one part of the release"],
            "example": self.example.described(),
            "before": {name: self.before.aspects[ASPECTS.index(name)] for name in shown},
            "after": {name: self.after.aspects[ASPECTS.index(name)] for name in shown},
        }


@dataclass
class Diff:
    old: Release
    new: Release
    grid: int
    changes: list[Change]
    researched: list[str]
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ASPECTS, 0))
    groups: list[Group] = field(default_factory=list)
    changed_cases: list[Case] = field(default_factory=list)
    # For each part that changed, how many changed answers read it.
    by_part: dict[Change, int] = field(default_factory=dict)

    _groups: dict[tuple[Any, ...], Group] = field(default_factory=dict, repr=False)

    def add(self, case: Case, before: Reading, after: Reading, touched: list[Change]) -> None:
        """Count one changed answer: in each aspect that changed, against each changed part it read, in its group."""
        aspects = tuple(name for name, x, y in zip(ASPECTS, before.aspects, after.aspects, strict=True) if x != y)
        for name in aspects:
            self.counts[name] += 1
        for change in touched:
            self.by_part[change] = self.by_part.get(change, 0) + 1
        causes = primary(sorted(touched))
        key = (aspects, before.status, after.status, causes)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(aspects, (before.status, after.status), causes, case, before, after)
            self.groups.append(group)
        group.profiles += 1
        self.changed_cases.append(case)

    @property
    def changed(self) -> int:
        return self.counts["anything"]

    def report(self) -> dict[str, Any]:
        """The diff as JSON: both releases, the grid, counts per aspect, the parts changed, the groups."""
        return {
            "old": release_summary(self.old),
            "new": release_summary(self.new),
            "profiles": self.grid,
            "changed": self.changed,
            "aspects": self.counts,
            "release_changes": [
                {"part": c.described(), "changed_answers_reading_it": self.by_part.get(c, 0)} for c in self.changes
            ],
            "records_searched_again": self.researched,
            "groups": [g.report() for g in self.groups],
        }


def primary(touched: list[Change]) -> tuple[Change, ...]:
    """The parts a group is named by: the evidence it shows (records, estimates, the analysis, the question) where
    any of that changed, else the decision-table rows that chose it, else the tables. Rows and tables are how
    evidence reaches an answer, so naming them beside changed evidence would split one change into many groups."""
    for kinds in (("record", "estimate", "analysis", "question"), ("row",), ("table",)):
        found = tuple(c for c in touched if c.kind in kinds)
        if found:
            return found
    return ()


def release_summary(release: Release) -> dict[str, Any]:
    return {
        "label": release.label,
        "version": release.version,
        "released_on": release.released_on.isoformat(),
        "sources_last_searched": release.sources_last_searched,
        "notes": release.notes,
    }


def diff(before: Reader, after: Reader, progress: Callable[[int, int], None] | None = None) -> Diff:
    """Answer every profile of the grid with both releases and compare.

    A reader answers each class of profile once and keeps it, so one release compared with several others is
    answered once. `progress(done, total)` is told after every thousand profiles and at the end (a progress bar).
    """
    old, new = before.plugin, after.plugin
    grid = cases([old, new])
    changes = release_changes(old, new)
    by_read = {change.read: change for change in changes}
    researched = sorted(
        i
        for i, r in new.store.context.items()
        if i in old.store.context and old.store.context[i].last_searched != r.last_searched
    )
    result = Diff(old.store.release, new.store.release, len(grid), changes, researched)
    if old.store.version == new.store.version:  # the same files and label: every answer is the same
        return result
    for done, case in enumerate(grid, start=1):
        if progress is not None and done % 1000 == 0:
            progress(done, len(grid))
        a, b = before.read(case), after.read(case)
        if a.aspects != b.aspects:
            result.add(case, a, b, [by_read[r] for r in (a.reads | b.reads) if r in by_read])
    if progress is not None:
        progress(len(grid), len(grid))
    result.groups.sort(key=lambda g: (-g.profiles, g.aspects, g.statuses))
    return result
