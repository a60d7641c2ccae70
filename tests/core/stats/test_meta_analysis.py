"""The pooling engine behind `ivig-cds evidence pool`: the BCG rows of evidence-presentation.md section 3.5 for every
method, metafor's zero-cell and double-zero conventions, the prediction interval's df, and refusals by code."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy import stats as scipy_stats

from plugin.core.stats import random_effects
from plugin.core.stats.meta_analysis import MetaAnalysis, meta_analyse
from plugin.core.stats.pooling import Table2x2, log_rr
from plugin.core.stats.pooling_inputs import Method
from plugin.errors import PoolingError

ROOT = Path(__file__).resolve().parents[3]
BCG: dict[str, Any] = json.loads((ROOT / "tests" / "data" / "bcg.json").read_text(encoding="utf-8"))
TABLES = [Table2x2(t["tpos"], t["tpos"] + t["tneg"], t["cpos"], t["cpos"] + t["cneg"]) for t in BCG["trials"]]

# Each pinned row of section 3.5 and the call that should reproduce it.
ROWS: dict[str, tuple[Method, bool]] = {
    "mh-common": ("mh", False),
    "iv-common": ("iv", False),
    "dl-random": ("dl", False),
    "reml-random": ("reml", False),
    "reml-hksj": ("reml", True),
}


def _figures(result: MetaAnalysis) -> dict[str, Any]:
    return {
        "log_rr": result.log_rr,
        "log_ci": [result.ci_low_log, result.ci_high_log],
        "rr": result.rr,
        "ci": list(result.ci),
        "se": result.se,
        "q": result.q,
        "tau2": result.tau2,
        "i2_percent": 100 * result.i2,
        "t_critical": (result.ci_high_log - result.log_rr) / result.se,
    }


@pytest.mark.parametrize("row", list(ROWS))
def test_bcg_pool_reproduces_the_section_3_5_row_to_its_printed_decimals(row: str) -> None:
    method, hksj = ROWS[row]
    got = _figures(meta_analyse(TABLES, method, hksj=hksj))

    # Compared after rounding to the printed digits (4 dp; I2 in % to 2 dp), so no further tolerance is needed.
    # Largest unrounded gap observed: 4.8e-5 (IV common, upper CI 0.70405 vs 0.7040).
    for name, value in BCG["expected"][row].items():
        digits = 2 if name == "i2_percent" else 4
        rounded = [round(v, digits) for v in got[name]] if isinstance(value, list) else round(got[name], digits)
        assert rounded == value, name


def test_reml_prediction_interval_uses_z_as_metafor_does_not_the_t_on_k_minus_2_of_higgins() -> None:
    result = meta_analyse(TABLES, "reml")
    expected = BCG["expected"]["reml-prediction"]
    assert result.tau2 is not None and result.pi_low_log is not None and result.pi_high_log is not None

    assert (result.pi_distribution, result.pi_df) == ("z", None)
    assert [round(result.pi_low_log, 4), round(result.pi_high_log, 4)] == expected["log_pi_z"]
    # The standard's other row is Higgins-Thompson-Spiegelhalter: t with k - 2 = 11 df around the Wald SE.
    half_width = scipy_stats.t.ppf(0.975, 11) * math.sqrt(result.se**2 + result.tau2)
    hts = [round(result.log_rr - half_width, 4), round(result.log_rr + half_width, 4)]
    assert hts == expected["log_pi_t_k_minus_2"]
    assert hts != expected["log_pi_z"]


def test_hksj_prediction_interval_uses_t_on_k_minus_1_with_the_scaled_se() -> None:
    result = meta_analyse(TABLES, "reml", hksj=True)
    assert result.tau2 is not None and result.pi_low_log is not None

    assert (result.ci_distribution, result.ci_df, result.pi_distribution, result.pi_df) == ("t", 12, "t", 12)
    # metafor 3.8.1 predict() on rma(..., method="REML", test="knha") prints -1.9960 for the lower limit.
    assert round(result.pi_low_log, 4) == -1.9960
    assert result.pi_low_log == pytest.approx(
        result.log_rr - scipy_stats.t.ppf(0.975, 12) * math.sqrt(result.se**2 + result.tau2), abs=1e-12
    )


@pytest.mark.parametrize("method", ["mh", "iv"])
def test_common_effect_methods_report_no_tau2_and_no_prediction_interval(method: Method) -> None:
    result = meta_analyse(TABLES, method)

    assert (result.tau2, result.pi, result.pi_distribution) == (None, None, None)


def test_reml_tau2_is_the_root_of_the_restricted_likelihood_score() -> None:
    effects, variances = zip(*(log_rr(t) for t in TABLES), strict=True)
    tau2 = random_effects.reml(effects, variances)
    step = 1e-6

    def likelihood(t: float) -> float:
        return random_effects.reml_log_likelihood(effects, variances, t)

    # A central difference of the log-likelihood at the estimate; observed -8.9e-10, the rounding of the difference.
    assert (likelihood(tau2 + step) - likelihood(tau2 - step)) / (2 * step) == pytest.approx(0.0, abs=1e-6)


def test_reml_tau2_is_exactly_zero_when_studies_agree_better_than_chance() -> None:
    assert random_effects.reml([0.2, 0.21, 0.19], [0.1, 0.2, 0.3]) == 0.0


# --- Zero cells and double-zero studies (metafor's escalc only0 / drop00 and rma.mh conventions) -----------------

ZERO_CELL = [Table2x2(0, 20, 5, 20), Table2x2(3, 30, 6, 30), Table2x2(4, 25, 9, 25)]
DOUBLE_ZERO = Table2x2(0, 15, 0, 15)


def test_mh_pools_raw_counts_while_its_q_uses_the_half_corrected_study_log_rr() -> None:
    result = meta_analyse(ZERO_CELL, "mh")
    r = sum(t.events_1 * t.total_2 / (t.total_1 + t.total_2) for t in ZERO_CELL)
    s = sum(t.events_2 * t.total_1 / (t.total_1 + t.total_2) for t in ZERO_CELL)

    assert result.log_rr == pytest.approx(math.log(r / s), abs=1e-15)  # observed equal; 1e-15 for summation order
    assert result.continuity_corrected == (0,)


def test_a_double_zero_study_is_left_out_of_iv_pooling_and_q_but_counted_by_mh_as_metafor_does() -> None:
    with_double_zero = [*ZERO_CELL, DOUBLE_ZERO]

    for method in ("iv", "dl", "reml"):
        kept, without = meta_analyse(with_double_zero, method), meta_analyse(ZERO_CELL, method)
        assert (kept.k, kept.double_zero, kept.log_rr, kept.q) == (3, (3,), without.log_rr, without.q)
    mh, mh_without = meta_analyse(with_double_zero, "mh"), meta_analyse(ZERO_CELL, "mh")
    assert (mh.k, mh.q_df, mh.log_rr, mh.se, mh.q) == (4, 2, mh_without.log_rr, mh_without.se, mh_without.q)


def test_keeping_double_zero_studies_adds_half_to_their_cells_as_rmas_own_default_does() -> None:
    result = meta_analyse([*ZERO_CELL, DOUBLE_ZERO], "iv", drop_double_zero=False)

    assert (result.k, result.q_df, result.continuity_corrected) == (4, 3, (0, 3))


def test_a_study_with_only_events_in_both_arms_counts_as_double_zero() -> None:
    result = meta_analyse([*ZERO_CELL, Table2x2(10, 10, 12, 12)], "dl")

    assert (result.k, result.double_zero) == (3, (3,))


@pytest.mark.parametrize(
    ("tables", "method", "hksj", "code"),
    [
        pytest.param(ZERO_CELL, "mh", True, "pooling.hksj_not_for_mh", id="hksj-with-mh"),
        pytest.param(
            [Table2x2(0, 10, 3, 10), Table2x2(0, 12, 1, 12)], "mh", False, "pooling.no_events", id="no-events"
        ),
        pytest.param([DOUBLE_ZERO, DOUBLE_ZERO], "reml", False, "pooling.no_studies", id="only-double-zero"),
        pytest.param(ZERO_CELL[:1], "dl", True, "pooling.hksj_needs_two_studies", id="hksj-one-study"),
    ],
)
def test_counts_the_method_cannot_pool_are_refused_with_a_code(
    tables: list[Table2x2], method: Method, hksj: bool, code: str
) -> None:
    with pytest.raises(PoolingError) as caught:
        meta_analyse(tables, method, hksj=hksj)

    assert caught.value.code == code


@pytest.mark.parametrize("method", ["dl", "reml"])
def test_a_single_study_has_no_between_study_variance_and_no_prediction_interval(method: Method) -> None:
    result = meta_analyse(ZERO_CELL[1:2], method)

    assert (result.k, result.tau2, result.q, result.i2, result.pi) == (1, 0.0, 0.0, 0.0, None)
