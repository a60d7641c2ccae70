"""Common-effect pooling of 2x2 study counts on the risk-ratio scale: study log RRs with metafor's zero-cell
conventions, inverse variance (and DerSimonian-Laird, kept here for its callers) and Mantel-Haenszel."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from plugin.core.stats.inference import p_from_z, z_for_level
from plugin.core.stats.random_effects import dersimonian_laird, weighted_mean
from plugin.errors import PoolingError


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

    A zero cell is a zero count of events *or* of non-events in either arm, as in metafor's
    ``escalc(measure="RR", add=1/2, to="only0")``.

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
    if has_zero_cell(table):
        a, c = a + increment, c + increment
        n1, n2 = n1 + 2 * increment, n2 + 2 * increment
    return math.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2


def has_zero_cell(table: Table2x2) -> bool:
    """True when either arm has no events or only events: the study's log RR needs a continuity correction."""
    return 0 in (table.events_1, table.events_2, table.total_1 - table.events_1, table.total_2 - table.events_2)


def is_double_zero(table: Table2x2) -> bool:
    """True when both arms have no events, or both have only events: the study says nothing about the ratio.

    metafor's ``drop00`` drops exactly these studies from the study-level effects (and so from Q and from
    inverse-variance pooling); Mantel-Haenszel keeps their counts, where a no-event study adds nothing.
    """
    no_events = table.events_1 == 0 and table.events_2 == 0
    only_events = table.events_1 == table.total_1 and table.events_2 == table.total_2
    return no_events or only_events


def cochran_q(effects: Sequence[float], variances: Sequence[float], centre: float) -> float:
    """Cochran's Q around `centre` with inverse-variance weights 1/v."""
    return sum((y - centre) ** 2 / v for y, v in zip(effects, variances, strict=True))


def higgins_i2(q: float, df: int) -> float:
    """Higgins' I^2 as a fraction, (Q - df)/Q truncated at 0; 0 when Q is 0."""
    return max(0.0, (q - df) / q) if q > 0 else 0.0


def mantel_haenszel(tables: Sequence[Table2x2]) -> tuple[float, float]:
    """Mantel-Haenszel log risk ratio and its Greenland-Robins SE, with no continuity correction.

    Raises:
        PoolingError: ``pooling.no_events`` when an arm has no events in any study (the ratio is 0 or infinite).
    """
    r = s = p = 0.0
    for t in tables:
        n = t.total_1 + t.total_2
        r += t.events_1 * t.total_2 / n
        s += t.events_2 * t.total_1 / n
        p += (t.total_1 * t.total_2 * (t.events_1 + t.events_2) - t.events_1 * t.events_2 * n) / n**2
    if r == 0 or s == 0:
        arm = "intervention" if r == 0 else "control"
        raise PoolingError(f"no events in the {arm} arm of any study", code="pooling.no_events", arm=arm)
    return math.log(r / s), math.sqrt(p / (r * s))


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
        i2=higgins_i2(q, df),
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
    fixed, _ = weighted_mean(effects, variances, 0.0)
    q = cochran_q(effects, variances, fixed)
    tau2 = dersimonian_laird(effects, variances) if random_effects else 0.0
    estimate, total_weight = weighted_mean(effects, variances, tau2)
    return _pooled(estimate, math.sqrt(1 / total_weight), q=q, df=len(effects) - 1, tau2=tau2, ci_level=ci_level)


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
        (RevMan's convention) over the studies that are not double-zero (metafor ``rma.mh``), ``tau2`` is 0 and
        ``i2`` is derived from that Q.

    Raises
    ------
    PoolingError
        ``pooling.no_events`` when an arm has no events in any study.

    References
    ----------
    Greenland S, Robins JM. Estimation of a common effect parameter from sparse follow-up data.
    Biometrics 1985;41:55-68. Deeks JJ, Higgins JPT. Statistical algorithms in Review Manager 5 (2010).
    """
    estimate, se = mantel_haenszel(tables)
    informative = [t for t in tables if not is_double_zero(t)]
    effects, variances = zip(*(log_rr(t) for t in informative), strict=True)
    q = cochran_q(effects, variances, estimate) if len(informative) > 1 else 0.0
    return _pooled(estimate, se, q=q, df=len(informative) - 1, tau2=0.0, ci_level=ci_level)
