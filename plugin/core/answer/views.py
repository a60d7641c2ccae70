"""How each piece of evidence is shown: an estimate with its certainty, directness and absolute effect, and a
context record with why it stands beside the answer. Every number is copied from the evidence store."""

from __future__ import annotations

import functools
from typing import Literal

from plugin.core.answer import wording
from plugin.core.evidence.analysis import Analysis, CertaintyLevel, CertaintyReason, Estimate, EvidenceStore, Provenance
from plugin.core.evidence.context import ContextKind, ContextRecord, ContextStatus, Direction, Outcome
from plugin.core.evidence.model import Frozen
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, PatientProfile
from plugin.core.stats import absolute

Directness = Literal["direct", "indirect"]
# Sourced baselines: the context record whose control arm gives the risk, and who was in that arm.
BASELINE_ROWS = {
    "christiansen2015_placebo": ("christiansen2015_rct", "secondary recurrent miscarriage, four or more losses")
}


class Absolute(absolute.AbsoluteEffect):
    """Anticipated absolute effect for the given baseline; `note` says why when a value is withheld."""

    baseline_source: str
    note: str | None = None


class CertaintyView(Frozen):
    level: CertaintyLevel
    label: str
    symbol: str
    rated_by: str
    rated_by_text: str
    reasons: tuple[CertaintyReason, ...]


class EstimateView(Frozen):
    """One estimate as shown: the published numbers, their source, their certainty and the one allowed sentence."""

    id: str
    label: str
    short_label: str
    definition: str
    role: Literal["overall", "subgroup"]
    measure: Literal["RR"]
    rr: float
    ci_low: float
    ci_high: float
    ci_level: float
    p_value: float | None
    p_value_text: str
    n_studies: int | None
    n_participants: int | None
    certainty: CertaintyView
    directness: Directness
    directness_note: str
    caveats: tuple[str, ...]
    pooling_model: str
    statement: str
    where: str
    provenance: Provenance
    absolute: Absolute | None = None


class ContextView(Frozen):
    """One record of the other evidence and guidance, with the decision-table row that chose it."""

    id: str
    kind: ContextKind
    randomized: bool
    design: str
    short: str
    citation: str
    doi: str | None
    url: str | None
    label: str | None
    statement: str
    quote: bool
    population: str | None
    measure: str | None
    outcome: Outcome | None
    direction: Direction | None
    direction_text: str | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p: str | None
    events: str | None
    n_studies: int | None
    n_participants: int | None
    certainty_or_strength: str | None
    status: ContextStatus
    where: str
    why_shown: str


def her_findings(profile: PatientProfile) -> list[str]:
    """Her immune findings in the vocabulary of the studies' selection criteria."""
    found = ["nk_above_12"] if profile.nk_cell_percent is not None and profile.nk_cell_percent > 12 else []
    found += [c for c in AUTOIMMUNE_CONDITIONS if c in (profile.autoimmune_conditions or ())]  # canonical order
    return found + (["th1_th2_elevated"] if profile.th1_th2_ratio_elevated else [])


def directness_of(estimate: Estimate, analysis: Analysis, profile: PatientProfile) -> tuple[Directness, str]:
    """`direct` when one of her findings was a selection criterion of the studies behind the estimate."""
    members = estimate.derived_membership.studies if estimate.derived_membership else None
    studies = [s for s in analysis.studies if members is None or s.id in members]
    findings = her_findings(profile)
    selecting = {f: [s.label for s in studies if f in s.selects_for] for f in findings}
    covered = [f for f in findings if selecting[f]]
    uncovered = [f for f in findings if not selecting[f]]
    behind = "the studies behind this estimate" if members is not None else "the included studies"
    parts = [f"{wording.and_list(selecting[f])} selected women with {wording.SELECTION_TEXT[f]}." for f in covered]
    if uncovered:
        missing = wording.and_list([wording.SELECTION_TEXT[f] for f in uncovered])
        parts.append(f"None of {behind} selected women with {missing}.")
    if not findings:
        parts.append("No immune finding of hers is known, so no study's selection criteria can be compared.")
    return ("direct" if covered else "indirect"), " ".join(parts)


def sourced_baseline(store: EvidenceStore, name: str = "christiansen2015_placebo") -> tuple[float, str]:
    """A baseline read from a randomized trial's control arm in the store, labelled with its source."""
    record_id, population = BASELINE_ROWS[name]
    row = store.context[record_id]
    if row.control_events is None or row.control_total is None:  # pragma: no cover - the loader's test proves it
        raise KeyError(f"{row.id} has no control arm counts")
    risk = row.control_events / row.control_total
    return risk, f"placebo arm of {row.short} ({row.control_events}/{row.control_total}; {population})"


def baseline_of(profile: PatientProfile, store: EvidenceStore) -> tuple[float, str] | None:
    """The baseline chance of live birth and where it came from: her clinician's value or a sourced row."""
    if profile.baseline_live_birth_risk is not None:
        return profile.baseline_live_birth_risk, wording.BASELINE_CLINICIAN
    if profile.baseline_live_birth_source is None:
        return None
    return sourced_baseline(store, profile.baseline_live_birth_source)


def absolute_for(rr: float, low: float, high: float, baseline: tuple[float, str]) -> Absolute:
    risk, source = baseline
    effect = absolute.absolute_effect(risk, rr, low, high)
    note = None
    if effect.risk_with_ivig is None:
        note = wording.WITHHELD_ALL.format(baseline=f"{risk:g}", rr=f"{rr:.2f}")
    elif effect.capped:
        note = wording.WITHHELD_UPPER.format(baseline=f"{risk:g}", high=f"{high:.2f}")
    return Absolute(**dict(effect), baseline_source=source, note=note)


def pooling_model_of(estimate: Estimate) -> str:
    if estimate.pooling_method is None:
        return wording.MODEL_UNKNOWN
    tag = estimate.provenance_of("pooling_method")
    return (
        f"{wording.MODEL_TEXT[estimate.pooling_method]} ({tag} by the curators)"
        if tag != "stated"
        else (wording.MODEL_TEXT[estimate.pooling_method])
    )


def view(
    estimate: Estimate, analysis: Analysis, profile: PatientProfile, baseline: tuple[float, str] | None
) -> EstimateView:
    low, high = estimate.ci
    level = estimate.certainty.level
    directness, directness_note = directness_of(estimate, analysis, profile)
    return EstimateView(
        id=analysis.ref(estimate),
        label=estimate.label,
        short_label=estimate.short_label,
        definition=estimate.definition,
        role=estimate.role,
        measure=estimate.measure,
        rr=estimate.point,
        ci_low=low,
        ci_high=high,
        ci_level=estimate.ci_level,
        p_value=estimate.p_value,
        p_value_text=estimate.p_value_text or f"{estimate.p_value}",
        n_studies=estimate.n_studies,
        n_participants=estimate.n_participants,
        certainty=CertaintyView(
            level=level,
            label=wording.CERTAINTY_LABEL[level],
            symbol=wording.CERTAINTY_SYMBOL[level],
            rated_by=estimate.certainty.rated_by,
            rated_by_text=wording.RATED_BY,
            reasons=estimate.certainty.reasons,
        ),
        directness=directness,
        directness_note=directness_note,
        caveats=estimate.caveats,
        pooling_model=pooling_model_of(estimate),
        statement=wording.statement(level, low, high, estimate.population_phrase),
        where=estimate.where,
        provenance=estimate.provenance,
        absolute=None if baseline is None else absolute_for(estimate.point, *estimate.ci, baseline),
    )


# The fields a shown record copies from the stored one unchanged; the rest are derived below.
COPIED = frozenset(ContextView.model_fields) & frozenset(ContextRecord.model_fields)


@functools.lru_cache(maxsize=1024)
def context_view(record: ContextRecord, why: str) -> ContextView:
    """A record as shown, and why; remembered, since the same few records stand beside most answers (both are
    frozen, so the view is a function of them)."""
    return ContextView(
        **record.model_dump(include=set(COPIED)),
        randomized=record.randomized,
        direction_text=wording.DIRECTION_TEXT[record.direction] if record.direction else None,
        ci_low=record.ci_low,
        ci_high=record.ci_high,
        why_shown=why,
    )
