"""The GRADE summary of findings for an answer with estimates: per estimate the relative effect, the risk with
and without IVIG for each assumed baseline (the clinician's, and a sourced one), women and studies, certainty
with its footnoted reasons and the comments; then a harms row that says what is and is not known.

Every value comes from the estimate views and the context records; a risk that cannot be transported to a
baseline is withheld as in every other channel (../shared/standards/evidence-presentation.md section 1).
"""

from __future__ import annotations

from plugin.core.answer import wording
from plugin.core.answer.views import Absolute, CertaintyView, EstimateView, absolute_for, baseline_of, sourced_baseline
from plugin.core.evidence.analysis import EvidenceStore
from plugin.core.evidence.model import Frozen
from plugin.core.rules.profile import PatientProfile

DOWNGRADED = ("serious", "very_serious")
SAFETY_IDS = ("fda_thrombosis_boxed_warning", "fda_1998_renal_warning", "iga_contraindication")


class AssumedRisk(Frozen):
    """One row of anticipated absolute effects: an assumed risk without IVIG, its source, and what follows."""

    source: str
    absolute: Absolute


class FindingRow(Frozen):
    estimate_id: str
    label: str
    outcome: str
    rr: float
    ci_low: float
    ci_high: float
    model: str
    risks: tuple[AssumedRisk, ...]
    participants: str
    certainty: CertaintyView
    footnotes: tuple[str, ...]
    comments: tuple[str, ...]


class HarmsRow(Frozen):
    outcome: str
    statement: str
    known: tuple[str, ...]


class SummaryOfFindings(Frozen):
    population: str
    intervention: str
    comparison: str
    rows: tuple[FindingRow, ...]
    harms: HarmsRow
    note: str


def participants_of(view: EstimateView) -> str:
    if view.n_participants is None and view.n_studies is None:
        return wording.SOURCES_SILENT
    women = f"{view.n_participants} women" if view.n_participants is not None else "women: " + wording.SOURCES_SILENT
    studies = f"{view.n_studies} non-randomized studies" if view.n_studies is not None else wording.SOURCES_SILENT
    return f"{women} ({studies})"


def row_of(view: EstimateView, baselines: list[tuple[float, str]]) -> FindingRow:
    reasons = [r for r in view.certainty.reasons if r.judgement in DOWNGRADED]
    return FindingRow(
        estimate_id=view.id,
        label=view.label,
        outcome="Live birth",
        rr=view.rr,
        ci_low=view.ci_low,
        ci_high=view.ci_high,
        model=view.pooling_model,
        risks=tuple(
            AssumedRisk(source=source, absolute=absolute_for(view.rr, view.ci_low, view.ci_high, (risk, source)))
            for risk, source in baselines
        ),
        participants=participants_of(view),
        certainty=view.certainty,
        footnotes=tuple(f"{r.domain.replace('_', ' ').capitalize()}: {r.reason}" for r in reasons),
        comments=(wording.SOF_COMMENT, f"{view.directness.capitalize()}: {view.directness_note}", *view.caveats),
    )


def summary_of_findings(
    views: list[EstimateView], profile: PatientProfile, store: EvidenceStore, pico: tuple[str, str, str]
) -> SummaryOfFindings | None:
    """The table for the shown estimates, or None when no estimate is shown."""
    if not views:
        return None
    baselines = [b for b in (baseline_of(profile, store), sourced_baseline(store)) if b is not None]
    unique = list(dict.fromkeys(baselines))  # the sourced row once, even when she chose it
    safety = [store.context[i] for i in SAFETY_IDS]
    population, intervention, comparison = pico
    return SummaryOfFindings(
        population=population,
        intervention=intervention,
        comparison=comparison,
        rows=tuple(row_of(view, unique) for view in views),
        harms=HarmsRow(
            outcome="Adverse events of IVIG",
            statement=wording.HARMS_NOT_SUMMARISED,
            known=tuple(f"{r.short}: {r.measure}" for r in safety),
        ),
        note=wording.SOF_NOTE,
    )
