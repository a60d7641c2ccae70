"""Study-level counts behind each estimate: which are complete, which are missing, and the re-pooled result.

An estimate whose member studies all have their four counts is re-pooled at load by the method the store names
(`pooling_method`); the loader refuses the store when the recomputation and the published figure disagree
beyond the rounding of the printed digits. Where counts are missing the store says which, and nothing is filled
in (for Habets 2022 most are not available in the sources).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from plugin.core.evidence.analysis import Analysis, Estimate, Study
from plugin.core.evidence.consistency import rounding_box
from plugin.errors import EvidenceError

if TYPE_CHECKING:
    from plugin.core.stats.pooling import Table2x2

COUNTS = ("ivig_events", "ivig_total", "control_events", "control_total")


def members(analysis: Analysis, estimate: Estimate) -> list[Study]:
    """The studies behind an estimate: every included study for `overall`, the derived membership otherwise."""
    if estimate.derived_membership is None:
        return list(analysis.studies)
    ids = set(estimate.derived_membership.studies)
    return [study for study in analysis.studies if study.id in ids]


def missing_counts(analysis: Analysis, estimate: Estimate) -> list[str]:
    """ "study.field" for every count the sources do not give; empty when the estimate can be re-pooled."""
    return [f"{s.id}.{name}" for s in members(analysis, estimate) for name in COUNTS if getattr(s, name) is None]


def table_of(study: Study) -> Table2x2:
    from plugin.core.stats.pooling import Table2x2  # the pooling engine (and numpy) only where counts are re-pooled

    counts = [getattr(study, name) for name in COUNTS]
    if any(value is None for value in counts):  # pragma: no cover - callers check missing_counts first
        raise ValueError(f"{study.id} lacks counts")
    return Table2x2(*counts)


def check_repooling(analysis: Analysis, path: Path) -> None:
    """Re-pool every estimate with complete study data and compare it with the published figure.

    Raises:
        EvidenceError: `evidence.pooling_method_missing` (complete data but no method named) or
            `evidence.repooling_mismatch` (the recomputed RR or CI falls outside the printed digits' box).
    """
    for estimate in analysis.estimates:
        studies = members(analysis, estimate)
        if not studies or missing_counts(analysis, estimate):
            continue
        field = f"estimates.{estimate.id}"
        if estimate.pooling_method is None:
            raise EvidenceError(
                "the study data is complete, so the store must name the pooling method to re-pool it",
                code="evidence.pooling_method_missing",
                file=str(path),
                field=f"{field}.pooling_method",
            )
        from plugin.core.stats.meta_analysis import (
            meta_analyse,
        )  # numpy: imported by whoever loads the store, not its importers

        pooled = meta_analyse([table_of(s) for s in studies], estimate.pooling_method, ci_level=estimate.ci_level)
        recomputed = [math.exp(pooled.log_rr), math.exp(pooled.ci_low_log), math.exp(pooled.ci_high_log)]
        published = [estimate.point, *estimate.ci]
        outside = [
            (want, got)
            for want, got in zip(published, recomputed, strict=True)
            if not rounding_box(want)[0] <= got <= rounding_box(want)[1]
        ]
        if outside:
            raise EvidenceError(
                "re-pooling the study data does not give the published figure, even allowing for rounding",
                code="evidence.repooling_mismatch",
                file=str(path),
                field=field,
                value={"published": published, "recomputed": [round(v, 4) for v in recomputed]},
            )
