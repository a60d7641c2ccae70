"""Answer -> CDS Hooks cards. Every number on a card is read from the `Answer`; the detail markdown comes from a
template that must carry the warning."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import uuid4

from plugin.cds_hooks.models import DETAIL_TEMPLATE, SUMMARY_LIMIT, Card, Link, Source
from plugin.core.answer import Answer
from plugin.core.profile import PatientProfile
from plugin.core.render import Renderer, fmt_ratio
from plugin.core.widget_query import widget_query
from plugin.fhir.chart import Finding

SHORT_NAMES = {
    "prior_pregnancy_losses": "number of losses",
    "nk_cell_percent": "NK-cell %",
    "autoimmune_conditions": "autoimmune status",
    "th1_th2_ratio_elevated": "Th1/Th2 ratio",
    "ivig_start": "IVIG timing",
    "baseline_live_birth_risk": "baseline risk",
}


def summary(answer: Answer) -> str:
    """The card's one sentence (< 140 characters): the leading estimate and its certainty, or what is missing."""
    if answer.status == "matched":
        lead = answer.estimates[0]
        numbers = f"RR {fmt_ratio(lead.rr)} ({fmt_ratio(lead.ci_low)}-{fmt_ratio(lead.ci_high)})"
        tail = f"{lead.certainty.label} certainty, non-randomized studies."
        full = f"IVIG and live birth, {lead.label}: {numbers}. {tail}"
        return full if len(full) < SUMMARY_LIMIT else f"IVIG and live birth: {numbers}. {tail}"
    if answer.status == "insufficient_information":
        needed = ", ".join(SHORT_NAMES[name] for name in answer.missing_information)
        return f"IVIG evidence in RPL: no estimate matched yet; needs {needed}."
    return "IVIG evidence in RPL does not apply: the studies only included women with an immune finding."


def widget_link(profile: PatientProfile, base_url: str) -> Link:
    """The widget for this profile: one query parameter per known field, conditions repeated, `none` for []."""
    query = widget_query(profile)
    return Link(
        label="Open the IVIG evidence widget for these findings", url=f"{base_url}/widget{query}", type="absolute"
    )


def chart_notes(findings: Sequence[Finding]) -> str:
    """Where each datum came from, with its date, so a stale result is visible on the card."""
    if not findings:
        return ""
    lines = [f"- {f.what}: {f.source}" + (f", {f.date}" if f.date else "") for f in findings]
    return "\n**Taken from the chart:**\n\n" + "\n".join(lines) + "\n"


def cards_for(answer: Answer, findings: Sequence[Finding], renderer: Renderer, base_url: str) -> tuple[Card, ...]:
    """One `info` card for this answer, or none when the evidence is not about this patient (`not_rpl`)."""
    if answer.status == "not_rpl":
        return ()
    base = base_url.rstrip("/")
    card = Card(
        uuid=uuid4(),
        summary=summary(answer),
        detail=renderer.render_template(DETAIL_TEMPLATE, answer) + chart_notes(findings),
        indicator="info",
        source=Source(label=answer.citation.short, url=answer.citation.url),
        links=(widget_link(answer.profile, base),),
    )
    return (card,)
