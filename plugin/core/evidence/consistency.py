"""Load-time arithmetic checks on published figures: would have caught the news item's 248-for-284 slip.

Each published number was rounded by its authors, so each check asks whether *some* set of unrounded
values inside the rounding box of the printed digits satisfies the relation, never more or less.
"""

from __future__ import annotations

import itertools
import math
import re
from decimal import Decimal
from pathlib import Path

from plugin.core.evidence.analysis import Analysis, CertaintyLevel, Estimate
from plugin.core.stats import inference
from plugin.errors import EvidenceError

_P_TEXT = re.compile(r"^\s*(?P<op><=|<|=|≤)?\s*(?P<value>\d*\.?\d+)\s*$")


def half_unit(value: float) -> float:
    """Half a unit in the last printed decimal: 1.44 -> 0.005, 13.05 -> 0.005, 0.006 -> 0.0005."""
    exponent = Decimal(repr(value)).as_tuple().exponent
    return 0.5 * 10.0 ** int(exponent) if isinstance(exponent, int) else 0.0


def rounding_box(value: float) -> tuple[float, float]:
    h = half_unit(value)
    return value - h, value + h


def reported_p_range(estimate: Estimate) -> tuple[float, float]:
    """The interval of true p-values that the printed p (a number or text such as '< 0.0001') allows."""
    if estimate.p_value is not None:
        return rounding_box(estimate.p_value)
    match = _P_TEXT.match(estimate.p_value_text or "")
    if match is None:
        raise ValueError(f"p_value_text {estimate.p_value_text!r} is not of the form '< 0.0001' or '= 0.006'")
    value = float(match["value"])
    return (0.0, value) if match["op"] in ("<", "<=", "≤") else rounding_box(value)


def _corners(estimate: Estimate) -> list[tuple[float, float, float]]:
    points, lows, highs = rounding_box(estimate.point), rounding_box(estimate.ci[0]), rounding_box(estimate.ci[1])
    return [(p, lo, hi) for p, lo, hi in itertools.product(points, lows, highs) if 0 < lo < p < hi]


def log_asymmetry_range(estimate: Estimate) -> tuple[float, float]:
    """Range of ln(point) - mean(ln low, ln high) over the rounding box; 0 inside means log-symmetric."""
    values = [math.log(p) - (math.log(lo) + math.log(hi)) / 2 for p, lo, hi in _corners(estimate)]
    return min(values), max(values)


def implied_p_range(estimate: Estimate) -> tuple[float, float]:
    """Range of the Wald p implied by point and CI over the rounding box of the printed digits."""
    values = [inference.p_from_ci(p, lo, hi, estimate.ci_level) for p, lo, hi in _corners(estimate)]
    return min(values), max(values)


def check_estimate(estimate: Estimate, path: Path) -> None:
    """Raises EvidenceError if the CI is not log-symmetric or the reported p disagrees with the CI."""
    field = f"estimates.{estimate.id}"
    low, high = log_asymmetry_range(estimate)
    if not low <= 0 <= high:
        raise EvidenceError(
            "the CI is not symmetric on the log scale around the point estimate, even allowing for rounding",
            code="evidence.ci_not_log_symmetric",
            file=str(path),
            field=f"{field}.ci",
            value=[estimate.point, *estimate.ci],
        )
    try:
        reported = reported_p_range(estimate)
    except ValueError as exc:
        raise EvidenceError(
            str(exc), code="evidence.schema", file=str(path), field=f"{field}.p_value_text", value=estimate.p_value_text
        ) from None
    implied = implied_p_range(estimate)
    if implied[1] < reported[0] or implied[0] > reported[1]:
        raise EvidenceError(
            f"the CI implies p between {implied[0]:.2g} and {implied[1]:.2g}, which the reported p does not allow",
            code="evidence.p_value_inconsistent",
            file=str(path),
            field=f"{field}.p_value",
            value=estimate.p_value if estimate.p_value is not None else estimate.p_value_text,
        )


def check_counts(analysis: Analysis, path: Path) -> None:
    """Raises EvidenceError if arm sizes, study sizes or subgroup sizes do not add up."""
    people = analysis.participants
    if people.ivig + people.control != people.total:
        raise EvidenceError(
            f"arms {people.ivig} + {people.control} = {people.ivig + people.control}, not the total {people.total}",
            code="evidence.arm_totals_mismatch",
            file=str(path),
            field="participants",
            value={"total": people.total, "ivig": people.ivig, "control": people.control},
        )
    overall = analysis.overall
    for name, expected in (("n_participants", people.total), ("n_studies", people.n_studies)):
        if getattr(overall, name) not in (None, expected):
            raise EvidenceError(
                f"overall {name} differs from participants",
                code="evidence.arm_totals_mismatch",
                file=str(path),
                field=f"estimates.{overall.id}.{name}",
                value=getattr(overall, name),
            )
    sizes = {s.id: s.n_total for s in analysis.studies}
    if len(sizes) == people.n_studies and sum(sizes.values()) != people.total:
        raise EvidenceError(
            f"study sizes add up to {sum(sizes.values())}, not {people.total}",
            code="evidence.arm_totals_mismatch",
            file=str(path),
            field="studies.n_total",
            value=sorted(sizes.values()),
        )
    for study in analysis.studies:
        if study.ivig_total is not None and study.control_total is not None:
            if study.ivig_total + study.control_total != study.n_total:
                raise EvidenceError(
                    "study arms do not add up to its N",
                    code="evidence.arm_totals_mismatch",
                    file=str(path),
                    field=f"studies.{study.id}",
                    value=[study.ivig_total, study.control_total, study.n_total],
                )
        for arm in ("ivig", "control"):
            events, total = getattr(study, f"{arm}_events"), getattr(study, f"{arm}_total")
            if events is not None and (total is None or events > total):
                raise EvidenceError(
                    f"{arm} events need a total at least as large",
                    code="evidence.schema",
                    file=str(path),
                    field=f"studies.{study.id}.{arm}_events",
                    value=events,
                )
    for estimate in analysis.estimates:
        membership = estimate.derived_membership
        if membership is None:
            continue
        unknown = [s for s in membership.studies if s not in sizes]
        if unknown:
            raise EvidenceError(
                "derived membership names studies the analysis does not hold",
                code="evidence.unknown_study",
                file=str(path),
                field=f"estimates.{estimate.id}.derived_membership.studies",
                value=unknown,
            )
        if sum(sizes[s] for s in membership.studies) != membership.n_participants:
            raise EvidenceError(
                "derived membership size does not equal its studies' N",
                code="evidence.arm_totals_mismatch",
                file=str(path),
                field=f"estimates.{estimate.id}.derived_membership.n_participants",
                value=membership.n_participants,
            )


# GRADE: each "serious" concern rates down one level, "very_serious" two; very low is the floor.
RATED_DOWN = {"serious": 1, "very_serious": 2}
LEVELS: tuple[CertaintyLevel, ...] = ("very_low", "low")  # non-randomized evidence starts at low


def check_certainty(estimate: Estimate, path: Path) -> None:
    """Raises EvidenceError if the level does not follow from the domain judgements: a domain judged serious
    and not rated down is a contradiction, and so is a level rated down without a reason."""
    reasons = estimate.certainty.reasons
    down = sum(RATED_DOWN.get(r.judgement, 0) for r in reasons if r.domain not in ("study_design", "large_effect"))
    expected = LEVELS[max(0, len(LEVELS) - 1 - down)]
    if estimate.certainty.level != expected:
        raise EvidenceError(
            f"the domain judgements give {expected!r}, not {estimate.certainty.level!r}",
            code="evidence.certainty_not_rated_down" if down else "evidence.certainty_without_reason",
            file=str(path),
            field=f"estimates.{estimate.id}.certainty.level",
            value=estimate.certainty.level,
        )


def check_analysis(analysis: Analysis, path: Path) -> None:
    """Run every consistency check. Raises EvidenceError on the first failure."""
    check_counts(analysis, path)
    for estimate in analysis.estimates:
        check_estimate(estimate, path)
        check_certainty(estimate, path)
