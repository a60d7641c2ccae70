"""The GRADE summary of findings for an answer with estimates: per estimate the relative effect, the risk with
and without IVIG at the baseline the caller gave (none by default), women and studies, certainty with its
reasons and the comments; then a harms row that names the harms.

Every value comes from the estimate views and the context records; a risk that cannot be transported to a
baseline is withheld as in every other channel, and without a baseline the table says why it shows none.
"""

from __future__ import annotations

from plugin.core.answer import wording
from plugin.core.answer.baselines import not_shown_note
from plugin.core.answer.same import Kept
from plugin.core.answer.views import Absolute, CertaintyView, ContextView, EstimateView, absolute_for
from plugin.core.evidence.analysis import EvidenceStore
from plugin.core.evidence.model import Frozen

DOWNGRADED = ("serious", "very_serious")


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
    """Harms are named, not labelled: what regulators, product information and randomized reviews say."""

    outcome: str
    statement: str
    known: tuple[str, ...]


class SummaryOfFindings(Frozen):
    population: str
    intervention: str
    comparison: str
    rows: tuple[FindingRow, ...]
    harms: HarmsRow
    # Why no absolute effect is shown when the caller gave no baseline; None when one was given.
    absolute_not_shown: str | None
    # The same in fewer words, for a channel with a length budget (the CDS card detail).
    absolute_not_shown_short: str | None
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


def harms_named(context: tuple[ContextView, ...]) -> tuple[str, ...]:
    """The harms this answer's records name: each safety point in the curators' words, then quoted harms."""
    named = [c.gist for c in context if c.topic == "safety" and c.gist]
    return tuple(named + [f"{c.short}: “{c.harm}”" for c in context if c.harm])


# Tables already made, by the identity of the views they summarise and of the store, the baseline, the harms the
# records beside them name and the PICO: most answers share one.
SUMMARIES_KEPT = 4096
_summaries: Kept[SummaryOfFindings | None] = Kept(SUMMARIES_KEPT)


def summary_of_findings(
    views: list[EstimateView],
    baseline: tuple[float, str] | None,
    context: tuple[ContextView, ...],
    store: EvidenceStore,
    pico: tuple[str, str, str],
) -> SummaryOfFindings | None:
    """The table for the shown estimates, or None when no estimate is shown; the same object for the same views,
    baseline and harms named (the records beside the answer add nothing else to it)."""
    harms = harms_named(context)
    return _summaries.made(
        (*views, store), (baseline, harms, pico), lambda: summary_afresh(views, baseline, harms, store, pico)
    )


def summary_afresh(
    views: list[EstimateView],
    baseline: tuple[float, str] | None,
    harms: tuple[str, ...],
    store: EvidenceStore,
    pico: tuple[str, str, str],
) -> SummaryOfFindings | None:
    """The table for the shown estimates with the harms the records beside them name, or None without estimates."""
    if not views:
        return None
    population, intervention, comparison = pico
    return SummaryOfFindings(
        population=population,
        intervention=intervention,
        comparison=comparison,
        rows=tuple(row_of(view, [baseline] if baseline else []) for view in views),
        harms=HarmsRow(outcome="Adverse events of IVIG", statement=wording.HARMS_NOT_SUMMARISED, known=harms),
        absolute_not_shown=None if baseline else not_shown_note(store, min(v.rr for v in views)),
        absolute_not_shown_short=None if baseline else not_shown_note(store, min(v.rr for v in views), short=True),
        note=wording.SOF_NOTE,
    )
