"""The first layer of an answer, `at_a_glance`: what a clinician reads in ten seconds, in at most 60 words.

Made from the answer's parts and the wording tables, never by a template: the status in words with the
non-randomized warning and the leading estimate with its certainty, a value that looks like the wrong unit, the
randomized contrast (with the randomized timing subgroup that applies), the standard care a guideline states,
the positions that disagree (and the tests guidelines advise against), and the question to ask first.

Every part is kept in the structure. The sentence holds them in that order; when all of them would pass the
budget, the least needed give way first (the tests advice, then the timing subgroup, then the positions; the
timing subgroup stays longest when the leading estimate is about timing), and the evidence layer shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

from plugin.core.answer import wording
from plugin.core.answer.formats import fmt_period, fmt_ratio
from plugin.core.answer.model import AtAGlance, Status
from plugin.core.answer.views import ContextView, EstimateView
from plugin.core.evidence.context import ContextRecord

WORD_BUDGET = 60
# Findings whose tests guidelines advise against: named beside the question about a result already on file, and
# when such a finding is what matched her.
TESTED_FINDINGS = ("nk_cell_percent", "th1_th2_ratio_elevated")


@dataclass(frozen=True)
class Part:
    """One part of the sentence, and what it becomes when it gives way (`rank` 0 never does; 1 gives way first)."""

    text: str
    rank: int = 0
    shorter: str = ""


def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def estimate_clause(lead: EstimateView, shown_indirect: bool = False) -> str:
    """The leading estimate with its certainty in words: "NK >12% RR 2.32 (1.77 to 3.02), very uncertain";
    "(indirect)" after its label unless the headline already says every estimate is."""
    indirect = wording.INDIRECT if lead.directness == "indirect" and not shown_indirect else ""
    numbers = f"RR {fmt_ratio(lead.rr)} ({fmt_ratio(lead.ci_low)} to {fmt_ratio(lead.ci_high)})"
    return f"{lead.short_label}{indirect} {numbers}, {wording.CERTAINTY_WORDS[lead.certainty.level]}"


def opening(status: Status, headline: str, estimate: str | None) -> str:
    """The status in words with the warning in one clause, and for a match the leading estimate."""
    if estimate is None:
        return f"{headline}: {wording.GLANCE_WHY[status]}"
    why = wording.GLANCE_WHY[status]
    framed = f"{headline[:-1]}; {why})" if headline.endswith(")") else f"{headline} ({why})"
    return f"{framed}: {estimate}."


def subgroup_clauses(context: tuple[ContextView, ...]) -> list[str]:
    """Randomized subgroups that ask her treatment question (timing), as "started before conception, RR 1.67 ..."."""
    clauses = []
    for c in context:
        if c.topic == "ivig_effect" and c.glance and c.estimate is not None and c.ci_low and c.ci_high:
            measure = (c.measure or "").split(" ")[0]
            ci = f"{fmt_ratio(c.ci_low)} to {fmt_ratio(c.ci_high)}"
            clauses.append(f"{c.glance}, {measure} {fmt_ratio(c.estimate)} ({ci}; {c.short})")
    return clauses


def contrast_of(status: Status, lead: ContextRecord) -> str | None:
    if status == "not_rpl" or lead.ci is None:
        return None
    finding = wording.randomized_finding(*lead.ci, higher_favours_ivig=lead.direction == "higher_favours_ivig")
    return f"{wording.RANDOMIZED_WHO[status]}: {finding} ({lead.short})"


def asked_first(status: Status, missing: tuple[str, ...]) -> str | None:
    """The finding to ask about first: only where it could change what kind of answer this is."""
    asked = [f for f in wording.ASK_FIRST if f in missing]
    if status == "not_rpl":
        return None
    if status != "insufficient_information":
        asked = [f for f in asked if f == "prior_pregnancy_losses"]
    return asked[0] if asked else None


def tested(status: Status, missing: tuple[str, ...], basis: set[str]) -> list[str]:
    """The findings whose tests guidelines advise against, where one is missing or is what matched her."""
    if status == "not_rpl":
        return []
    return [f for f in TESTED_FINDINGS if f in missing or f in basis]


def safety_of(context: tuple[ContextView, ...]) -> str:
    """The harms named: each safety point in the curators' words, then each harm a shown source states, quoted."""
    named = [c.gist for c in context if c.topic == "safety" and c.gist]
    named += [f"{c.short}: “{c.harm}”" for c in context if c.harm]
    return fmt_period(wording.SAFETY_LEAD + "; ".join(named))


def summary_of(status: Status, lead: EstimateView | None, randomized_lead: ContextRecord) -> str:
    """One line under 140 characters: the leading estimate, labelled, beside the randomized contrast."""
    contrast = ""
    if randomized_lead.ci is not None:
        higher = randomized_lead.direction == "higher_favours_ivig"
        contrast = "; RCTs in RPL: " + wording.randomized_finding(*randomized_lead.ci, higher_favours_ivig=higher)
    if lead is None:
        return wording.SUMMARY_WITHOUT_ESTIMATE[status] + contrast
    certainty = lead.certainty.label.lower()
    indirect = wording.INDIRECT if lead.directness == "indirect" else ""
    estimate = f"non-randomized RR {fmt_ratio(lead.rr)}, {certainty} certainty"
    return f"IVIG for RPL, {lead.short_label}{indirect}: {estimate}{contrast}"


def within_budget(parts: list[Part]) -> str:
    """The parts in order; while the sentence is over the budget, the parts of the next rank give way."""
    kept = [p.text for p in parts]
    for rank in sorted({p.rank for p in parts if p.rank}):
        if sum(len(text.split()) for text in kept) <= WORD_BUDGET:
            break
        kept = [p.shorter if p.rank == rank else text for p, text in zip(parts, kept, strict=True)]
    return " ".join(text for text in kept if text)


def at_a_glance(
    status: Status,
    views: list[EstimateView],
    context: tuple[ContextView, ...],
    randomized_lead: ContextRecord,
    missing: tuple[str, ...],
    checks: tuple[str, ...],
    basis: set[str],
    lead_subgroups: tuple[str, ...] = (),
) -> AtAGlance:
    """Layer 1, assembled from the answer's parts. `basis` names the findings that matched her; `checks` are the
    short notes a clinician must see first (a value that looks like the wrong unit); `lead_subgroups` the
    randomized subgroups that ask the leading estimate's own question, which then stay longest."""
    indirect = bool(views) and all(v.directness == "indirect" for v in views)
    headline = wording.GLANCE_HEADLINE[status] + (wording.INDIRECT if indirect else "")
    estimate = estimate_clause(views[0], shown_indirect=indirect) if views else None
    contrast = contrast_of(status, randomized_lead)
    full_contrast = "; ".join([contrast, *subgroup_clauses(context)]) + "." if contrast else None
    leads = any(c.id in lead_subgroups and c.glance for c in context)
    positions = [c.glance for c in context if c.topic == "ivig_position" and c.glance] if contrast else []
    differ = wording.POSITIONS_DIFFER.format(positions="; ".join(positions)) if positions else ""
    asked = asked_first(status, missing)
    advised = tested(status, missing, basis)
    tests = wording.TESTS_ADVICE_BOTH if len(advised) == 2 else " ".join(wording.TESTS_ADVICE[f] for f in advised)
    standard = " ".join(sentence_case(c.glance) + "." for c in context if c.topic == "standard_care" and c.glance)
    value_check = " ".join(checks)
    ask = wording.ASK_FIRST[asked] if asked else None
    parts = [
        Part(opening(status, headline, estimate)),
        Part(value_check),
        Part(full_contrast or "", rank=4 if leads else 2, shorter=f"{contrast}." if contrast else ""),
        Part(standard),
        Part(differ, rank=3),
        Part(tests, rank=1),
        Part(f"{wording.ASK_LEAD} {ask[0].lower()}{ask[1:]}" if ask else ""),
    ]
    return AtAGlance(
        headline=headline,
        certainty=estimate,
        randomized_contrast=full_contrast,
        randomized_lead=randomized_lead.id if contrast else None,
        guidance=" ".join(p for p in (differ, tests) if p) or None,
        standard_care=standard or None,
        ask_next=ask,
        value_check=value_check or None,
        tests=tests or None,
        safety=safety_of(context),
        sentence=within_budget(parts),
        summary=summary_of(status, views[0] if views else None, randomized_lead),
    )
