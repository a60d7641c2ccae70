"""Absolute effects: the risk with IVIG and the risk difference per 1000 for an assumed baseline risk.

A relative effect cannot be carried to every baseline: 0.6 x 1.98 is a "risk" of 119 %. A capped number
("1000 per 1000, 95% CI 1000 to 1000") reads as certainty, so a value that would pass 99.9 % is withheld
(None), and so is everything computed from it (docs/answer.md, "What the answer says, and why").
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

# The largest risk shown: anything above it would print as 1000 per 1000, which reads as a certain live birth.
HIGHEST_SHOWN = Decimal("0.999")


class AbsoluteEffect(BaseModel):
    """Risk with IVIG and risk difference per 1000; None where the value cannot be estimated at this baseline."""

    baseline_risk: float
    risk_with_ivig: float | None
    risk_with_ivig_ci_low: float | None
    risk_with_ivig_ci_high: float | None
    risk_difference_per_1000: float | None
    risk_difference_per_1000_ci_low: float | None
    risk_difference_per_1000_ci_high: float | None
    capped: bool

    model_config = ConfigDict(frozen=True, extra="forbid")


def absolute_effect(baseline_risk: float, rr: float, rr_ci_low: float, rr_ci_high: float) -> AbsoluteEffect:
    """Corresponding risk and risk difference per 1000 from a baseline risk and an RR (GRADE method).

    Parameters
    ----------
    baseline_risk : float
        Assumed risk of the outcome without the intervention, in (0, 1); treated as fixed.
    rr, rr_ci_low, rr_ci_high : float
        Risk ratio and its confidence limits.

    Returns
    -------
    AbsoluteEffect
        ``baseline x RR`` (and its CI) as probabilities. When the point estimate would pass 99.9 %, nothing is
        estimated (every value None); when only the upper limit would, the upper limit is None. ``capped`` says
        whether anything was withheld. Risk differences come only from values that are shown.

    References
    ----------
    Cochrane Handbook 5.1, 11.5.6.4 and 12.5.4.2 (corresponding risk; risk difference per 1000).
    """
    # Decimal arithmetic on the printed digits: 0.2 x 1.98 is exactly 0.396, with no binary noise to round away.
    base = Decimal(repr(baseline_risk))
    raw = [base * Decimal(repr(ratio)) for ratio in (rr, rr_ci_low, rr_ci_high)]
    if raw[0] > HIGHEST_SHOWN:
        shown: list[Decimal | None] = [None, None, None]
    else:
        shown = [value if value <= HIGHEST_SHOWN else None for value in raw]
    point, low, high = shown

    def risk(value: Decimal | None) -> float | None:
        return None if value is None else float(value)

    def per_1000(value: Decimal | None) -> float | None:
        return None if value is None else float(1000 * (value - base))

    return AbsoluteEffect(
        baseline_risk=baseline_risk,
        risk_with_ivig=risk(point),
        risk_with_ivig_ci_low=risk(low),
        risk_with_ivig_ci_high=risk(high),
        risk_difference_per_1000=per_1000(point),
        risk_difference_per_1000_ci_low=per_1000(low),
        risk_difference_per_1000_ci_high=per_1000(high),
        capped=any(value is None for value in shown),
    )
