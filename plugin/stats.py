"""Statistics on ratio measures: SE from a CI, Wald z and p, absolute effects, and 2x2 pooling.

Used by the evidence loader (consistency checks), the answer (absolute effects) and the tests
(re-pooling study counts). All ratios are handled on the natural-log scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict
from scipy import stats as _scipy_stats


def z_for_level(ci_level: float) -> float:
    """Two-sided standard-normal quantile for a confidence level, e.g. 1.959964 for 0.95.

    Parameters
    ----------
    ci_level : float
        Confidence level in (0, 1).

    Returns
    -------
    float
        The quantile z such that P(|Z| <= z) = ci_level.
    """
    return float(_scipy_stats.norm.ppf(1 - (1 - ci_level) / 2))


def se_from_ci(ci_low: float, ci_high: float, ci_level: float = 0.95) -> float:
    """Standard error of ln(ratio) implied by a Wald CI on the log scale.

    Parameters
    ----------
    ci_low, ci_high : float
        Confidence limits of the ratio (both > 0).
    ci_level : float
        Confidence level of the interval.

    Returns
    -------
    float
        ``(ln(ci_high) - ln(ci_low)) / (2 z)``.

    References
    ----------
    Cochrane Handbook 6.3.2 (obtaining standard errors from confidence intervals).
    """
    return (math.log(ci_high) - math.log(ci_low)) / (2 * z_for_level(ci_level))


def z_from_ratio(point: float, se_log: float) -> float:
    """Wald z of a ratio against the null of no effect: ln(point) / SE.

    Parameters
    ----------
    point : float
        The ratio estimate (> 0).
    se_log : float
        Its standard error on the log scale.

    Returns
    -------
    float
        The z statistic.
    """
    return math.log(point) / se_log


def p_from_z(z: float) -> float:
    """Two-sided p-value of a standard-normal z.

    Parameters
    ----------
    z : float
        The test statistic.

    Returns
    -------
    float
        ``2 * (1 - Phi(|z|))``, computed with the survival function so tiny p-values keep their precision.
    """
    return float(2 * _scipy_stats.norm.sf(abs(z)))


def p_from_ci(point: float, ci_low: float, ci_high: float, ci_level: float = 0.95) -> float:
    """Two-sided p-value implied by a ratio and its log-symmetric CI.

    Parameters
    ----------
    point, ci_low, ci_high : float
        The ratio and its confidence limits.
    ci_level : float
        Confidence level of the interval.

    Returns
    -------
    float
        The p-value of the Wald test of ln(ratio) = 0.

    References
    ----------
    Altman DG, Bland JM. How to obtain the P value from a confidence interval. BMJ 2011;343:d2304.
    """
    return p_from_z(z_from_ratio(point, se_from_ci(ci_low, ci_high, ci_level)))


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


@dataclass(frozen=True)
class Table2x2:
    """One study's counts: events / total in the intervention arm and in the control arm."""

    events_1: int
    total_1: int
    events_2: int
    total_2: int


@dataclass(frozen=True)
class Pooled:
    """A pooled log ratio with its SE, the Wald CI and p on the ratio scale, and heterogeneity."""

    log_estimate: float
    se: float
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    q: float
    tau2: float
    i2: float


def log_rr(table: Table2x2, increment: float = 0.5) -> tuple[float, float]:
    """Study log risk ratio and its variance; `increment` is added to every cell of a zero-cell study.

    Parameters
    ----------
    table : Table2x2
        The study's counts.
    increment : float
        Continuity correction, RevMan's 0.5 by default, applied only when a cell is zero.

    Returns
    -------
    tuple of float
        ``ln[(a/n1)/(c/n2)]`` and ``1/a - 1/n1 + 1/c - 1/n2``.

    References
    ----------
    Deeks JJ, Higgins JPT. Statistical algorithms in Review Manager 5 (2010).
    """
    a: float
    c: float
    n1: float
    n2: float
    a, n1, c, n2 = table.events_1, table.total_1, table.events_2, table.total_2
    if 0 in (a, c, n1 - a, n2 - c):
        a, c = a + increment, c + increment
        n1, n2 = n1 + 2 * increment, n2 + 2 * increment
    return math.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2


def _pool(effects: Sequence[float], variances: Sequence[float], tau2: float) -> tuple[float, float]:
    weights = [1 / (v + tau2) for v in variances]
    estimate = sum(w * y for w, y in zip(weights, effects, strict=True)) / sum(weights)
    return estimate, math.sqrt(1 / sum(weights))


def _pooled(estimate: float, se: float, *, q: float, df: int, tau2: float, ci_level: float) -> Pooled:
    """Wald CI and p on the ratio scale, and Higgins' I^2 truncated at 0, for a pooled log ratio."""
    z = z_for_level(ci_level)
    return Pooled(
        log_estimate=estimate,
        se=se,
        estimate=math.exp(estimate),
        ci_low=math.exp(estimate - z * se),
        ci_high=math.exp(estimate + z * se),
        p_value=p_from_z(estimate / se),
        q=q,
        tau2=tau2,
        i2=max(0.0, (q - df) / q) if q > 0 else 0.0,
    )


def pool_inverse_variance(
    effects: Sequence[float], variances: Sequence[float], *, random_effects: bool, ci_level: float = 0.95
) -> Pooled:
    """Inverse-variance pooling of log ratios, common effect or DerSimonian-Laird random effects.

    Parameters
    ----------
    effects, variances : sequence of float
        Study log ratios and their variances.
    random_effects : bool
        If true, tau^2 is the DerSimonian-Laird moment estimate (Q around the IV estimate), truncated at 0;
        this is RevMan "IV, Random", metafor ``method="DL"``.
    ci_level : float
        Confidence level of the Wald interval.

    Returns
    -------
    Pooled
        Estimate, SE, CI and p on the ratio scale, Cochran's Q, tau^2 and Higgins' I^2 (truncated at 0).

    References
    ----------
    DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials 1986;7:177-88.
    Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. Stat Med 2002;21:1539-58.
    """
    fixed, _ = _pool(effects, variances, 0.0)
    weights = [1 / v for v in variances]
    q = sum(w * (y - fixed) ** 2 for w, y in zip(weights, effects, strict=True))
    df = len(effects) - 1
    tau2 = 0.0
    if random_effects and df > 0:  # one study: the moment estimator's denominator is 0 and tau^2 is 0
        scale = sum(weights) - sum(w * w for w in weights) / sum(weights)
        tau2 = max(0.0, (q - df) / scale)
    estimate, se = _pool(effects, variances, tau2)
    return _pooled(estimate, se, q=q, df=df, tau2=tau2, ci_level=ci_level)


def pool_mantel_haenszel_rr(tables: Sequence[Table2x2], ci_level: float = 0.95) -> Pooled:
    """Mantel-Haenszel common-effect risk ratio with the Greenland-Robins variance.

    Parameters
    ----------
    tables : sequence of Table2x2
        Study counts. No continuity correction is applied to the pooled estimate (metafor ``rma.mh``).
    ci_level : float
        Confidence level of the Wald interval.

    Returns
    -------
    Pooled
        Estimate, SE, CI and p; ``q`` is Cochran's Q centred on ln RR_MH with inverse-variance weights
        (RevMan's convention), ``tau2`` is 0 and ``i2`` is derived from that Q.

    References
    ----------
    Greenland S, Robins JM. Estimation of a common effect parameter from sparse follow-up data.
    Biometrics 1985;41:55-68. Deeks JJ, Higgins JPT. Statistical algorithms in Review Manager 5 (2010).
    """
    r = s = p = 0.0
    for t in tables:
        n = t.total_1 + t.total_2
        r += t.events_1 * t.total_2 / n
        s += t.events_2 * t.total_1 / n
        p += (t.total_1 * t.total_2 * (t.events_1 + t.events_2) - t.events_1 * t.events_2 * n) / n**2
    estimate = math.log(r / s)
    se = math.sqrt(p / (r * s))
    effects, variances = zip(*(log_rr(t) for t in tables), strict=True)
    q = sum((y - estimate) ** 2 / v for y, v in zip(effects, variances, strict=True))
    return _pooled(estimate, se, q=q, df=len(tables) - 1, tau2=0.0, ci_level=ci_level)
