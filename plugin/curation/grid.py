"""The complete profile grid two releases are compared on: every band either release's decision tables tell apart,
every value of every other field, each optional field absent and given, with and without an IVIG order.

Numbers are read by the answer only through cut points (the decision tables' bounds and the fewest losses a
sourced baseline was measured in), so one value on each point and one inside each gap between points reaches
every answer a number can give, in both releases at once when the points of both are taken together.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from plugin.core.answer.answer_cache import BANDED
from plugin.core.answer.plugin import Plugin
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, IVIG_STARTS, RPL_TYPES, PatientProfile

# A baseline the clinician gives: any one value reaches every path (the figures follow it, the wording does not).
CALLER_BASELINE = 0.3


@dataclass(frozen=True)
class Case:
    """One question a door can ask: a profile, at an IVIG order or not."""

    profile: PatientProfile
    ivig_order: bool

    def described(self) -> dict[str, Any]:
        """The fields given, as a caller would send them, and whether an IVIG order was being signed."""
        return {**self.profile.model_dump(mode="json", exclude_none=True), "ivig_order": self.ivig_order}


def samples(points: Iterable[float], name: str) -> list[int | float | None]:
    """Unknown, then a value on each cut point, inside each gap, and beyond each end, where the field allows it."""
    ordered = sorted(set(points))
    candidates = [*ordered, *((a + b) / 2 for a, b in itertools.pairwise(ordered))]
    candidates += [ordered[0] - 1, ordered[-1] + 1] if ordered else [0.0]
    found: list[int | float | None] = [None]
    for value in sorted(candidates):
        try:
            accepted = getattr(PatientProfile.model_validate({name: value}), name)
        except ValidationError:  # below 0, above the maximum, or a fraction of a whole-number count
            continue
        if accepted not in found:
            found.append(accepted)
    return found


def condition_sets() -> list[tuple[str, ...] | None]:
    """Unknown, known to be none, and every combination of the autoimmune conditions."""
    subsets = (
        combo
        for size in range(1, len(AUTOIMMUNE_CONDITIONS) + 1)
        for combo in itertools.combinations(AUTOIMMUNE_CONDITIONS, size)
    )
    return [None, (), *subsets]


def cases(plugins: Sequence[Plugin]) -> list[Case]:
    """The grid for these releases: the clinical fields crossed in full, then each baseline (the clinician's own,
    and every sourced one either release holds) crossed with every field a baseline is checked against or that
    chooses the estimate it is applied to."""
    numbers = {
        name: samples((p for plugin in plugins for p in plugin.answers.cut_points(name)), name) for name in BANDED
    }
    conditions = condition_sets()
    clinical = itertools.product(
        numbers["prior_pregnancy_losses"],
        numbers["nk_cell_percent"],
        conditions,
        [None, True, False],
        [None, *IVIG_STARTS],
        [None, *RPL_TYPES],
        [False, True],
    )
    found = [case(*values) for values in clinical]
    sources = sorted({source for plugin in plugins for source in plugin.store.baselines()})
    baselines: list[dict[str, Any]] = [{"baseline_live_birth_risk": CALLER_BASELINE}]
    baselines += [{"baseline_live_birth_source": source} for source in sources]
    for baseline, losses, nk, held, rpl in itertools.product(
        baselines, numbers["prior_pregnancy_losses"], numbers["nk_cell_percent"], conditions, [None, *RPL_TYPES]
    ):
        found.append(case(losses, nk, held, None, None, rpl, False, baseline))
    return found


def case(
    losses: Any, nk: Any, held: Any, th1: Any, start: Any, rpl: Any, order: bool, extra: dict[str, Any] | None = None
) -> Case:
    fields = {
        "prior_pregnancy_losses": losses,
        "nk_cell_percent": nk,
        "autoimmune_conditions": held,
        "th1_th2_ratio_elevated": th1,
        "ivig_start": start,
        "rpl_type": rpl,
        **(extra or {}),
    }
    return Case(PatientProfile.model_validate({k: v for k, v in fields.items() if v is not None}), order)
