"""Answer -> CDS Hooks cards. Every number on a card is read from the `Answer`; the detail markdown comes from a
template that must carry the warning."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import uuid4

from plugin.cds_hooks.models import DETAIL_TEMPLATE, Card, Link, Source
from plugin.core.answer.lru import Lru
from plugin.core.answer.model import Answer
from plugin.core.answer.render import Renderer, fmt_ratio
from plugin.core.rules.profile import PatientProfile
from plugin.fhir.chart import Finding
from plugin.web.links import widget_query


def summary(answer: Answer) -> str:
    """The card's one sentence (< 140 characters): names non-randomized, keeps the estimate's label, never a test."""
    if answer.status == "matched":
        lead = answer.estimates[0]
        numbers = f"RR {fmt_ratio(lead.rr)} ({fmt_ratio(lead.ci_low)}-{fmt_ratio(lead.ci_high)})"
        return f"IVIG, {lead.short_label}: {numbers}, non-randomized, {lead.certainty.label.lower()} certainty"
    if answer.status == "insufficient_information":
        return "IVIG in RPL: no non-randomized estimate matched; randomized trials found no clear benefit"
    return "IVIG in RPL: the non-randomized review does not apply; randomized trials found no clear benefit"


def widget_link(profile: PatientProfile, base_url: str) -> Link:
    """The widget for this profile: one query parameter per known field, conditions repeated, `none` for []."""
    query = widget_query(profile)
    return Link(
        label="Open the IVIG evidence widget for these findings", url=f"{base_url}/widget{query}", type="absolute"
    )


def chart_notes(findings: Sequence[Finding], unread: Sequence[tuple[str, int]] = ()) -> str:
    """Where each datum came from, with its date, so a stale result is visible on the card; and how many resources
    of her chart could not be read, so an answer built without them does not pass for one built from all of it."""
    notes = ""
    if findings:
        lines = [f"- {f.what}: {f.source}" + (f", {f.date}" if f.date else "") for f in findings]
        notes += "\n**Taken from the chart:**\n\n" + "\n".join(lines) + "\n"
    if unread:
        counted = [f"{count} {kind}" + ("s" if count != 1 else "") for kind, count in unread]
        notes += (
            f"\n**Not read from the chart:** {' and '.join(counted)} could not be read (not valid FHIR R4 in an "
            "element this service uses); this card does not take what they say into account.\n"
        )
    return notes


class CardDetails:
    """The detail markdown of a card, rendered once per answer: an answer from the plugin is a function of the
    evidence version, the profile and whether it is asked at an IVIG order, so those three are the key."""

    def __init__(self, renderer: Renderer, size: int) -> None:
        self.renderer = renderer
        self.rendered: Lru[tuple[str, PatientProfile, bool], str] = Lru(size)

    def __call__(self, answer: Answer) -> str:
        key = (answer.evidence_version, answer.profile, answer.at_ivig_order)
        detail = self.rendered.get(key)
        if detail is None:
            detail = self.renderer.render_template(DETAIL_TEMPLATE, answer)
            self.rendered.put(key, detail)
        return detail


def cards_for(
    answer: Answer,
    findings: Sequence[Finding],
    renderer: Renderer,
    base_url: str,
    details: Callable[[Answer], str] | None = None,
    unread: Sequence[tuple[str, int]] = (),
) -> tuple[Card, ...]:
    """One card for this answer, or none when the evidence is not about this patient (`not_rpl`).

    At an IVIG order the card is a `warning`: the regulatory and safety points lead its detail. `details` gives the
    rendered detail (a `CardDetails`), or it is rendered here. `unread` counts the chart's resources, by type, that
    could not be read.
    """
    if answer.status == "not_rpl":
        return ()
    base = base_url.rstrip("/")
    detail = details(answer) if details is not None else renderer.render_template(DETAIL_TEMPLATE, answer)
    card = Card(
        uuid=uuid4(),
        summary=summary(answer),
        detail=detail + chart_notes(findings, unread),
        indicator="warning" if answer.at_ivig_order else "info",
        source=Source(label=answer.citation.short, url=answer.citation.url),
        links=(widget_link(answer.profile, base),),
    )
    return (card,)
