"""Answer -> CDS Hooks cards. Every number on a card is read from the `Answer`; the detail markdown comes from a
template that must carry the warning."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import uuid4

from plugin.cds_hooks.models import DETAIL_TEMPLATE, Card, Link, Source
from plugin.core.answer.lru import Lru
from plugin.core.answer.model import Answer
from plugin.core.answer.render import Renderer
from plugin.core.rules.profile import PatientProfile
from plugin.fhir.chart import Finding
from plugin.web.links import widget_query


def summary(answer: Answer) -> str:
    """The card's one line (< 140 characters), from the answer's first layer: the labelled non-randomized estimate
    beside the randomized contrast, never the favourable number alone."""
    return answer.at_a_glance.summary


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
) -> tuple[Card, ...]:
    """One card for this answer, or none when the evidence is not about this patient (`not_rpl`).

    At an IVIG order the card is a `warning`: the regulatory and safety points lead its detail. `details` gives the
    rendered detail (a `CardDetails`), or it is rendered here.
    """
    if answer.status == "not_rpl":
        return ()
    base = base_url.rstrip("/")
    detail = details(answer) if details is not None else renderer.render_template(DETAIL_TEMPLATE, answer)
    card = Card(
        uuid=uuid4(),
        summary=summary(answer),
        detail=detail + chart_notes(findings),
        indicator="warning" if answer.at_ivig_order else "info",
        source=Source(label=answer.citation.short, url=answer.citation.url),
        links=(widget_link(answer.profile, base),),
    )
    return (card,)
