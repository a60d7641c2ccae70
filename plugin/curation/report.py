"""The diff as a CDS committee reads it on a terminal: the two releases, how many answers changed and in what,
what changed in the release, then each group of changed answers with an example profile and what it now reads."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.console import Group as Stack
from rich.table import Table
from rich.text import Text

from plugin.curation.diff import Diff, Group
from plugin.curation.reading import ASPECTS

# What each aspect means, as the table's first column says it.
ASPECT_NAMES = {
    "status": "status",
    "leading_estimate": "leading estimate",
    "certainty": "certainty of the leading estimate",
    "at_a_glance": "at a glance (layer 1)",
    "estimates_shown": "estimates shown",
    "context_shown": "other evidence and guidance shown",
    "card_summary": "CDS card summary",
    "anything": "any part of the answer",
}
# Groups listed in full on the terminal; the JSON lists every group.
LISTED = 12


def print_report(diff: Diff, console: Console) -> None:
    old, new = diff.old, diff.new
    console.print(
        f"Evidence {old.label} ({old.version}, released {old.released_on}) -> {new.label} ({new.version}, "
        f"released {new.released_on})",
        highlight=False,
    )
    console.print(
        f"Sources last searched: {old.sources_last_searched} -> {new.sources_last_searched}; "
        f"{len(diff.researched)} records searched again.",
        highlight=False,
    )
    console.print(
        f"{diff.changed:,} of {diff.grid:,} profiles get a different answer "
        "(every band of every cut point, each field absent and given, with and without an IVIG order).",
        highlight=False,
    )
    console.print(aspect_table(diff))
    if diff.changes:
        console.print(part_table(diff))
    for number, group in enumerate(diff.groups[:LISTED], start=1):
        console.print(group_block(number, group))
    hidden = len(diff.groups) - LISTED
    if hidden > 0:
        console.print(f"... and {hidden} smaller groups (all of them with --format json).", highlight=False)


def aspect_table(diff: Diff) -> Table:
    table = Table("What changed", "Profiles", box=box.SIMPLE, title_justify="left")
    for name in ASPECTS:
        table.add_row(ASPECT_NAMES[name], f"{diff.counts[name]:,}")
    return table


def part_table(diff: Diff) -> Table:
    table = Table("What changed in the release", "Changed answers reading it", box=box.SIMPLE)
    for change in diff.changes:
        table.add_row(change.described(), f"{diff.by_part.get(change, 0):,}")
    return table


def group_block(number: int, group: Group) -> Stack:
    report = group.report()
    lines = [
        Text(
            f"Group {number}: {group.profiles:,} profiles, {report['status']['before']} -> "
            f"{report['status']['after']}; changed: {', '.join(ASPECT_NAMES[a] for a in group.aspects)}",
            style="bold",
        ),
        Text(f"  because: {'; '.join(report['because'])}"),
        Text(f"  for example: {', '.join(f'{k}={v}' for k, v in report['example'].items())}"),
    ]
    for name in report["before"]:
        lines.append(Text(f"  {ASPECT_NAMES[name]}:"))
        lines.append(Text(f"    before: {report['before'][name] or '(none)'}"))
        lines.append(Text(f"    after:  {report['after'][name] or '(none)'}"))
    return Stack(*lines)
