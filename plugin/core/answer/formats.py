"""How every number is written: ratios as published, CIs, P values, per-1000 risks and percentages. Templates use
these as filters and the core's own sentences call them, so a number reads the same in every channel."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from plugin.core.answer import wording
from plugin.core.answer.views import Absolute, ContextView, EstimateView


def fmt_ratio(value: float) -> str:
    """Ratios as published: two decimals (1.98, 13.05)."""
    return f"{value:.2f}"


def fmt_ci(estimate: EstimateView) -> str:
    return f"{fmt_ratio(estimate.ci_low)} to {fmt_ratio(estimate.ci_high)}"


def fmt_p(estimate: EstimateView) -> str:
    """'P < 0.0001' for a bound, 'P = 0.006' for an exact value, as the source printed it."""
    text = estimate.p_value_text
    return f"P {text}" if text[:1] in "<>=≤" else f"P = {text}"


def fmt_size(estimate: EstimateView) -> str:
    if estimate.n_studies is None and estimate.n_participants is None:
        return wording.SOURCES_SILENT
    parts = []
    if estimate.n_studies is not None:
        parts.append(f"{estimate.n_studies} studies")
    if estimate.n_participants is not None:
        parts.append(f"{estimate.n_participants} women")
    return ", ".join(parts)


def fmt_effect(record: ContextView) -> str:
    """A context record's effect as the record states it, with the measure and which way favours IVIG."""
    if record.estimate is not None and record.ci_low is not None and record.ci_high is not None:
        p = f", p {record.p}" if record.p else ""
        numbers = f"{fmt_ratio(record.estimate)} ({fmt_ratio(record.ci_low)} to {fmt_ratio(record.ci_high)}){p}"
        return f"{record.measure}: {numbers}; {record.direction_text}"
    if record.events and record.outcome:
        return f"{record.events} ({wording.OUTCOME_TEXT[record.outcome]})"
    return ""


def fmt_per_1000(probability: float) -> str:
    """A probability as a whole number per 1000, rounded half up from its exact decimal value."""
    return str((Decimal(repr(probability)) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fmt_signed_per_1000(value: float) -> str:
    rounded = Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return f"{rounded} more" if rounded > 0 else (f"{-rounded} fewer" if rounded < 0 else "no difference")


NOT_ESTIMABLE = "not estimable at this baseline"


def fmt_risk_cell(a: Absolute) -> str:
    """Risk with IVIG per 1000 with its CI, or why it is not shown; never a capped or zero-width value."""
    if a.risk_with_ivig is None or a.risk_with_ivig_ci_low is None:
        return NOT_ESTIMABLE
    high = fmt_per_1000(a.risk_with_ivig_ci_high) if a.risk_with_ivig_ci_high is not None else "not estimable"
    return f"{fmt_per_1000(a.risk_with_ivig)} per 1000 ({fmt_per_1000(a.risk_with_ivig_ci_low)} to {high})"


def fmt_risk_short(a: Absolute | None) -> str:
    """The risk with IVIG per 1000 and its CI in few words; "not estimable" where it is withheld."""
    if a is None or a.risk_with_ivig is None or a.risk_with_ivig_ci_low is None:
        return "not estimable"
    high = fmt_per_1000(a.risk_with_ivig_ci_high) if a.risk_with_ivig_ci_high is not None else "not estimable"
    return f"{fmt_per_1000(a.risk_with_ivig)} ({fmt_per_1000(a.risk_with_ivig_ci_low)} to {high})"


def fmt_difference_cell(a: Absolute) -> str:
    if a.risk_difference_per_1000 is None or a.risk_difference_per_1000_ci_low is None:
        return NOT_ESTIMABLE
    high = a.risk_difference_per_1000_ci_high
    upper = fmt_signed_per_1000(high) if high is not None else "not estimable"
    low = fmt_signed_per_1000(a.risk_difference_per_1000_ci_low)
    return f"{fmt_signed_per_1000(a.risk_difference_per_1000)} per 1000 ({low} to {upper})"


def fmt_percent(probability: float) -> str:
    return f"{(Decimal(repr(probability)) * 100).normalize():f}%"


def fmt_plain_number(value: float) -> str:
    """A value as the caller gave it, without a trailing ".0" (18.0 -> 18, 14.5 -> 14.5, 0.18 -> 0.18)."""
    return f"{value:g}"


DOI_RESOLVER = "https://doi.org/"


def fmt_link_text(link: str) -> str:
    """A reference's address as a reader copies it: "doi:10.1000/x" for a DOI, any other address as it is."""
    return f"doi:{link.removeprefix(DOI_RESOLVER)}" if link.startswith(DOI_RESOLVER) else link


def fmt_period(text: str) -> str:
    """End a sentence with one full stop, also after a quotation that ends with its own (“... events.”)."""
    return text if text.endswith((".", ".”")) else f"{text}."


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def fmt_month(date: str) -> str:
    """An ISO date as words, to the precision it has: "2026-11" is November 2026, "2026-12-07" 7 December 2026."""
    year, month, *day = date.split("-")
    return " ".join([*(str(int(d)) for d in day), MONTHS[int(month) - 1], year])


DIRECTION_SHORT = {"higher_favours_ivig": "above 1 favours IVIG", "lower_favours_ivig": "below 1 favours IVIG"}


@dataclass(frozen=True)
class RandomizedRow:
    """One line of the evidence layer's randomized table: a synthesis, its measure and direction, and its result
    with the subgroups that apply to her on the same line."""

    id: str
    short: str
    source: str
    measure: str
    result: str
    subgroups: int  # subgroup results on this line that apply to her


def fmt_interval(estimate: float, low: float, high: float) -> str:
    return f"{fmt_ratio(estimate)} ({fmt_ratio(low)} to {fmt_ratio(high)})"


def randomized_rows(context: tuple[ContextView, ...]) -> list[RandomizedRow]:
    """The randomized syntheses beside the answer, each with its subgroup results that apply to her. A ratio of
    live birth needs no direction on its line (the heading says above 1 favours IVIG); any other says its own."""
    shown = [c for c in context if c.kind == "rct_meta_analysis" and c.topic == "ivig_effect" and c.estimate]
    ids = {c.id for c in shown}
    rows = []
    for parent in (c for c in shown if c.subgroup_of not in ids):
        children = [c for c in shown if c.subgroup_of == parent.id]
        parts = [fmt_interval(parent.estimate or 0, parent.ci_low or 0, parent.ci_high or 0)]
        parts += [
            f"{c.subgroup_label} {fmt_interval(c.estimate or 0, c.ci_low or 0, c.ci_high or 0)}" for c in children
        ]
        if parent.subgroup is not None:
            sub = parent.subgroup
            parts.append(f"{sub.rpl_type} RPL {fmt_interval(sub.estimate, *sub.ci)}")
        label = f"{parent.subgroup_label} " if parent.subgroup_label else ""
        trials = f", {parent.n_studies} RCTs" if parent.n_studies else ""
        abbreviation = (parent.measure or "").split(" ")[0]
        measure = abbreviation
        if parent.outcome != "live_birth" and parent.direction:
            measure = (
                f"{wording.measure_name(abbreviation, parent.outcome or '')} ({DIRECTION_SHORT[parent.direction]})"
            )
        result = label + "; ".join(parts)
        rows.append(RandomizedRow(parent.id, parent.short, f"{parent.short}{trials}", measure, result, len(parts) - 1))
    return rows
