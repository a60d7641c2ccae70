"""Inference from a published ratio and its CI: SE on the log scale, Wald z and p.

Used by the evidence loader's consistency checks and by pooling. Ratios are handled on the natural-log scale.
"""

from __future__ import annotations

import math
from statistics import NormalDist

# The standard normal from the standard library: the evidence loader checks every estimate with it at start-up,
# and scipy.stats (which pooling uses) takes about a second to import. Agreement with scipy is tested.
STANDARD_NORMAL = NormalDist()


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
    return STANDARD_NORMAL.inv_cdf(1 - (1 - ci_level) / 2)


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
        ``2 * (1 - Phi(|z|))``, computed as erfc(|z| / sqrt 2) so tiny p-values keep their precision.
    """
    return math.erfc(abs(z) / math.sqrt(2))


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
