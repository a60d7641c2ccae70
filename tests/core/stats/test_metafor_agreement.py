"""Differential test: the pooling engine against R metafor itself, on BCG, the timing subgroup's reconstructed
counts and a few hundred seeded random 2x2 datasets, for every method and statistic.

All datasets go to one CSV and one Rscript process fits them (tests/core/stats/metafor_fits.R), so the cost is one R
start-up. Without Rscript and metafor the test skips locally and fails in CI (CI=true). Where metafor and the
engine differ by design the comparison says so:

- REML: metafor is asked to converge to 1e-12 instead of its default 1e-5 (see metafor_fits.R). Its restricted
  likelihood can have two maxima, and metafor (starting from the Hedges estimate) can stop at the lower one,
  often tau2 = 0; such a dataset is counted, not compared, after checking that the engine's tau2 has the
  higher likelihood. Non-convergence on either side would be counted too, and must not happen here.
- Only double-zero studies, or one study with Hartung-Knapp: the engine refuses (`pooling.no_studies`,
  `pooling.hksj_needs_two_studies`); metafor reports a zero-width MH CI, or silently falls back to z.
- One study under DL or REML: metafor's prediction interval is the CI again; the engine gives none.
- Common-effect prediction interval: metafor's predict() returns the CI again; the engine returns none.
- Double-zero studies: `rma()`'s default keeps them with 0.5 added (drop00=FALSE); the engine drops them, as
  `rma.mh()` and RevMan do. Datasets with one are fitted both ways: drop00=TRUE against the default, and
  drop00=FALSE against `drop_double_zero=False`.
- MH with no events in an arm: metafor returns NA, the engine refuses with `pooling.no_events`; that pair
  counts as agreement.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from plugin.core.evidence.store import load_evidence
from plugin.core.stats.meta_analysis import MetaAnalysis, meta_analyse
from plugin.core.stats.pooling import Table2x2, is_double_zero, log_rr
from plugin.core.stats.pooling_inputs import Method
from plugin.core.stats.random_effects import reml_log_likelihood
from plugin.errors import PoolingError

ROOT = Path(__file__).resolve().parents[3]
R_SCRIPT = Path(__file__).with_name("metafor_fits.R")
BCG_TRIALS = json.loads((ROOT / "tests" / "data" / "bcg.json").read_text(encoding="utf-8"))["trials"]
SEED = 20261201
RANDOM_DATASETS = 300
VARIANTS: dict[str, tuple[Method, bool]] = {
    "mh": ("mh", False),
    "iv": ("iv", False),
    "dl": ("dl", False),
    "reml": ("reml", False),
    "iv-hksj": ("iv", True),
    "dl-hksj": ("dl", True),
    "reml-hksj": ("reml", True),
}
STATISTICS = ("k", "estimate", "se", "ci_lb", "ci_ub", "tau2", "QE", "I2", "pi_lb", "pi_ub")
# Every statistic on metafor's scale (log RR, its SE and limits, tau2, Q, I2 in percentage points), absolute.
# Observed worst over 381 datasets and 23,820 values: 4.7e-7 for REML's I2 (tau2 is converged to 1e-10, and
# I2 = tau2 / (tau2 + s2) magnifies that by 100 / s2 when the studies are large), 1.9e-9 for REML's prediction
# limits, 8.3e-11 for REML's tau2; 1.7e-13 for Q and below 1e-13 for everything else.
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Dataset:
    id: str
    tables: tuple[Table2x2, ...]
    drop_double_zero: bool = True


def _random_tables(rng: np.random.Generator) -> list[Table2x2]:
    k = int(rng.choice([2, 2, 2, 3, 4, 5, 6, 8, 10, 15]))
    sparse = rng.random() < 0.3  # small arms and low risks give zero cells
    mean_log_rr, tau = rng.normal(0, 0.5), float(rng.choice([0.0, 0.2, 0.6]))
    tables = []
    for _ in range(k):
        n1, n2 = (int(n) for n in rng.integers(5, 30 if sparse else 400, size=2))
        risk_0 = rng.uniform(0.01, 0.15 if sparse else 0.6)
        risk_1 = min(0.99, risk_0 * math.exp(mean_log_rr + tau * rng.normal()))
        tables.append(Table2x2(int(rng.binomial(n1, risk_1)), n1, int(rng.binomial(n2, risk_0)), n2))
    return tables


@functools.cache
def datasets() -> tuple[Dataset, ...]:
    """BCG, the timing subgroup (the store's Stricker 2005 and Winger 2008 counts), then the seeded random sets."""
    store = load_evidence(ROOT / "evidence")
    timing = [
        Table2x2(s.ivig_events, s.ivig_total, s.control_events, s.control_total)
        for s in store.analyses["habets-2022-ivig-rpl"].studies
        if s.id in {"stricker2005", "winger2008"}
        and s.ivig_events is not None
        and s.ivig_total is not None
        and s.control_events is not None
        and s.control_total is not None
    ]
    assert len(timing) == 2
    bcg = tuple(Table2x2(t["tpos"], t["tpos"] + t["tneg"], t["cpos"], t["cpos"] + t["cneg"]) for t in BCG_TRIALS)
    found = [Dataset("bcg", bcg), Dataset("timing", tuple(timing))]
    rng = np.random.default_rng(SEED)
    for i in range(RANDOM_DATASETS):
        tables = _random_tables(rng)
        if i % 10 == 0:  # a study with no events in either arm
            tables.insert(int(rng.integers(0, len(tables) + 1)), Table2x2(0, int(rng.integers(5, 50)), 0, 20))
        if i % 50 == 1:  # a study with only events in both arms, which metafor's drop00 also drops
            tables.append(Table2x2(12, 12, 9, 9))
        found.append(Dataset(f"random-{i:03d}", tuple(tables)))
        if any(is_double_zero(t) for t in tables):
            found.append(Dataset(f"random-{i:03d}-keep00", tuple(tables), drop_double_zero=False))
    return tuple(found)


def _engine(dataset: Dataset, variant: str) -> MetaAnalysis | str:
    method, hksj = VARIANTS[variant]
    try:
        return meta_analyse(dataset.tables, method, hksj=hksj, drop_double_zero=dataset.drop_double_zero)
    except PoolingError as exc:
        return exc.code


def _engine_statistics(result: MetaAnalysis) -> dict[str, float | None]:
    return {
        "k": result.k,
        "estimate": result.log_rr,
        "se": result.se,
        "ci_lb": result.ci_low_log,
        "ci_ub": result.ci_high_log,
        "tau2": 0.0 if result.tau2 is None else result.tau2,  # metafor stores 0 for common-effect models
        "QE": result.q,
        "I2": 100 * result.i2,
        "pi_lb": result.pi_low_log,
        "pi_ub": result.pi_high_log,
    }


def _rscript() -> str:
    rscript = shutil.which("Rscript")
    probe = rscript and subprocess.run([rscript, "-e", "library(metafor)"], capture_output=True, check=False)
    if rscript and probe and probe.returncode == 0:
        return rscript
    message = "Rscript with the metafor package is not installed (Debian: apt-get install r-cran-metafor)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def metafor(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, str]]:
    rscript = _rscript()
    directory = tmp_path_factory.mktemp("metafor")
    with (directory / "studies.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "drop00", "ai", "n1i", "ci", "n2i"])
        for dataset in datasets():
            for t in dataset.tables:
                writer.writerow(
                    [dataset.id, int(dataset.drop_double_zero), t.events_1, t.total_1, t.events_2, t.total_2]
                )
    subprocess.run(
        [rscript, str(R_SCRIPT), str(directory / "studies.csv"), str(directory / "fits.csv")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with (directory / "fits.csv").open(encoding="utf-8") as handle:
        return {(row["dataset"], row["variant"]): row for row in csv.DictReader(handle)}


def _refusal(code: str, reference: dict[str, str], variant: str) -> str:
    """How an engine refusal lines up with metafor's output for the same fit; anything unexpected fails."""
    if code == "pooling.no_events" and reference["estimate"] == "NA":
        return "both undefined: MH with an arm without events"
    if code == "pooling.no_studies" and "k = 0" in reference["status"]:
        return "both refuse: only double-zero studies"
    if code == "pooling.no_studies" and variant == "mh" and reference["se"] == "0":
        return "by design: MH over double-zero studies only, where metafor reports a zero-width CI"
    if code == "pooling.hksj_needs_two_studies" and reference["k"] == "1":
        return "by design: Hartung-Knapp with one study, where metafor falls back to z"
    raise AssertionError((code, reference))


def _metafor_at_a_lower_maximum(dataset: Dataset, ours: MetaAnalysis, metafor_tau2: float) -> bool:
    """True when the two tau2 differ and the engine's has the higher restricted likelihood (by more than noise)."""
    assert ours.tau2 is not None
    if abs(ours.tau2 - metafor_tau2) < TOLERANCE:
        return False
    kept = [t for t in dataset.tables if not (dataset.drop_double_zero and is_double_zero(t))]
    effects, variances = zip(*(log_rr(t) for t in kept), strict=True)
    gain = reml_log_likelihood(effects, variances, ours.tau2) - reml_log_likelihood(effects, variances, metafor_tau2)
    assert gain > 1e-9, (dataset.id, ours.tau2, metafor_tau2, gain)  # otherwise the engine is the one stuck
    return True


def _compare(variant: str, fits: dict[tuple[str, str], dict[str, str]]) -> tuple[dict[str, float], int, Counter[str]]:
    """Worst absolute difference per statistic, the number of values compared, and a tally of the cases not compared."""
    worst = dict.fromkeys(STATISTICS, 0.0)
    comparisons = 0
    tally: Counter[str] = Counter()
    for dataset in datasets():
        reference, ours = fits[(dataset.id, variant)], _engine(dataset, variant)
        if ours == "pooling.reml_not_converged" or "did not converge" in reference["status"]:
            tally["skipped: REML did not converge"] += 1
            continue
        if isinstance(ours, str):
            tally[_refusal(ours, reference, variant)] += 1
            continue
        assert reference["status"] == "ok", (dataset.id, reference["status"])
        if variant.startswith("reml") and _metafor_at_a_lower_maximum(dataset, ours, float(reference["tau2"])):
            tally["by design: metafor's REML stopped at a lower local maximum"] += 1
            continue
        for name, value in _engine_statistics(ours).items():
            if name.startswith("pi_") and (variant.startswith("iv") or ours.k == 1):
                continue  # by design: metafor's interval for a common effect or a single study is the CI again
            expected = None if reference[name] == "NA" else float(reference[name])
            if expected is None or value is None:
                assert expected is None and value is None, (dataset.id, name, value, expected)
                continue
            worst[name] = max(worst[name], abs(value - expected))
            comparisons += 1
        if ours.k == 1 and variant in {"dl", "reml"}:
            tally["by design: no prediction interval from one study"] += 1
    return worst, comparisons, tally


@pytest.mark.parametrize("variant", VARIANTS)
def test_engine_agrees_with_metafor_on_every_dataset_and_statistic(
    variant: str, metafor: dict[tuple[str, str], dict[str, str]]
) -> None:
    worst, comparisons, tally = _compare(variant, metafor)

    versions = {row["version"] for row in metafor.values()}
    assert len(versions) == 1
    assert comparisons > 2000, versions
    assert tally["skipped: REML did not converge"] == 0, tally
    assert sum(tally.values()) < 0.05 * len(datasets()), tally  # the edge cases stay edge cases
    assert max(worst.values()) < TOLERANCE, (versions, worst)
