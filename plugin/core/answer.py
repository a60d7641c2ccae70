"""answer(profile, tables, store) -> Answer: the pure core. No I/O, no HTTP, no Jinja.

The status table decides what kind of answer this is, the estimates table which estimates apply, the notes
table how well the shown estimates fit her. Every number is copied from the evidence store; the
non-randomized warning is added here for every status, and `Answer` refuses to exist without it.
"""

from __future__ import annotations

import math
from typing import Literal, Self

from pydantic import Field, model_validator

from plugin.core import absolute, wording
from plugin.core.evidence import Analysis, CertaintyLevel, CertaintyReason, Estimate, EvidenceStore, Frozen, Provenance
from plugin.core.profile import PatientProfile
from plugin.core.rules import DecisionTable, Match, Value

Status = Literal["matched", "insufficient_information", "outside_population", "not_rpl"]
WARNING_CODE = "nonrandomized_evidence"
ANALYSIS_ID = "habets-2022-ivig-rpl"
TABLE_IDS = {kind: f"{ANALYSIS_ID}-{kind}" for kind in ("status", "estimates", "notes")}


class Absolute(absolute.AbsoluteEffect):
    """Anticipated absolute effect for the given baseline risk; `note` says why when a value had to be capped."""

    note: str | None = None


class CertaintyView(Frozen):
    level: CertaintyLevel
    label: str
    symbol: str
    reasons: tuple[CertaintyReason, ...]


class EstimateView(Frozen):
    """One estimate as shown: the published numbers, their source, their certainty and the one allowed sentence."""

    id: str
    label: str
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
    statement: str
    where: str
    provenance: Provenance
    absolute: Absolute | None = None


class AnswerWarning(Frozen):
    code: str
    text: str


class Note(Frozen):
    code: str
    text: str


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
    bottom_line: str
    profile: PatientProfile
    estimates: tuple[EstimateView, ...]
    warnings: tuple[AnswerWarning, ...] = Field(min_length=1)
    missing_information: tuple[str, ...]
    applicability_notes: tuple[Note, ...]
    trace: tuple[TraceStep, ...]
    citation: Citation
    evidence_version: str

    @model_validator(mode="after")
    def _carries_the_nonrandomized_warning(self) -> Self:
        if not any(w.code == WARNING_CODE for w in self.warnings):
            raise ValueError(f"an answer must carry the {WARNING_CODE} warning")
        return self

    @property
    def nonrandomized_warning(self) -> AnswerWarning:
        return next(w for w in self.warnings if w.code == WARNING_CODE)


def citation_of(analysis: Analysis) -> Citation:
    """The analysis's source as every channel cites it."""
    source = analysis.source
    return Citation(text=source.citation, short=source.short, doi=source.doi, url=source.url)


def log_ci_width(estimate: Estimate) -> float:
    return math.log(estimate.ci[1]) - math.log(estimate.ci[0])


def absolute_for(estimate: Estimate, baseline: float) -> Absolute:
    effect = absolute.absolute_effect(baseline, estimate.point, *estimate.ci)
    note = None
    if effect.capped:
        note = wording.CAPPED_NOTE.format(which=f" {estimate.point:.2f} ({estimate.ci[0]:.2f} to {estimate.ci[1]:.2f})")
    return Absolute(**dict(effect), note=note)


def view(estimate: Estimate, analysis: Analysis, baseline: float | None) -> EstimateView:
    low, high = estimate.ci
    level = estimate.certainty.level
    return EstimateView(
        id=analysis.ref(estimate),
        label=estimate.label,
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
            reasons=estimate.certainty.reasons,
        ),
        statement=wording.statement(level, low, high, estimate.population_phrase),
        where=estimate.where,
        provenance=estimate.provenance,
        absolute=None if baseline is None else absolute_for(estimate, baseline),
    )


def order(estimates: list[Estimate]) -> list[Estimate]:
    """Subgroups first, the most precise (narrowest CI on the log scale) leading; the overall estimate last."""
    subgroups = sorted((e for e in estimates if e.role == "subgroup"), key=log_ci_width)
    return subgroups + [e for e in estimates if e.role == "overall"]


def step(match: Match) -> TraceStep:
    return TraceStep(table=match.table, rows=match.rows, why=match.why, inputs=match.inputs)


def answer(profile: PatientProfile, tables: dict[str, DecisionTable], store: EvidenceStore) -> Answer:
    """Match a profile to the evidence and say what applies, with the trace of every row that fired."""
    analysis = store.analyses[ANALYSIS_ID]
    status_match = tables[TABLE_IDS["status"]].match(profile)
    status: Status = status_match.then[0]  # type: ignore[assignment]  # the loader checked it is a status
    trace = [step(status_match)]
    consulted = dict(status_match.inputs)
    views: list[EstimateView] = []
    notes: list[Note] = []
    warnings = [AnswerWarning(code=WARNING_CODE, text=analysis.warning.text)]
    bottom_line = wording.BOTTOM_LINE.get(status, "")
    if status == "matched":
        estimates_match = tables[TABLE_IDS["estimates"]].match(profile)
        trace.append(step(estimates_match))
        consulted.update(estimates_match.inputs)
        chosen = order([store.estimate(ref)[1] for ref in estimates_match.then])
        views = [view(e, analysis, profile.baseline_live_birth_risk) for e in chosen]
        bottom_line = views[0].statement
        if any(v.absolute is not None and v.absolute.capped for v in views):
            warnings.append(AnswerWarning(code="absolute_effect_capped", text=wording.CAPPED_NOTE.format(which="")))
        notes_table = tables[TABLE_IDS["notes"]]
        notes_match = notes_table.match(profile)
        trace.append(step(notes_match))
        notes = [Note(code=code, text=notes_table.spec.notes[code]) for code in notes_match.then]
    missing = tuple(name for name, value in consulted.items() if value is None) if status != "not_rpl" else ()
    return Answer(
        status=status,
        analysis_id=analysis.id,
        question=analysis.question,
        bottom_line=bottom_line,
        profile=profile,
        estimates=tuple(views),
        warnings=tuple(warnings),
        missing_information=missing,
        applicability_notes=tuple(notes),
        trace=tuple(trace),
        citation=citation_of(analysis),
        evidence_version=store.version,
    )
