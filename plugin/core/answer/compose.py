"""answer(profile, tables, store) -> Answer: the pure core. No I/O, no HTTP, no Jinja.

The status table decides what kind of answer this is, the estimates table which estimates apply, the notes
table how well the shown estimates fit her, and the context table which randomized evidence, guidance and
safety notes stand beside it. Every number is copied from the evidence store; the non-randomized warning is
added here for every status, and `Answer` refuses to exist without it.
"""

from __future__ import annotations

import math

from plugin.core.answer import wording
from plugin.core.answer.model import WARNING_CODE, Answer, AnswerWarning, Note, Status, TraceStep, citation_of
from plugin.core.answer.summary_of_findings import summary_of_findings
from plugin.core.answer.views import ContextView, EstimateView, baseline_of, context_view, view
from plugin.core.evidence.analysis import Analysis, Estimate, EvidenceStore
from plugin.core.rules.profile import PatientProfile
from plugin.core.rules.table import DecisionTable, Match


def log_ci_width(estimate: Estimate) -> float:
    return math.log(estimate.ci[1]) - math.log(estimate.ci[0])


def order(estimates: list[Estimate]) -> list[Estimate]:
    """Subgroups first, the most precise (narrowest CI on the log scale) leading; the overall estimate last."""
    subgroups = sorted((e for e in estimates if e.role == "subgroup"), key=log_ci_width)
    return subgroups + [e for e in estimates if e.role == "overall"]


def step(match: Match) -> TraceStep:
    return TraceStep(table=match.table, rows=match.rows, why=match.why, inputs=match.inputs)


def chosen_context(match: Match, table: DecisionTable, store: EvidenceStore) -> list[ContextView]:
    """The records the context rows named, in row order, each once, with the first row that chose it."""
    why_by_row = {row.id: row.why for row in table.rows}
    seen: dict[str, ContextView] = {}
    for row in (r for r in table.rows if r.id in match.rows):
        for record_id in row.then:
            if record_id not in seen:
                seen[record_id] = context_view(store.context[record_id], f"{row.id}: {why_by_row[row.id]}")
    return list(seen.values())


def pico_of(analysis: Analysis) -> tuple[str, str, str]:
    return analysis.pico.population, analysis.pico.intervention, analysis.pico.comparator


def randomized_lead(store: EvidenceStore) -> str:
    record = store.context[store.question.randomized_lead]
    if record.estimate is None or record.ci is None:  # pragma: no cover - the store's loader refuses it
        raise KeyError(f"{record.id} has no estimate")
    return wording.randomized_sentence(
        record.short, record.n_studies, "RR of no live birth", record.estimate, *record.ci
    )


def bottom_line_of(status: Status, views: list[EstimateView], store: EvidenceStore) -> str:
    """The first line: for a match, the leading estimate beside the randomized evidence, no conclusion drawn."""
    if status == "not_rpl":
        return wording.BOTTOM_LINE[status]
    if status != "matched":
        return f"{wording.BOTTOM_LINE[status]} {randomized_lead(store)}"
    lead = views[0]
    indirect = f" It applies to her only indirectly: {lead.directness_note}" if lead.directness == "indirect" else ""
    return f"{lead.statement}{indirect} {randomized_lead(store)}"


def answer(
    profile: PatientProfile, tables: dict[str, DecisionTable], store: EvidenceStore, *, ivig_order: bool = False
) -> Answer:
    """Match a profile to the evidence and say what applies, with the trace of every row that fired.

    `ivig_order` is true when the question comes with an order for IVIG (the safety points then come first).
    """
    analysis = store.analysis
    chosen_tables = store.question.tables
    status_match = tables[chosen_tables.status].match(profile)
    status: Status = status_match.then[0]  # type: ignore[assignment]  # the loader checked it is a status
    trace = [step(status_match)]
    consulted = dict(status_match.inputs)
    views: list[EstimateView] = []
    notes: list[Note] = []
    warnings = [AnswerWarning(code=WARNING_CODE, text=analysis.warning.text)]
    if status == "matched":
        estimates_match = tables[chosen_tables.estimates].match(profile)
        trace.append(step(estimates_match))
        consulted.update(estimates_match.inputs)
        chosen = order([store.estimate(ref)[1] for ref in estimates_match.then])
        baseline = baseline_of(profile, store)
        views = [view(e, analysis, profile, baseline) for e in chosen]
        if any(v.absolute is not None and v.absolute.capped for v in views):
            warnings.append(AnswerWarning(code="absolute_effect_withheld", text=wording.WITHHELD_WARNING))
        notes_table = tables[chosen_tables.notes]
        notes_match = notes_table.match(profile)
        trace.append(step(notes_match))
        notes = [Note(code=code, text=notes_table.spec.notes[code]) for code in notes_match.then]
    context_table = tables[chosen_tables.context]
    context_match = context_table.match(profile, {"status": status, "ivig_order": True if ivig_order else None})
    trace.append(step(context_match))
    missing = tuple(name for name, value in consulted.items() if value is None) if status != "not_rpl" else ()
    return Answer(
        status=status,
        analysis_id=analysis.id,
        question=analysis.question,
        bottom_line=bottom_line_of(status, views, store),
        profile=profile,
        estimates=tuple(views),
        warnings=tuple(warnings),
        missing_information=missing,
        applicability_notes=tuple(notes),
        context=tuple(chosen_context(context_match, context_table, store)),
        summary_of_findings=summary_of_findings(views, profile, store, pico_of(analysis)),
        not_summarised=wording.NOT_SUMMARISED,
        at_ivig_order=ivig_order,
        trace=tuple(trace),
        citation=citation_of(analysis),
        evidence_version=store.version,
    )
