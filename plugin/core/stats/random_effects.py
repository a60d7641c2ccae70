"""Between-study variance and small-sample inference for random-effects pooling of log ratios: the
DerSimonian-Laird and REML tau^2 estimators, the Hartung-Knapp(-Sidik-Jonkman) scale factor and the
prediction interval, each following R metafor's conventions (`rma`, `predict.rma`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from plugin.errors import PoolingError

Vector = NDArray[np.float64]

# REML stops when a Fisher-scoring step moves tau^2 by less than this; metafor's default is 1e-5, which leaves
# tau^2 about that far from the maximum when the maximum is at the boundary 0.
REML_TOLERANCE = 1e-10
REML_MAX_ITERATIONS = 1000


def _vectors(effects: Sequence[float], variances: Sequence[float]) -> tuple[Vector, Vector]:
    return np.asarray(effects, dtype=np.float64), np.asarray(variances, dtype=np.float64)


def weighted_mean(
    effects: Sequence[float] | Vector, variances: Sequence[float] | Vector, tau2: float
) -> tuple[float, float]:
    """Inverse-variance weighted mean of the effects with weights 1/(v + tau^2), and its sum of weights."""
    weights = 1 / (np.asarray(variances, dtype=np.float64) + tau2)
    total = float(weights.sum())
    return float((weights * np.asarray(effects, dtype=np.float64)).sum()) / total, total


def dersimonian_laird(effects: Sequence[float], variances: Sequence[float]) -> float:
    """DerSimonian-Laird moment estimate of tau^2, truncated at 0 (metafor ``method="DL"``).

    Parameters
    ----------
    effects, variances : sequence of float
        Study log ratios and their within-study variances.

    Returns
    -------
    float
        ``max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w))`` with ``w = 1/v``; 0 for a single study.

    References
    ----------
    DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials 1986;7:177-88.
    """
    y, v = _vectors(effects, variances)
    if len(y) < 2:  # one study: the moment estimator's denominator is 0 and there is nothing to vary
        return 0.0
    w = 1 / v
    mean, total = weighted_mean(y, v, 0.0)
    q = float((w * (y - mean) ** 2).sum())
    return max(0.0, (q - (len(y) - 1)) / (total - float((w * w).sum()) / total))


def reml_log_likelihood(effects: Sequence[float] | Vector, variances: Sequence[float] | Vector, tau2: float) -> float:
    """Restricted log-likelihood of the intercept-only random-effects model at `tau2`, up to a constant."""
    y, v = np.asarray(effects, dtype=np.float64), np.asarray(variances, dtype=np.float64)
    w = 1 / (v + tau2)
    mean, total = weighted_mean(y, v, tau2)
    return -0.5 * float(np.log(v + tau2).sum() + math.log(total) + (w * (y - mean) ** 2).sum())


def reml(effects: Sequence[float], variances: Sequence[float]) -> float:
    """Restricted maximum-likelihood tau^2 by Fisher scoring on tau^2 >= 0 (metafor ``method="REML"``).

    Starts at the DerSimonian-Laird value and halves any step that would go below 0. As in metafor, tau^2 = 0
    replaces the scoring result if the restricted likelihood is at least as high there, which also makes a
    maximum on the boundary exactly 0. The likelihood can have two maxima; metafor starts from the Hedges
    estimate and can stop at the other one (tests/core/stats/test_metafor_agreement.py counts those cases).

    Parameters
    ----------
    effects, variances : sequence of float
        Study log ratios and their within-study variances.

    Returns
    -------
    float
        The REML estimate, converged to within `REML_TOLERANCE`.

    Raises
    ------
    PoolingError
        ``pooling.reml_not_converged`` when `REML_MAX_ITERATIONS` steps do not converge.

    References
    ----------
    Viechtbauer W. Bias and efficiency of meta-analytic variance estimators in the random-effects model.
    J Educ Behav Stat 2005;30:261-93.
    """
    y, v = _vectors(effects, variances)
    if len(y) < 2:
        return 0.0
    tau2 = dersimonian_laird(effects, variances)
    for _ in range(REML_MAX_ITERATIONS):
        w = 1 / (v + tau2)
        total, total_2 = float(w.sum()), float((w * w).sum())
        mean = float((w * y).sum()) / total
        trace_p = total - total_2 / total
        trace_pp = total_2 - 2 * float((w**3).sum()) / total + (total_2 / total) ** 2
        score = float((w * w * (y - mean) ** 2).sum()) - trace_p
        step = score / trace_pp
        while tau2 + step < 0:  # step-halving keeps the search in its basin, as metafor does, rather than jumping to 0
            step /= 2
        updated = tau2 + step
        converged = abs(step) < REML_TOLERANCE
        tau2 = updated
        if converged:
            break
    else:
        raise PoolingError(
            f"REML Fisher scoring did not converge in {REML_MAX_ITERATIONS} iterations",
            code="pooling.reml_not_converged",
            last_tau2=tau2,
        )
    if tau2 > 0 and reml_log_likelihood(y, v, 0.0) >= reml_log_likelihood(y, v, tau2):
        return 0.0
    return tau2


def typical_variance(variances: Sequence[float]) -> float:
    """The 'typical' within-study variance s^2 = (k-1) sum w / [(sum w)^2 - sum w^2] behind metafor's I^2."""
    w = 1 / np.asarray(variances, dtype=np.float64)
    total = float(w.sum())
    return (len(w) - 1) * total / (total**2 - float((w * w).sum()))


def i2_from_tau2(tau2: float, variances: Sequence[float]) -> float:
    """I^2 as a fraction, tau^2 / (tau^2 + s^2): metafor's definition for random-effects models.

    Equals Higgins' (Q - df)/Q for DerSimonian-Laird, not for REML.

    References
    ----------
    Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. Stat Med 2002;21:1539-58.
    """
    if len(variances) < 2:
        return 0.0
    return tau2 / (tau2 + typical_variance(variances))


def hartung_knapp_scale(effects: Sequence[float], variances: Sequence[float], tau2: float) -> float:
    """The Hartung-Knapp factor s^2_w = sum w*(y - mu)^2 / (k - 1) that multiplies Var(mu) (metafor ``test="knha"``).

    Not floored at 1 (that is metafor's ``test="adhoc"``), so the interval can be narrower than the Wald one.
    As in metafor, a residual sum of squares at or below machine epsilon (all effects equal) gives 0.

    Raises
    ------
    PoolingError
        ``pooling.hksj_needs_two_studies`` for a single study (no degrees of freedom).

    References
    ----------
    Hartung J, Knapp G. A refined method for the meta-analysis of controlled clinical trials with binary outcome.
    Stat Med 2001;20:3875-89. Sidik K, Jonkman JN. A simple confidence interval for meta-analysis.
    Stat Med 2002;21:3153-9.
    """
    y, v = _vectors(effects, variances)
    if len(y) < 2:
        raise PoolingError("Hartung-Knapp needs at least two studies", code="pooling.hksj_needs_two_studies")
    mean, _ = weighted_mean(y, v, tau2)
    rss = float(((y - mean) ** 2 / (v + tau2)).sum())
    return 0.0 if rss <= np.finfo(np.float64).eps else rss / (len(y) - 1)


def prediction_interval(estimate: float, se: float, tau2: float, critical: float) -> tuple[float, float]:
    """Interval for the true effect in a new study: estimate +- critical * sqrt(se^2 + tau^2).

    metafor's ``predict()`` takes `critical` from the model's test: the normal quantile for Wald models and
    t with k - 1 df under Hartung-Knapp, with `se` the (scaled) SE of the estimate. Higgins, Thompson and
    Spiegelhalter (and R meta's default) use t with k - 2 df instead; this engine follows metafor.

    References
    ----------
    Higgins JPT, Thompson SG, Spiegelhalter DJ. A re-evaluation of random-effects meta-analysis.
    J R Stat Soc A 2009;172:137-59. Riley RD, Higgins JPT, Deeks JJ. BMJ 2011;342:d549.
    """
    half_width = critical * math.sqrt(se * se + tau2)
    return estimate - half_width, estimate + half_width
