"""How each piece of evidence is shown: an estimate with its certainty, directness and absolute effect, and a
context record with why it stands beside the answer. Every number is copied from the evidence store."""

from __future__ import annotations

import functools
from typing import Literal

from plugin.core.answer import wording
from plugin.core.evidence.analysis import Analysis, CertaintyLevel, CertaintyReason, Estimate, Provenance, Study
from plugin.core.evidence.context import (
    Baseline,
    ContextKind,
    ContextRecord,
    ContextStatus,
    Direction,
    Outcome,
    Subgroup,
    Topic,
)
from plugin.core.evidence.model import Frozen
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, PatientProfile
from plugin.core.stats import absolute

Directness = Literal["direct", "indirect"]
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight")


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
    directness_short: str
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
    topic: Topic
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
    also: tuple[str, ...]
    gist: str | None
    glance: str | None
    harm: str | None
    subgroup_of: str | None
    subgroup_label: str | None
    subgroup: Subgroup | None
    baseline: Baseline | None
    status: ContextStatus
    where: str
    last_searched: str
    why_shown: str


def her_basis(profile: PatientProfile) -> list[str]:
    """The profile fields whose value makes her a match: the findings the review's studies selected women for."""
    basis = ["nk_cell_percent"] if profile.nk_cell_percent is not None and profile.nk_cell_percent > 12 else []
    basis += ["autoimmune_conditions"] if profile.autoimmune_conditions else []
    return basis + (["th1_th2_ratio_elevated"] if profile.th1_th2_ratio_elevated else [])


def her_findings(profile: PatientProfile) -> list[str]:
    """Her immune findings in the vocabulary of the studies' selection criteria."""
    found = ["nk_above_12"] if profile.nk_cell_percent is not None and profile.nk_cell_percent > 12 else []
    found += [c for c in AUTOIMMUNE_CONDITIONS if c in (profile.autoimmune_conditions or ())]  # canonical order
    return found + (["th1_th2_elevated"] if profile.th1_th2_ratio_elevated else [])


def selecting(studies: list[Study], finding: str) -> tuple[str, str]:
    """Which studies selected women with this finding, how many and how large, in full ("One study, 15 women
    (Mahmoud 2004) selected women with antiphospholipid syndrome.") and in a few words ("APS: 1 study, 15
    women"); a criterion the curators inferred says "probably" in both."""
    studies_word = "study" if len(studies) == 1 else "studies"
    about = "about " if any(s.provenance_of("n_total") != "stated" for s in studies) else ""
    women = f"{about}{sum(s.n_total for s in studies)} women"
    inferred = any(s.provenance_of("selects_for") != "stated" for s in studies)
    probably = "probably " if inferred else ""
    whose = ", the curators' inference: its Table 1 row is not available" if inferred else ""
    names = wording.and_list([s.label for s in studies])
    full = f"{NUMBER_WORDS[len(studies)]} {studies_word}, {women} ({probably}{names}{whose}) selected women with"
    full += f" {wording.SELECTION_TEXT[finding]}."
    brief = f"{wording.SELECTION_SHORT[finding]}: {probably}{len(studies)} {studies_word}, {women}"
    return full[0].upper() + full[1:], brief


def directness_of(estimate: Estimate, analysis: Analysis, profile: PatientProfile) -> tuple[Directness, str, str]:
    """`direct` when one of her findings was a selection criterion of the studies behind the estimate, saying how
    many studies and women that rests on, in full and in a few words."""
    members = estimate.derived_membership.studies if estimate.derived_membership else None
    studies = [s for s in analysis.studies if members is None or s.id in members]
    findings = her_findings(profile)
    selecting_studies = {f: [s for s in studies if f in s.selects_for] for f in findings}
    covered = [f for f in findings if selecting_studies[f]]
    uncovered = [f for f in findings if not selecting_studies[f]]
    behind = "the studies behind this estimate" if members is not None else "the included studies"
    selected = [selecting(selecting_studies[f], f) for f in covered]
    parts = [full for full, _ in selected]
    if uncovered:
        missing = wording.and_list([wording.SELECTION_TEXT[f] for f in uncovered])
        parts.append(f"None of {behind} selected women with {missing}.")
    if not findings:
        parts.append("No immune finding of hers is known, so no study's selection criteria can be compared.")
    if covered:
        more = ", and others" if len(selected) > 1 else ""
        short = f"direct ({selected[0][1]}{more})"
    elif uncovered:
        others = ", and others" if len(uncovered) > 1 else ""
        short = f"indirect (no study selected {wording.SELECTION_SHORT[uncovered[0]]}{others})"
    else:
        short = "indirect (no finding of hers to compare)"
    return ("direct" if covered else "indirect"), " ".join(parts), short


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


# Views already made, by (estimate, her findings, baseline): the same few stand in most answers. Each entry keeps
# the analysis it was made from, so a later analysis (another release) at the same address is never mistaken for it,
# and the view short of its absolute effect (`Relative`), shared by the views of every baseline.
VIEWS_KEPT = 4096
ViewKey = tuple[int, str, tuple[str, ...], tuple[float, str] | None]
_views: dict[ViewKey, tuple[Analysis, EstimateView, Relative]] = {}
# The relative part of each view kept above, by the view's address (checked against the view itself).
_relatives: dict[int, tuple[EstimateView, Relative]] = {}


class Relative:
    """An estimate as shown, short of its absolute effect: what most of an answer's text reads of it, the same at
    every baseline. Reading `absolute` through it fails, so text made from it cannot show a baseline's figures."""

    __slots__ = ("_view",)

    def __init__(self, view: EstimateView) -> None:
        self._view = view

    def __getattr__(self, name: str) -> object:
        if name == "absolute":
            raise AttributeError("the relative part of an estimate has no absolute effect")
        return getattr(self._view, name)


def relative_of(shown: EstimateView) -> Relative:
    """The view short of its absolute effect: the same object for every baseline of a kept view."""
    kept = _relatives.get(id(shown))
    return kept[1] if kept is not None and kept[0] is shown else Relative(shown)


def view(
    estimate: Estimate, analysis: Analysis, profile: PatientProfile, baseline: tuple[float, str] | None
) -> EstimateView:
    """The estimate as shown to her: it reads of her profile only her findings (how directly it applies) and of
    her baseline only the absolute effects, so a view is made once for each of those and shared; the view at a
    baseline is the view without one, its absolute effect added."""
    findings = tuple(her_findings(profile))
    key: ViewKey = (id(analysis), estimate.id, findings, baseline)
    kept = _views.get(key)
    if kept is not None and kept[0] is analysis:
        return kept[1]
    if len(_views) >= VIEWS_KEPT:
        _views.clear()
        _relatives.clear()
    if baseline is None:
        made = view_afresh(estimate, analysis, profile, None)
        relative = Relative(made)
    else:
        base = view(estimate, analysis, profile, None)
        relative = relative_of(base)
        made = base.model_copy(update={"absolute": absolute_for(base.rr, base.ci_low, base.ci_high, baseline)})
    _views[key] = (analysis, made, relative)
    _relatives[id(made)] = (made, relative)
    return made


def view_afresh(
    estimate: Estimate, analysis: Analysis, profile: PatientProfile, baseline: tuple[float, str] | None
) -> EstimateView:
    low, high = estimate.ci
    level = estimate.certainty.level
    directness, directness_note, directness_short = directness_of(estimate, analysis, profile)
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
        directness_short=directness_short,
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
def context_view(record: ContextRecord, why: str, rpl_type: str | None = None) -> ContextView:
    """A record as shown, and why, with the subgroup result for her type of RPL where the source states one;
    remembered, since the same few records stand beside most answers (all three are immutable)."""
    return ContextView(
        **record.model_dump(include=set(COPIED)),
        randomized=record.randomized,
        subgroup=next((s for s in record.subgroups if s.rpl_type == rpl_type), None),
        direction_text=wording.DIRECTION_TEXT[record.direction] if record.direction else None,
        ci_low=record.ci_low,
        ci_high=record.ci_high,
        why_shown=why,
    )
