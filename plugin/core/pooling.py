"""Pooling 2x2 study counts on the risk-ratio scale: inverse variance (common and DerSimonian-Laird) and
Mantel-Haenszel, proven on public reference data (the BCG trials)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from plugin.core.stats import p_from_z, z_for_level


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
