"""The `Answer`: what the evidence says for one profile, as pure data that every channel renders.

It refuses to exist without the non-randomized warning, so no channel can show an answer that lacks it.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from plugin.core.answer.summary_of_findings import SummaryOfFindings
from plugin.core.answer.views import ContextView, EstimateView, Relative, relative_of
from plugin.core.evidence.analysis import Analysis
from plugin.core.evidence.model import Frozen
from plugin.core.rules.profile import PatientProfile
from plugin.core.rules.table import Value

Status = Literal["matched", "insufficient_information", "outside_population", "not_rpl"]
WARNING_CODE = "nonrandomized_evidence"


class AnswerWarning(Frozen):
    code: str
    text: str


class Note(Frozen):
    code: str
    text: str


class AtAGlance(Frozen):
    """Layer 1: the answer in a few plain sentences, each part also on its own for channels that lay them out.

    `sentence` is what every channel shows first; the parts are null where they do not apply (no estimate, no
    standard care, nothing to ask).
    """

    headline: str
    certainty: str | None
    randomized_contrast: str | None
    randomized_lead: str | None  # the context record the randomized contrast names
    guidance: str | None
    standard_care: str | None
    ask_next: str | None
    value_check: str | None
    # The tests guidelines advise against, when NK cells or Th1/Th2 are missing or what matched her.
    tests: str | None
    safety: str
    sentence: str
    # One line of at most 140 characters with the estimate and the randomized contrast, never the estimate alone
    # (a CDS card's summary).
    summary: str = Field(max_length=140)


class TraceStep(Frozen):
    """Which rows of which decision table fired, why, and on which input values."""

    table: str
    rows: tuple[str, ...]
    why: tuple[str, ...]
    inputs: dict[str, Value]


class Citation(Frozen):
    text: str
    short: str
    doi: str
    url: str


class Answer(Frozen):
    """What the evidence says for one profile. Every channel renders this and nothing else."""

    status: Status
    analysis_id: str
    question: str
    at_a_glance: AtAGlance
    bottom_line: str
    profile: PatientProfile
    estimates: tuple[EstimateView, ...]
    warnings: tuple[AnswerWarning, ...] = Field(min_length=1)
    missing_information: tuple[str, ...]
    applicability_notes: tuple[Note, ...]
    context: tuple[ContextView, ...] = Field(min_length=1)
    summary_of_findings: SummaryOfFindings | None
    not_summarised: str
    at_ivig_order: bool = False
    trace: tuple[TraceStep, ...]
    citation: Citation
    evidence_version: str
    evidence_label: str
    sources_last_searched: str

    @model_validator(mode="after")
    def _carries_the_nonrandomized_warning(self) -> Self:
        if not any(w.code == WARNING_CODE for w in self.warnings):
            raise ValueError(f"an answer must carry the {WARNING_CODE} warning")
        return self

    @property
    def nonrandomized_warning(self) -> AnswerWarning:
        return next(w for w in self.warnings if w.code == WARNING_CODE)

    @property
    def relative_estimates(self) -> tuple[Relative, ...]:
        """The estimates short of their absolute effects: text made from these is the same at every baseline."""
        return tuple(relative_of(shown) for shown in self.estimates)


def citation_of(analysis: Analysis) -> Citation:
    """The analysis's source as every channel cites it."""
    source = analysis.source
    return Citation(text=source.citation, short=source.short, doi=source.doi, url=source.url)
