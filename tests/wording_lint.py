"""The wording lint every channel's output must pass (docs/answer.md, "What the answer says, and why").

Quoted sources (the review's title, the context records' statements and citations) are cited, not said by us,
so they are taken out before the lint reads what is left.
"""

from __future__ import annotations

import html
import re

from plugin.core.answer.model import Answer

FORBIDDEN = re.compile(r"\b(improves|effective|proven|recommended|recommend|should)\b", re.IGNORECASE)
MISLEADING = re.compile(r"1000 to 1000|needs NK|needs Th1|\bmay increase\b|not reported", re.IGNORECASE)


def our_words(output: str, answer: Answer) -> str:
    """The output without anything quoted from a source."""
    text = html.unescape(output)
    quoted = [answer.citation.text, *(c.statement for c in answer.context), *(c.citation for c in answer.context)]
    quoted += [c.certainty_or_strength or "" for c in answer.context]
    for passage in sorted(filter(None, quoted), key=len, reverse=True):
        text = text.replace(passage, "")
    return text


def lint(output: str, answer: Answer) -> list[str]:
    """Every phrase CLINICAL.md rules out that the output says in its own words."""
    words = our_words(output, answer)
    return [m.group(0) for m in FORBIDDEN.finditer(words)] + [m.group(0) for m in MISLEADING.finditer(words)]
