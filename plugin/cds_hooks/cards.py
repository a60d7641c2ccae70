"""Answer -> CDS Hooks cards. Every number on a card is read from the `Answer`; the detail markdown comes from a
template that must carry the warning."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import uuid4

from plugin.cds_hooks.models import DETAIL_READS, DETAIL_TEMPLATE, Card, Link, Source
from plugin.core.answer.model import Answer
from plugin.core.answer.render import Renderer
from plugin.core.answer.wording import SELECTION_SHORT
from plugin.core.rules.profile import PatientProfile
from plugin.fhir.chart import Finding
from plugin.web.links import DECISION_AID_LABEL, decision_aid_url, widget_query


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


def decision_aid_link(profile: PatientProfile, base_url: str) -> Link:
    """The decision aid for the conversation with the patient, for the same findings (as the widget reads them)."""
    return Link(label=DECISION_AID_LABEL, url=decision_aid_url(profile, base_url), type="absolute")


# The profile fields a card names, as it names them, in the order it lists them.
USED = (
    ("prior_pregnancy_losses", "Prior pregnancy losses"),
    ("nk_cell_percent", "Peripheral-blood NK cells"),
    ("autoimmune_conditions", "Autoimmune"),
    ("th1_th2_ratio_elevated", "Th1/Th2 elevated"),
    ("ivig_start", "IVIG would start"),
    ("rpl_type", "RPL"),
)


def shown(field: str, value: object) -> str:
    if field == "nk_cell_percent":
        return f"{value}%"
    if isinstance(value, tuple):  # the conditions, as clinicians abbreviate them (APS, SLE)
        return ", ".join(SELECTION_SHORT[str(v)] for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("_", " ")


def dated(finding: Finding) -> str:
    return finding.source + (f", {finding.date}" if finding.date else "")


def chart_notes(
    findings: Sequence[Finding], unread: Sequence[tuple[str, int]] = (), profile: PatientProfile | None = None
) -> str:
    """Each finding the answer used, with where in her chart it came from and its date, so a stale result is
    visible; chart findings that filled no field after them; and how many resources of her chart could not be read,
    so an answer built without them does not pass for one built from all of it."""
    fields = {field for field, _ in USED}
    lines = []
    for field, label in USED if profile is not None else ():
        value = getattr(profile, field)
        if value is not None:
            sources = "; ".join(dated(f) for f in findings if f.field == field)
            lines.append(f"- {label}: {shown(field, value)}" + (f" ({sources})" if sources else ""))
    lines += [f"- {f.what}: {dated(f)}" for f in findings if profile is None or f.field not in fields]
    notes = "\n**Findings used**, with where each came from:\n\n" + "\n".join(lines) + "\n" if lines else ""
    if unread:
        counted = [f"{count} {kind}" + ("s" if count != 1 else "") for kind, count in unread]
        notes += (
            f"\n**Not read from the chart:** {' and '.join(counted)} could not be read (not valid FHIR R4 where this "
            "service reads); this card does not take them into account.\n"
        )
    return notes


def cards_for(
    answer: Answer,
    findings: Sequence[Finding],
    renderer: Renderer,
    base_url: str,
    unread: Sequence[tuple[str, int]] = (),
) -> tuple[Card, ...]:
    """One card for this answer, or none when the evidence is not about this patient (`not_rpl`).

    At an IVIG order the card is a `warning`: the regulatory and safety points lead its detail, rendered once for
    each value of the answer fields it reads (most cards share one). `unread` counts the chart's resources, by
    type, that could not be read.
    """
    if answer.status == "not_rpl":
        return ()
    base = base_url.rstrip("/")
    detail = renderer.render_reading(DETAIL_TEMPLATE, answer, DETAIL_READS)
    card = Card(
        uuid=uuid4(),
        summary=summary(answer),
        detail=detail + chart_notes(findings, unread, answer.profile),
        indicator="warning" if answer.at_ivig_order else "info",
        source=Source(label=answer.citation.short, url=answer.citation.url),
        links=(widget_link(answer.profile, base), decision_aid_link(answer.profile, base)),
    )
    return (card,)
