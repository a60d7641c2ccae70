"""The documentation the tests hold to the program's real output: the README and the pages of the site in docs/.

A page's section runs from its heading to the next heading of the same or a higher level; lines in fenced code
blocks are never headings (a `# comment` in a shell block is not one).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADING = re.compile(r"(#{1,6}) (.+)")


def page(name: str) -> str:
    """The README (`README.md`) or a page of the documentation site (`answer.md` is docs/answer.md)."""
    path = ROOT / name if name == "README.md" else ROOT / "docs" / name
    return path.read_text(encoding="utf-8")


def section(name: str, heading: str) -> str:
    """The section of the page whose heading reads `heading` (any level), its heading line included."""
    lines = page(name).splitlines(keepends=True)
    start: int | None = None
    level = 0
    fenced = False
    for index, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else HEADING.fullmatch(line.rstrip("\n"))
        if match is None:
            continue
        if start is None and match.group(2) == heading:
            start, level = index, len(match.group(1))
        elif start is not None and len(match.group(1)) <= level:
            return "".join(lines[start:index])
    assert start is not None, f"{name} has no section {heading!r}"
    return "".join(lines[start:])
