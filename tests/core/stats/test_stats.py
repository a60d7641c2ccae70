"""The inference helpers against the published Habets figures, the absolute-effect table and the BCG vectors.

Sources: the Habets 2022 figures as evidence/analyses/ records them, GRADE's absolute-effect arithmetic and the
13 BCG vaccine trials (tests/data/bcg.csv) with the values R metafor gives for them.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from plugin.core.evidence.analysis import EvidenceStore
from plugin.core.evidence.store import load_evidence
from plugin.core.stats import absolute, inference, pooling

ROOT = Path(__file__).resolve().parents[3]
BCG: dict[str, Any] = json.loads((ROOT / "tests" / "data" / "bcg.json").read_text(encoding="utf-8"))
ANALYSIS = "habets-2022-ivig-rpl"
TIMING = "start-before-or-during-conception-cycle"

# The abstract's RR (95% CI), as in DESIGN.md.
PUBLISHED = {
    "overall": (1.98, 1.44, 2.73),
    "nk-above-12": (2.32, 1.77, 3.02),
    TIMING: (4.47, 1.53, 13.05),
}


@pytest.fixture(scope="module")
def evidence_store() -> EvidenceStore:
    return load_evidence(ROOT / "evidence")


def test_z_for_a_95_percent_interval_is_1_959964() -> None:
    assert round(inference.z_for_level(0.95), 6) == 1.959964


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95, 0.99, 0.999])
def test_the_standard_library_quantile_agrees_with_scipy_to_the_last_few_bits(level: float) -> None:
    from scipy.stats import norm

    assert inference.z_for_level(level) == pytest.approx(float(norm.ppf(1 - (1 - level) / 2)), rel=1e-15)


@pytest.mark.parametrize("z", [0.0, 0.5, 1.96, 3.5, 5.0, 8.0, 20.0, 37.0])
def test_p_from_z_agrees_with_scipy_far_into_the_tail(z: float) -> None:
    from scipy.stats import norm

    assert inference.p_from_z(z) == inference.p_from_z(-z) == pytest.approx(float(2 * norm.sf(z)), rel=1e-12)


# ln RR to 3 dp, SE to 4 dp, z to 2 dp and p to 2 significant figures, as printed in habets2022.md section 2
# and the table at the top of evidence-presentation.md. Compared after rounding to the printed digits, so no
# tolerance is needed.
@pytest.mark.parametrize(
    ("estimate_id", "ln_rr", "se", "z", "p"),
    [
        pytest.param("overall", 0.683, 0.1632, 4.19, "2.8e-05", id="overall"),
        pytest.param("nk-above-12", 0.842, 0.1363, 6.17, "6.6e-10", id="nk-above-12"),
        pytest.param(TIMING, 1.497, 0.5468, 2.74, "0.0062", id=TIMING),
    ],
)
def test_published_ci_implies_the_extractions_se_z_and_p(
    estimate_id: str, ln_rr: float, se: float, z: float, p: str
) -> None:
    point, low, high = PUBLISHED[estimate_id]
    implied_se = inference.se_from_ci(low, high)
    implied_z = inference.z_from_ratio(point, implied_se)

    assert round(math.log(point), 3) == ln_rr
    assert round(implied_se, 4) == se
    assert round(implied_z, 2) == z
    assert f"{inference.p_from_ci(point, low, high):.2g}" == p
    assert inference.p_from_ci(point, low, high) == inference.p_from_z(implied_z)


def test_published_p_values_are_those_the_cis_imply() -> None:
    assert inference.p_from_ci(*PUBLISHED["overall"]) < 0.0001
    assert inference.p_from_ci(*PUBLISHED["nk-above-12"]) < 0.0001
    assert round(inference.p_from_ci(*PUBLISHED[TIMING]), 3) == 0.006


def test_naive_comparison_of_the_two_subgroups_shows_no_evidence_that_they_differ() -> None:
    # evidence-presentation.md: ratio of RRs 1.93, z = 1.16, p = 0.24 (valid only for independent subgroups).
    nk_point, nk_low, nk_high = PUBLISHED["nk-above-12"]
    timing_point, timing_low, timing_high = PUBLISHED[TIMING]
    se = math.hypot(inference.se_from_ci(nk_low, nk_high), inference.se_from_ci(timing_low, timing_high))
    z = math.log(timing_point / nk_point) / se

    assert round(timing_point / nk_point, 2) == 1.93
    assert round(z, 2) == 1.16
    assert round(inference.p_from_z(z), 2) == 0.24


# --- Absolute effects -------------------------------------------------------------------------------------------
# Exact comparisons are intended: absolute_effect multiplies the printed digits in decimal arithmetic, so
# 0.2 x 1.98 is exactly 0.396 and float(0.396) is the same double as the literal.


def test_baseline_0_2_with_the_overall_rr_gives_396_per_1000_from_288_to_546() -> None:
    effect = absolute.absolute_effect(0.2, *PUBLISHED["overall"])

    assert (effect.risk_with_ivig, effect.risk_with_ivig_ci_low, effect.risk_with_ivig_ci_high) == (0.396, 0.288, 0.546)
    assert (
        effect.risk_difference_per_1000,
        effect.risk_difference_per_1000_ci_low,
        effect.risk_difference_per_1000_ci_high,
    ) == (196.0, 88.0, 346.0)
    assert effect.capped is False


def test_baseline_0_3_with_the_timing_rr_withholds_everything_since_the_point_passes_100_percent() -> None:
    # Unwithheld: 1341 (459-3915) per 1000, which is impossible; a capped "1000 (459 to 1000)" reads as certainty.
    effect = absolute.absolute_effect(0.3, *PUBLISHED[TIMING])

    assert (effect.risk_with_ivig, effect.risk_with_ivig_ci_low, effect.risk_with_ivig_ci_high) == (None, None, None)
    assert (
        effect.risk_difference_per_1000,
        effect.risk_difference_per_1000_ci_low,
        effect.risk_difference_per_1000_ci_high,
    ) == (None, None, None)
    assert effect.capped is True


def test_baseline_0_4_with_the_overall_rr_withholds_only_the_upper_limit() -> None:
    # 792 (576 to 1092) per 1000: the upper limit is impossible, the point and the lower limit are not.
    effect = absolute.absolute_effect(0.4, *PUBLISHED["overall"])

    assert (effect.risk_with_ivig, effect.risk_with_ivig_ci_low, effect.risk_with_ivig_ci_high) == (0.792, 0.576, None)
    assert (effect.risk_difference_per_1000, effect.risk_difference_per_1000_ci_high) == (392.0, None)
    assert effect.capped is True


# The table at the top of evidence-presentation.md, per 1000 and before capping; None is its "impossible" cell.
SOF_TABLE = [
    (200, "overall", (396, 288, 546)),
    (200, "nk-above-12", (464, 354, 604)),
    (200, TIMING, (894, 306, 2610)),
    (300, "overall", (594, 432, 819)),
    (300, "nk-above-12", (696, 531, 906)),
    (300, TIMING, (1341, 459, 3915)),
    (400, "overall", (792, 576, 1092)),
    (400, "nk-above-12", (928, 708, 1208)),
    (400, TIMING, None),
]


@pytest.mark.parametrize(
    ("baseline_per_1000", "estimate_id", "per_1000"),
    [pytest.param(b, e, v, id=f"{e}-baseline-{b}") for b, e, v in SOF_TABLE],
)
def test_absolute_effects_reproduce_the_standards_table_with_impossible_values_withheld(
    baseline_per_1000: int, estimate_id: str, per_1000: tuple[int, int, int] | None
) -> None:
    effect = absolute.absolute_effect(baseline_per_1000 / 1000, *PUBLISHED[estimate_id])
    got = (effect.risk_with_ivig, effect.risk_with_ivig_ci_low, effect.risk_with_ivig_ci_high)

    if per_1000 is None or per_1000[0] > 999:  # "impossible": the point estimate itself passes 100%
        assert got == (None, None, None)
        assert effect.capped is True
        return
    assert got == tuple(None if value > 999 else value / 1000 for value in per_1000)
    assert effect.capped is (max(per_1000) > 999)


# The standard says the upper limit stays at or below 1000/1000 up to a baseline of 366 (overall), 331 (NK) and
# "77" (timing) per 1000. 1/13.05 = 0.0766, so 77/1000 already overflows (77 x 13.05 = 1004.85): the standard
# rounded up, and 76 is the last whole baseline per 1000 that is not capped.
@pytest.mark.parametrize(
    ("estimate_id", "last_uncapped_per_1000"),
    [
        # With the 99.9% limit (a risk that would print as 1000 per 1000 is withheld): 0.366 x 2.73 = 0.99918 and
        # 0.331 x 3.02 = 0.99962 already pass it, so the last shown baselines are 365 and 330 per 1000.
        pytest.param("overall", 365, id="overall"),
        pytest.param("nk-above-12", 330, id="nk-above-12"),
        pytest.param(TIMING, 76, id=TIMING),
    ],
)
def test_withholding_starts_just_above_the_last_baseline_whose_upper_limit_stays_within_99_9_percent(
    estimate_id: str, last_uncapped_per_1000: int
) -> None:
    assert absolute.absolute_effect(last_uncapped_per_1000 / 1000, *PUBLISHED[estimate_id]).capped is False
    assert absolute.absolute_effect((last_uncapped_per_1000 + 1) / 1000, *PUBLISHED[estimate_id]).capped is True


@pytest.mark.parametrize("estimate_id", list(PUBLISHED))
def test_absolute_effect_never_shows_a_risk_above_99_9_percent_nor_one_computed_from_a_withheld_value(
    estimate_id: str,
) -> None:
    point, low, high = PUBLISHED[estimate_id]
    limit = Fraction(999, 1000)
    for thousandths in range(1, 1000):
        baseline = thousandths / 1000
        effect = absolute.absolute_effect(baseline, point, low, high)
        risks = (effect.risk_with_ivig_ci_low, effect.risk_with_ivig, effect.risk_with_ivig_ci_high)
        # Exact rational arithmetic on the printed digits is the oracle, so there is no rounding noise to allow for.
        base = Fraction(repr(baseline))
        exact = [base * Fraction(repr(ratio)) for ratio in (low, point, high)]
        expected = (None, None, None) if exact[1] > limit else tuple(None if v > limit else float(v) for v in exact)

        assert risks == expected, baseline
        assert effect.capped is (exact[2] > limit), baseline
        shown = [r for r in risks if r is not None]
        assert all(0 < r <= 0.999 for r in shown) and shown == sorted(shown)
        rd = None if exact[1] > limit else float(1000 * (exact[1] - base))
        assert effect.risk_difference_per_1000 == rd, baseline


# --- Pooling: the BCG golden vectors (evidence-presentation.md section 3.5) ----------------------------------------


def _bcg_tables() -> list[pooling.Table2x2]:
    return [pooling.Table2x2(t["tpos"], t["tpos"] + t["tneg"], t["cpos"], t["cpos"] + t["cneg"]) for t in BCG["trials"]]


def _pool(model: str, tables: list[pooling.Table2x2]) -> pooling.Pooled:
    if model == "mh-common":
        return pooling.pool_mantel_haenszel_rr(tables)
    effects, variances = zip(*(pooling.log_rr(t) for t in tables), strict=True)
    return pooling.pool_inverse_variance(effects, variances, random_effects=model == "dl-random")


# The three models the original pooling API covers; the REML rows are tested in test_meta_analysis.py.
LEGACY_MODELS = ["mh-common", "iv-common", "dl-random"]


def test_bcg_reference_file_holds_the_13_trials_every_section_3_5_row_and_a_source_record() -> None:
    assert [t["trial"] for t in BCG["trials"]] == list(range(1, 14))
    assert set(BCG["expected"]) == {*LEGACY_MODELS, "reml-random", "reml-hksj", "reml-prediction"}
    assert {"dataset", "documentation", "expected", "cross_check"} <= set(BCG["source"])
    # Arm totals as usually quoted (events / total), e.g. Aronson 4/123 vs 11/139, Frimodt-Moller 33/5069 vs 47/5808.
    assert (_bcg_tables()[0].total_1, _bcg_tables()[0].total_2) == (123, 139)
    assert (_bcg_tables()[4].total_1, _bcg_tables()[4].total_2) == (5069, 5808)


@pytest.mark.parametrize("model", LEGACY_MODELS)
def test_bcg_pool_matches_the_reference_to_the_printed_decimals(model: str) -> None:
    expected = BCG["expected"][model]
    pooled = _pool(model, _bcg_tables())
    z = inference.z_for_level(0.95)
    got: dict[str, Any] = {
        "log_rr": pooled.log_estimate,
        "log_ci": [pooled.log_estimate - z * pooled.se, pooled.log_estimate + z * pooled.se],
        "rr": pooled.estimate,
        "ci": [pooled.ci_low, pooled.ci_high],
        "q": pooled.q,
        "tau2": pooled.tau2,
        "i2_percent": 100 * pooled.i2,
    }
    # Compared after rounding to the reference's printed digits (4 dp; I2 in % to 2 dp), so no further tolerance.
    # Largest unrounded gaps observed: 4.8e-5 (IV common, upper CI 0.70405 vs 0.7040) and 0.0027 points of I2.
    for name, value in expected.items():
        digits = 2 if name == "i2_percent" else 4
        rounded = [round(v, digits) for v in got[name]] if isinstance(value, list) else round(got[name], digits)
        assert rounded == value, name


def test_dl_tau2_is_truncated_at_zero_when_studies_agree_better_than_chance() -> None:
    effects, variances = [0.2, 0.2, 0.2], [0.1, 0.2, 0.3]  # Q = 0 < df = 2: the raw moment estimate is negative

    random = pooling.pool_inverse_variance(effects, variances, random_effects=True)
    common = pooling.pool_inverse_variance(effects, variances, random_effects=False)

    assert random.tau2 == 0.0
    assert random == common


def test_a_single_study_pools_to_itself_with_no_between_study_variance() -> None:
    pooled = pooling.pool_inverse_variance([0.5], [0.04], random_effects=True)

    assert (pooled.log_estimate, pooled.se, pooled.tau2, pooled.q, pooled.i2) == (0.5, 0.2, 0.0, 0.0, 0.0)


def test_a_zero_cell_study_gets_revmans_half_added_to_every_cell() -> None:
    # 0/10 vs 5/10 is computed as 0.5/11 vs 5.5/11 (section 3.0, "Zero cells").
    y, v = pooling.log_rr(pooling.Table2x2(events_1=0, total_1=10, events_2=5, total_2=10))

    # Observed equal to the last bit; 1e-15 allows the one-ulp difference a different division order could give.
    assert y == pytest.approx(math.log(0.5 / 5.5), abs=1e-15)
    assert v == pytest.approx(1 / 0.5 - 1 / 11 + 1 / 5.5 - 1 / 11, abs=1e-15)


# --- Re-pooling our own timing subgroup (habets2022.md section 6, row B) ------------------------------------------


def _timing_tables(store: EvidenceStore) -> dict[str, pooling.Table2x2]:
    """The studies of the timing subgroup for which the store holds all four counts, as 2x2 tables."""
    analysis, estimate = store.estimate(f"{ANALYSIS}#{TIMING}")
    assert estimate.derived_membership is not None
    members = set(estimate.derived_membership.studies)
    tables = {}
    for study in analysis.studies:
        counts = (study.ivig_events, study.ivig_total, study.control_events, study.control_total)
        if study.id not in members or None in counts:
            continue
        assert study.ivig_events is not None and study.ivig_total is not None
        assert study.control_events is not None and study.control_total is not None
        tables[study.id] = pooling.Table2x2(
            study.ivig_events, study.ivig_total, study.control_events, study.control_total
        )
    return tables


def test_timing_subgroup_studies_with_all_four_counts_are_stricker_2005_and_winger_2008(
    evidence_store: EvidenceStore,
) -> None:
    assert set(_timing_tables(evidence_store)) == {"stricker2005", "winger2008"}


def test_dl_random_re_pool_of_the_timing_subgroup_reproduces_the_published_estimate(
    evidence_store: EvidenceStore,
) -> None:
    _, published = evidence_store.estimate(f"{ANALYSIS}#{TIMING}")
    pooled = _pool("dl-random", list(_timing_tables(evidence_store).values()))

    # Rounded to the published 2 decimals; this is section 3.6's +-0.005 on each bound. Observed 4.468 (1.530-13.052),
    # largest gap 0.0022 (upper limit).
    assert (round(pooled.estimate, 2), round(pooled.ci_low, 2), round(pooled.ci_high, 2)) == (
        published.point,
        *published.ci,
    )
    assert round(pooled.p_value, 3) == published.p_value == 0.006
    assert round(pooled.p_value, 4) == 0.0062
    # habets2022.md section 6 prints tau2 to 3 dp and I2 to 1 dp; observed 0.27985 and 45.19%.
    assert round(pooled.tau2, 3) == 0.280
    assert round(100 * pooled.i2, 1) == 45.2


@pytest.mark.parametrize(
    ("model", "rr", "ci", "p"),
    [
        pytest.param("mh-common", 4.87, (2.26, 10.51), "5.5e-05", id="mh-common"),
        pytest.param("iv-common", 4.11, (1.92, 8.78), "0.00027", id="iv-common"),
    ],
)
def test_common_effect_re_pools_of_the_timing_subgroup_match_the_extraction_and_miss_the_published_figure(
    evidence_store: EvidenceStore, model: str, rr: float, ci: tuple[float, float], p: str
) -> None:
    _, published = evidence_store.estimate(f"{ANALYSIS}#{TIMING}")
    pooled = _pool(model, list(_timing_tables(evidence_store).values()))

    # Rounded to the digits habets2022.md section 6 prints (2 dp for RR and CI, 2 significant figures for p).
    assert (round(pooled.estimate, 2), round(pooled.ci_low, 2), round(pooled.ci_high, 2)) == (rr, *ci)
    assert f"{pooled.p_value:.2g}" == p
    assert (round(pooled.estimate, 2), round(pooled.ci_low, 2), round(pooled.ci_high, 2)) != (
        published.point,
        *published.ci,
    )
