"""What a committee compares of one answer between two releases, and what of the release the answer read.

An answer is a function of the release and of the class of its profile (the answer cache's key), so each class is
answered once per release and every profile of the class shares the reading.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from plugin.cds_hooks.cards import summary
from plugin.core.answer.model import Answer
from plugin.core.answer.plugin import Plugin
from plugin.core.evidence.question import Question
from plugin.curation.grid import Case
from plugin.errors import ProfileError

# In the order the report lists them; `anything` is any part of the answer but its version, label, search dates
# and the echo of the profile asked about, so a profile has changed exactly when `anything` has.
ASPECTS = (
    "status",
    "leading_estimate",
    "certainty",
    "at_a_glance",
    "estimates_shown",
    "context_shown",
    "card_summary",
    "anything",
)
# Left out of `anything`: the release metadata every answer carries (reported once for the release, not as a
# change of every answer), and the profile values the answer echoes (profiles of one class differ there alone).
NOT_COMPARED: dict[str, Any] = {
    "evidence_version": True,
    "evidence_label": True,
    "sources_last_searched": True,
    "profile": True,
    "context": {"__all__": {"last_searched"}},
    "trace": {"__all__": {"inputs"}},
}
# What the release is read through: a decision-table row, a context record, an estimate, the analysis, the
# question, or every placebo-arm baseline (the note on why no absolute effect is shown sets them beside the RR).
Read = tuple[str, str]


@dataclass(frozen=True)
class Reading:
    """One answer as compared (a value per aspect, in ASPECTS order) and what of the release it read."""

    aspects: tuple[str, ...]
    reads: frozenset[Read]

    @property
    def status(self) -> str:
        return self.aspects[0]


class Reader:
    """Readings of one release, one answer per class of profile."""

    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin
        self._classes: dict[tuple[Any, ...], Reading] = {}

    def read(self, case: Case) -> Reading:
        key = self.plugin.answers.key(case.profile, case.ivig_order)
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = self._answer(case)
        return found

    def _answer(self, case: Case) -> Reading:
        try:
            answer = self.plugin.compute(case.profile, ivig_order=case.ivig_order)
        except ProfileError as exc:  # a sourced baseline she is not among, or one this release does not hold
            refused = f"refused: {exc.code}"
            source = case.profile.baseline_live_birth_source or ""
            return Reading((refused, "", "", "", "", "", "", refused), frozenset({("record", source)}))
        return Reading(aspects_of(answer), reads_of(answer, self.plugin))


def aspects_of(answer: Answer) -> tuple[str, ...]:
    lead = answer.estimates[0] if answer.status == "matched" and answer.estimates else None
    return (
        answer.status,
        "" if lead is None else f"{lead.id}: RR {lead.rr} ({lead.ci_low} to {lead.ci_high})",
        "" if lead is None else lead.certainty.level,
        answer.at_a_glance.sentence,
        "; ".join(f"{e.id}: RR {e.rr} ({e.ci_low} to {e.ci_high})" for e in answer.estimates),
        ", ".join(c.id for c in answer.context),
        summary(answer),
        hashlib.blake2b(answer.model_dump_json(exclude=NOT_COMPARED).encode(), digest_size=16).hexdigest(),
    )


def reads_of(answer: Answer, plugin: Plugin) -> frozenset[Read]:
    store = plugin.store
    reads: set[Read] = {("analysis", answer.analysis_id), *(("question", name) for name in Question.model_fields)}
    reads |= {("table", step.table) for step in answer.trace}
    reads |= {("row", f"{step.table} {row}") for step in answer.trace for row in step.rows}
    reads |= {("record", c.id) for c in answer.context}
    reads |= {("estimate", e.id) for e in answer.estimates}
    reads.add(("record", store.question.randomized_lead))  # the randomized contrast of every RPL answer
    if answer.profile.baseline_live_birth_source is not None:
        reads.add(("record", answer.profile.baseline_live_birth_source))
    findings = answer.summary_of_findings
    if findings is not None and findings.absolute_not_shown is not None:
        arms = (i for i, r in store.baselines().items() if r.baseline and r.baseline.source_kind == "placebo_arm")
        reads |= {("record", i) for i in arms}
    return frozenset(reads)
