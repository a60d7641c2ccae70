"""answer(profile, tables, store) -> Answer: the pure core. No I/O, no HTTP, no Jinja.

The status table decides what kind of answer this is, the estimates table which estimates apply, the notes
table how well the shown estimates fit her, and the context table which randomized evidence, guidance and
safety notes stand beside it. Every number is copied from the evidence store; the non-randomized warning is
added here for every status, and `Answer` refuses to exist without it.
"""

from __future__ import annotations

import math

from plugin.core.answer import wording
from plugin.core.answer.baselines import baseline_of
from plugin.core.answer.glance import at_a_glance
from plugin.core.answer.model import (
    WARNING_CODE,
    Answer,
    AnswerWarning,
    AtAGlance,
    Note,
    Status,
    TraceStep,
    citation_of,
)
from plugin.core.answer.same import Kept
from plugin.core.answer.summary_of_findings import summary_of_findings
from plugin.core.answer.views import ContextView, EstimateView, context_view, her_basis, relative_of, view
from plugin.core.evidence.analysis import Analysis, Estimate, EvidenceStore
from plugin.core.evidence.context import ContextRecord
from plugin.core.rules.profile import FINDINGS, PatientProfile
from plugin.core.rules.table import DecisionTable, Match


def log_ci_width(estimate: Estimate) -> float:
    return math.log(estimate.ci[1]) - math.log(estimate.ci[0])


def order(estimates: list[Estimate]) -> list[Estimate]:
    """Subgroups first, the most precise (narrowest CI on the log scale) leading; the overall estimate last."""
    subgroups = sorted((e for e in estimates if e.role == "subgroup"), key=log_ci_width)
    return subgroups + [e for e in estimates if e.role == "overall"]


def step(match: Match) -> TraceStep:
    return TraceStep(table=match.table, rows=match.rows, why=match.why, inputs=match.inputs)


# What many answers share, made once: the records beside them (by the context rows that fired and her type of
# RPL) and layer 1 (by everything it reads).
KEPT = 4096
_context: Kept[tuple[ContextView, ...]] = Kept(KEPT)
_glance: Kept[AtAGlance] = Kept(KEPT)


def chosen_context(
    match: Match, table: DecisionTable, store: EvidenceStore, profile: PatientProfile
) -> tuple[ContextView, ...]:
    """The records the context rows named, in row order, each once, with the first row that chose it (the same
    tuple for the same rows, table, store and type of RPL)."""
    rpl_type = profile.rpl_type
    return _context.made((table, store), (match.rows, rpl_type), lambda: context_afresh(match, table, store, rpl_type))


def context_afresh(
    match: Match, table: DecisionTable, store: EvidenceStore, rpl_type: str | None
) -> tuple[ContextView, ...]:
    why_by_row = {row.id: row.why for row in table.rows}
    seen: dict[str, ContextView] = {}
    for row in (r for r in table.rows if r.id in match.rows):
        for record_id in row.then:
            if record_id not in seen:
                why = f"{row.id}: {why_by_row[row.id]}"
                seen[record_id] = context_view(store.context[record_id], why, rpl_type)
    return tuple(seen.values())


def pico_of(analysis: Analysis) -> tuple[str, str, str]:
    return analysis.pico.population, analysis.pico.intervention, analysis.pico.comparator


def randomized_sentence(record: ContextRecord | ContextView, who: str | None = None) -> str:
    """A randomized record as it states its result, in one sentence, no conclusion drawn."""
    if record.estimate is None or record.ci_low is None or record.ci_high is None or record.outcome is None:
        raise KeyError(f"{record.id} has no estimate")  # pragma: no cover - the store's loader refuses it
    measure = wording.measure_name((record.measure or "").split(" ")[0], record.outcome)
    return wording.randomized_sentence(
        record.short, record.n_studies, measure, record.estimate, record.ci_low, record.ci_high, who
    )


def bottom_line_of(
    status: Status,
    views: list[EstimateView],
    store: EvidenceStore,
    context: tuple[ContextView, ...],
    lead: Estimate | None,
) -> str:
    """The leading estimate beside the randomized evidence, no conclusion drawn; when the leading estimate asks a
    question randomized trials also asked (timing), their answer too."""
    randomized = randomized_sentence(store.context[store.question.randomized_lead])
    if status == "not_rpl":
        return wording.BOTTOM_LINE[status]
    if status != "matched" or lead is None:
        return f"{wording.BOTTOM_LINE[status]} {randomized}"
    first = views[0]
    indirect = f" It applies to her only indirectly: {first.directness_note}" if first.directness == "indirect" else ""
    shown = {c.id: c for c in context}
    subgroups = [randomized_sentence(shown[i], wording.SUBGROUP_WHO) for i in lead.randomized_subgroups if i in shown]
    return " ".join([f"{first.statement}{indirect}", randomized, *subgroups])


def answer(
    profile: PatientProfile, tables: dict[str, DecisionTable], store: EvidenceStore, *, ivig_order: bool = False
) -> Answer:
    """Match a profile to the evidence and say what applies, with the trace of every row that fired.

    `ivig_order` is true when the question comes with an order for IVIG (the safety points then come first).

    Raises:
        ProfileError: a sourced baseline that does not describe her.
    """
    analysis = store.analysis
    chosen_tables = store.question.tables
    status_match = tables[chosen_tables.status].match(profile)
    status: Status = status_match.then[0]  # type: ignore[assignment]  # the loader checked it is a status
    trace = [step(status_match)]
    consulted = dict(status_match.inputs)
    views: list[EstimateView] = []
    chosen: list[Estimate] = []
    warnings = [AnswerWarning(code=WARNING_CODE, text=analysis.warning.text)]
    baseline = baseline_of(profile, store)
    if status == "matched":
        estimates_match = tables[chosen_tables.estimates].match(profile)
        trace.append(step(estimates_match))
        consulted.update(estimates_match.inputs)
        chosen = order([store.estimate(ref)[1] for ref in estimates_match.then])
        views = [view(e, analysis, profile, baseline) for e in chosen]
        if any(v.absolute is not None and v.absolute.capped for v in views):
            warnings.append(AnswerWarning(code="absolute_effect_withheld", text=wording.WITHHELD_WARNING))
    notes_table = tables[chosen_tables.notes]
    notes_match = notes_table.match(profile, {"status": status})
    trace.append(step(notes_match))
    notes = [Note(code=code, text=notes_table.spec.notes[code]) for code in notes_match.then]
    context_table = tables[chosen_tables.context]
    context_match = context_table.match(profile, {"status": status, "ivig_order": True if ivig_order else None})
    trace.append(step(context_match))
    context = chosen_context(context_match, context_table, store, profile)
    missing = () if status == "not_rpl" else tuple(n for n, v in consulted.items() if v is None and n in FINDINGS)
    lead_record = store.context[store.question.randomized_lead]
    checks = tuple(notes_table.spec.glance[n.code] for n in notes if n.code in notes_table.spec.glance)
    basis = frozenset(her_basis(profile)) if status == "matched" else frozenset()
    subgroups = chosen[0].randomized_subgroups if chosen else ()
    # Layer 1 reads no absolute effect, so it is kept by the estimates short of theirs: one for every baseline.
    glance = _glance.made(
        (*map(relative_of, views), *context, lead_record),
        (status, len(views), missing, checks, basis, subgroups),
        lambda: at_a_glance(status, views, context, lead_record, missing, checks, set(basis), subgroups),
    )
    return Answer(
        status=status,
        analysis_id=analysis.id,
        question=analysis.question,
        at_a_glance=glance,
        bottom_line=bottom_line_of(status, views, store, context, chosen[0] if chosen else None),
        profile=profile,
        estimates=tuple(views),
        warnings=tuple(warnings),
        missing_information=missing,
        applicability_notes=tuple(notes),
        context=context,
        summary_of_findings=summary_of_findings(views, baseline, context, store, pico_of(analysis)),
        not_summarised=wording.NOT_SUMMARISED,
        at_ivig_order=ivig_order,
        trace=tuple(trace),
        citation=citation_of(analysis),
        evidence_version=store.version,
        evidence_label=store.label,
        sources_last_searched=store.sources_last_searched,
    )
