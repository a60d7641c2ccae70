"""The evidence summary: the review's estimates as answers show them, the other evidence beside them, the source.

What the chat door's evidence tool returns (its JSON) and renders (markdown, warning first).
"""

from __future__ import annotations

from pydantic import Field

from plugin.core.answer.model import WARNING_CODE, AnswerWarning, Citation, citation_of
from plugin.core.answer.views import ContextView, EstimateView, context_view, view
from plugin.core.evidence.analysis import EvidenceStore, Participants, Pico
from plugin.core.evidence.model import Frozen
from plugin.core.rules.profile import PatientProfile

STORE_WHY = "Held in the evidence store beside the non-randomized review."


class EvidenceSummary(Frozen):
    """The estimates as answers show them, with their source, version and warning."""

    analysis_id: str
    title: str
    question: str
    pico: Pico
    participants: Participants
    estimates: tuple[EstimateView, ...]
    context: tuple[ContextView, ...]
    warnings: tuple[AnswerWarning, ...] = Field(min_length=1)
    citation: Citation
    evidence_version: str

    @property
    def nonrandomized_warning(self) -> AnswerWarning:
        return next(w for w in self.warnings if w.code == WARNING_CODE)


def evidence_summary(store: EvidenceStore) -> EvidenceSummary:
    analysis = store.analysis
    return EvidenceSummary(
        analysis_id=analysis.id,
        title=analysis.title,
        question=analysis.question,
        pico=analysis.pico,
        participants=analysis.participants,
        estimates=tuple(view(estimate, analysis, PatientProfile(), None) for estimate in analysis.estimates),
        context=tuple(context_view(record, STORE_WHY) for record in store.context.values()),
        warnings=(AnswerWarning(code=WARNING_CODE, text=analysis.warning.text),),
        citation=citation_of(analysis),
        evidence_version=store.version,
    )
