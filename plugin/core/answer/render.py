"""Jinja rendering of an `Answer`: the number-format filters and render(answer, format).

Templates receive the answer and nothing else, and never compute: numbers are formatted only by the
filters here. Rendering fails if the output lacks the non-randomized warning, so no channel can drop it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

import jinja2

from plugin.core.answer import wording
from plugin.core.answer.evidence_summary import EvidenceSummary
from plugin.core.answer.model import Answer
from plugin.core.answer.views import Absolute, ContextView, EstimateView

Format = Literal["markdown", "text"]
TEMPLATES: dict[Format, str] = {"markdown": "chat/answer.md.j2", "text": "chat/answer.txt.j2"}
EVIDENCE_TEMPLATE = "chat/evidence.md.j2"

FIELD_LABELS = {
    "prior_pregnancy_losses": "number of prior pregnancy losses",
    "nk_cell_percent": "peripheral-blood NK-cell percentage",
    "autoimmune_conditions": "autoimmune conditions (or none)",
    "th1_th2_ratio_elevated": "whether the Th1/Th2 ratio is elevated",
    "ivig_start": "when IVIG would start",
    "baseline_live_birth_risk": "baseline chance of live birth without IVIG",
    "baseline_live_birth_source": "sourced baseline chance of live birth",
}
STATUS_HEADINGS = {
    "matched": "Evidence that applies to this patient",
    "insufficient_information": "More information needed",
    "outside_population": "Outside the population studied",
    "not_rpl": "Not recurrent pregnancy loss",
}


# Template names end in .j2, so the escaping test must name the double suffixes too.
AUTOESCAPED = ("html", "svg", "html.j2", "svg.j2")


class MissingWarningError(RuntimeError):
    """A template rendered without the non-randomized warning: a defect, never shown to a user."""


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


def fmt_difference_cell(a: Absolute) -> str:
    if a.risk_difference_per_1000 is None or a.risk_difference_per_1000_ci_low is None:
        return NOT_ESTIMABLE
    high = a.risk_difference_per_1000_ci_high
    upper = fmt_signed_per_1000(high) if high is not None else "not estimable"
    low = fmt_signed_per_1000(a.risk_difference_per_1000_ci_low)
    return f"{fmt_signed_per_1000(a.risk_difference_per_1000)} per 1000 ({low} to {upper})"


def fmt_percent(probability: float) -> str:
    return f"{(Decimal(repr(probability)) * 100).normalize():f}%"


def environment(templates_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=AUTOESCAPED, default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        ratio=fmt_ratio,
        ci=fmt_ci,
        p=fmt_p,
        size=fmt_size,
        per_1000=fmt_per_1000,
        signed_per_1000=fmt_signed_per_1000,
        percent=fmt_percent,
        effect=fmt_effect,
        risk_cell=fmt_risk_cell,
        difference_cell=fmt_difference_cell,
        field_label=FIELD_LABELS.__getitem__,
    )
    env.globals["status_heading"] = STATUS_HEADINGS.__getitem__
    env.globals["missing_heading"] = wording.MISSING_HEADING
    return env


class Renderer:
    """Renders answers with one loaded template environment."""

    def __init__(self, templates_dir: Path) -> None:
        self.env = environment(templates_dir)

    def render_template(self, name: str, answer: Answer) -> str:
        """Render any answer template. Raises MissingWarningError if the warning text is not in the output."""
        output = self.env.get_template(name).render(answer=answer)
        if answer.nonrandomized_warning.text not in output:
            raise MissingWarningError(f"{name} rendered without the non-randomized warning")
        return output

    def render(self, answer: Answer, fmt: Format) -> str:
        return self.render_template(TEMPLATES[fmt], answer)

    def render_evidence(self, summary: EvidenceSummary) -> str:
        """The evidence summary as markdown, warning first. Raises MissingWarningError as render_template does."""
        output = self.env.get_template(EVIDENCE_TEMPLATE).render(answer=summary)
        if not output.lstrip("> ").startswith(f"**Non-randomized evidence.** {summary.nonrandomized_warning.text}"):
            raise MissingWarningError(f"{EVIDENCE_TEMPLATE} does not lead with the non-randomized warning")
        return output
