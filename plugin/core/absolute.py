"""Absolute effects: the risk with IVIG and the risk difference per 1000 for an assumed baseline risk."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class AbsoluteEffect(BaseModel):
    """Risk with IVIG for a fixed baseline risk, capped at 1.0; `capped` says whether any value had to be."""

    baseline_risk: float
    risk_with_ivig: float
    risk_with_ivig_ci_low: float
    risk_with_ivig_ci_high: float
    risk_difference_per_1000: float
    risk_difference_per_1000_ci_low: float
    risk_difference_per_1000_ci_high: float
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
        ``baseline x RR`` (and its CI) as probabilities. A probability cannot exceed 1: any value above 1.0
        is capped at 1.0 and ``capped`` is set, because the relative effect cannot be transported to this
        baseline. Risk differences are computed from the (capped) risks.

    References
    ----------
    Cochrane Handbook 5.1, 11.5.6.4 and 12.5.4.2 (corresponding risk; risk difference per 1000).
    """
    # Decimal arithmetic on the printed digits: 0.2 x 1.98 is exactly 0.396, with no binary noise to round away.
    base = Decimal(repr(baseline_risk))
    raw = [base * Decimal(repr(ratio)) for ratio in (rr, rr_ci_low, rr_ci_high)]
    capped = any(value > 1 for value in raw)
    point, low, high = (min(value, Decimal(1)) for value in raw)
    return AbsoluteEffect(
        baseline_risk=baseline_risk,
        risk_with_ivig=float(point),
        risk_with_ivig_ci_low=float(low),
        risk_with_ivig_ci_high=float(high),
        risk_difference_per_1000=float(1000 * (point - base)),
        risk_difference_per_1000_ci_low=float(1000 * (low - base)),
        risk_difference_per_1000_ci_high=float(1000 * (high - base)),
        capped=capped,
    )
