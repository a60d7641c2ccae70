"""What the decision aid says in its own words, as the tests read it: the running text whose reading grade is
measured, the words the wording lint reads, and every number it prints.

The running text is what a patient reads as prose: paragraphs, list items and the picture's caption, each one a
sentence or more. Left out, as the issue says: quotations (a source's own words), the reference lines (the sources
and the evidence version), and the part labelled for the clinician, which quotes the answer's own first lines;
headings are labels, not sentences, and are left out too (counting them would lower the grade).
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

from plugin.core.answer.decision_aid import DecisionAid
from plugin.core.answer.plugin import Plugin
from tests.wording_lint import FORBIDDEN, MISLEADING, our_words

SKIPPED_TAGS = {"q", "blockquote", "svg", "h1", "h2", "h3", "head", "title", "style", "code"}
SKIPPED_CLASSES = {"references", "for-clinician", "quote"}
PROSE = {"p", "li", "figcaption"}
VOID = {"meta", "link", "br", "use", "circle", "path", "rect", "line", "input", "img"}
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
# The picture's denominator: "30 in 100", "Out of 100 women" count women, they report no finding.
DENOMINATOR = "100"


class RunningText(HTMLParser):
    """Collects the prose blocks of a page, minus the parts the reading grade leaves out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, set[str]]] = []
        self.blocks: list[list[str]] = []

    def skipped(self) -> bool:
        return any(tag in SKIPPED_TAGS or classes & SKIPPED_CLASSES for tag, classes in self.open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        self.open.append((tag, set((dict(attrs).get("class") or "").split())))
        if tag in PROSE and not self.skipped():
            self.blocks.append([])

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self.blocks and not self.skipped() and any(tag in PROSE for tag, _ in self.open):
            self.blocks[-1].append(data)


def running_text(page: str) -> str:
    """The page's running text, one block a line, each ending as a sentence does."""
    parser = RunningText()
    parser.feed(page)
    blocks = [" ".join("".join(block).split()) for block in parser.blocks]
    return "\n".join(b if b[-1] in ".?!:" else f"{b}." for b in blocks if b)


QUOTED = re.compile(r"“[^”]*”")
CLINICIAN_PART = "FOR THE CLINICIAN"


def running_text_of_text(text: str) -> str:
    """The running text of the aid as text: what comes before the clinician's part, headings (capital lines) and
    quotations left out."""
    lines = text.split(CLINICIAN_PART)[0].splitlines()
    prose = [QUOTED.sub("", line).strip(" -") for line in lines if line.strip() and not line.isupper()]
    return "\n".join(p if p[-1] in ".?!:" else f"{p}." for p in prose if p)


def visible_text(page: str) -> str:
    """What a reader sees on the page: its head and the picture's drawing (coordinates) removed, tags stripped, entities
    decoded."""
    body = re.sub(r"<head>.*?</head>|<svg\b.*?</svg>", " ", page, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]*>", " ", body))


def aid_words(output: str, aid: DecisionAid) -> str:
    """The output without what sources say in their own words: the answer's quoted records, and every source the
    aid cites (its references, including records the answer does not carry, such as the regimen's trial)."""
    text = our_words(output, aid.answer)
    for passage in sorted((r.citation for r in aid.references), key=len, reverse=True):
        text = text.replace(passage, "")
    return text


def lint(output: str, aid: DecisionAid) -> list[str]:
    words = aid_words(output, aid)
    return [m.group(0) for m in FORBIDDEN.finditer(words)] + [m.group(0) for m in MISLEADING.finditer(words)]


def store_numbers(evidence_dir: Path) -> set[str]:
    """Every number the evidence store's files write, as text ("400", "0.633", "2026")."""
    numbers: set[str] = set()
    for path in evidence_dir.rglob("*.toml"):
        numbers |= set(NUMBER.findall(path.read_text(encoding="utf-8")))
    return numbers


def printed_numbers(output: str, aid: DecisionAid) -> set[str]:
    """The numbers the output prints, minus the evidence version (a hash whose digits are no finding)."""
    return set(NUMBER.findall(aid_words(output, aid).replace(aid.answer.evidence_version, "")))


def render_both(plugin: Plugin, aid: DecisionAid) -> dict[str, str]:
    return {"html": plugin.renderer.render_aid(aid, "html"), "text": plugin.renderer.render_aid(aid, "text")}
