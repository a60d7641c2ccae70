"""One pooled risk ratio from 2x2 study counts by a named method, with heterogeneity and, for random effects,
the prediction interval: the engine behind `ivig-cds evidence pool`, following R metafor's defaults."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from plugin.core.stats import random_effects
from plugin.core.stats.inference import p_from_z, z_for_level
from plugin.core.stats.pooling import (
    Table2x2,
    cochran_q,
    has_zero_cell,
    higgins_i2,
    is_double_zero,
    log_rr,
    mantel_haenszel,
)
from plugin.core.stats.pooling_inputs import Method
from plugin.errors import PoolingError

RANDOM_EFFECTS: frozenset[Method] = frozenset({"dl", "reml"})
Distribution = Literal["z", "t"]


@dataclass(frozen=True)
class MetaAnalysis:
    """A pooled log RR with its SE and CI, heterogeneity, and the prediction interval where defined.

    `k` counts the studies in the pooled estimate as metafor does: for MH every table, for the other methods
    the tables left after dropping double-zero studies. `q_df` is k - 1 over the studies with a log RR.
    `tau2` and the prediction interval are None for common-effect methods, which assume no between-study
    variance rather than estimate it. `i2` is a fraction: Higgins' from Q for common effect, tau^2-based
    (metafor's) for random effects.
    """

    method: Method
    hksj: bool
    k: int
    log_rr: float
    se: float
    ci_low_log: float
    ci_high_log: float
    ci_distribution: Distribution
    ci_df: int | None
    p_value: float
    q: float
    q_df: int
    i2: float
    tau2: float | None
    pi_low_log: float | None
    pi_high_log: float | None
    pi_distribution: Distribution | None
    pi_df: int | None
    double_zero: tuple[int, ...]
    continuity_corrected: tuple[int, ...]

    @property
    def rr(self) -> float:
        return math.exp(self.log_rr)

    @property
    def ci(self) -> tuple[float, float]:
        return math.exp(self.ci_low_log), math.exp(self.ci_high_log)

    @property
    def pi(self) -> tuple[float, float] | None:
        if self.pi_low_log is None or self.pi_high_log is None:
            return None
        return math.exp(self.pi_low_log), math.exp(self.pi_high_log)


def meta_analyse(
    tables: Sequence[Table2x2],
    method: Method,
    *,
    hksj: bool = False,
    drop_double_zero: bool = True,
    ci_level: float = 0.95,
) -> MetaAnalysis:
    """Pool study counts on the log risk-ratio scale with `method`, optionally with the Hartung-Knapp CI.

    Zero cells follow metafor: each study with a zero cell gets 0.5 added to all four cells for its log RR
    (``to="only0"``), while the MH estimate itself uses the raw counts. Double-zero studies are dropped from
    the study-level effects (``drop00=TRUE``, rma.mh's default and RevMan's rule); `drop_double_zero=False`
    keeps them with 0.5 added, which is ``rma()``'s own default (``drop00=FALSE``).

    With `hksj`, the CI and p use t with k - 1 df and the Hartung-Knapp SE; the prediction interval then uses
    t with k - 1 df too, otherwise z (metafor's ``predict()``; Higgins-Thompson-Spiegelhalter would use k - 2).

    Raises:
        PoolingError: ``pooling.no_studies`` when no study has a log RR, ``pooling.no_events`` (MH with an arm
            without events), ``pooling.hksj_not_for_mh``, ``pooling.hksj_needs_two_studies`` and
            ``pooling.reml_not_converged``.
    """
    if hksj and method == "mh":
        raise PoolingError("Hartung-Knapp applies to inverse-variance pooling, not MH", code="pooling.hksj_not_for_mh")
    mh = mantel_haenszel(tables) if method == "mh" else None  # raises first: no events is the more telling refusal
    double_zero = tuple(i for i, t in enumerate(tables) if is_double_zero(t))
    kept = [t for i, t in enumerate(tables) if not (drop_double_zero and i in double_zero)]
    if not kept:
        raise PoolingError("no study left to pool once double-zero studies are dropped", code="pooling.no_studies")
    corrected = tuple(
        i for i, t in enumerate(tables) if has_zero_cell(t) and (i not in double_zero or not drop_double_zero)
    )
    effects, variances = (list(column) for column in zip(*(log_rr(t) for t in kept), strict=True))

    tau2 = 0.0
    if method == "dl":
        tau2 = random_effects.dersimonian_laird(effects, variances)
    elif method == "reml":
        tau2 = random_effects.reml(effects, variances)
    if mh is not None:
        estimate, se = mh
    else:
        estimate, total_weight = random_effects.weighted_mean(effects, variances, tau2)
        se = math.sqrt(1 / total_weight)

    q_df = len(effects) - 1
    common_mean, _ = random_effects.weighted_mean(effects, variances, 0.0)
    q = cochran_q(effects, variances, estimate if method == "mh" else common_mean) if q_df > 0 else 0.0
    random = method in RANDOM_EFFECTS
    i2 = random_effects.i2_from_tau2(tau2, variances) if random else higgins_i2(q, q_df)

    distribution: Distribution = "z"
    ci_df: int | None = None
    critical = z_for_level(ci_level)
    if hksj:
        # scipy for the t distribution only: importing it takes about a second, and the loader's re-pooling
        # (normal-based) runs at every start.
        from scipy.stats import t as student_t

        se *= math.sqrt(random_effects.hartung_knapp_scale(effects, variances, tau2))
        distribution, ci_df = "t", q_df
        critical = float(student_t.ppf(1 - (1 - ci_level) / 2, q_df))
    statistic = estimate / se if se > 0 else math.inf
    two_sided_p = float(2 * student_t.sf(abs(statistic), ci_df)) if ci_df is not None else p_from_z(statistic)

    pi_low = pi_high = None
    if random and q_df > 0:
        pi_low, pi_high = random_effects.prediction_interval(estimate, se, tau2, critical)
    return MetaAnalysis(
        method=method,
        hksj=hksj,
        k=len(tables) if method == "mh" else len(kept),
        log_rr=estimate,
        se=se,
        ci_low_log=estimate - critical * se,
        ci_high_log=estimate + critical * se,
        ci_distribution=distribution,
        ci_df=ci_df,
        p_value=two_sided_p,
        q=q,
        q_df=q_df,
        i2=i2,
        tau2=tau2 if random else None,
        pi_low_log=pi_low,
        pi_high_log=pi_high,
        pi_distribution=(distribution if pi_low is not None else None),
        pi_df=(ci_df if pi_low is not None else None),
        double_zero=double_zero,
        continuity_corrected=corrected,
    )
