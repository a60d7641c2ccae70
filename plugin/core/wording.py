"""The fixed sentences an answer may say, keyed on certainty and direction (GRADE guidance 26).

Free wording is not possible: every statement comes from these templates, so low-certainty evidence
reads "may increase" and very-low-certainty evidence reads "very uncertain", never "improves" or "effective".
"""

from __future__ import annotations

from typing import Literal

from plugin.core.evidence import CertaintyLevel

Direction = Literal["increase", "decrease", "unclear"]

CERTAINTY_LABEL: dict[CertaintyLevel, str] = {"low": "Low", "very_low": "Very low"}
CERTAINTY_SYMBOL: dict[CertaintyLevel, str] = {"low": "⊕⊕◯◯", "very_low": "⊕◯◯◯"}

_STATEMENTS: dict[tuple[CertaintyLevel, Direction], str] = {
    ("low", "increase"): "IVIG may increase live birth in {population}.",
    ("low", "decrease"): "IVIG may reduce live birth in {population}.",
    ("low", "unclear"): "IVIG may make little or no difference to live birth in {population}.",
    ("very_low", "increase"): "The evidence is very uncertain about the effect of IVIG on live birth in {population}.",
    ("very_low", "decrease"): "The evidence is very uncertain about the effect of IVIG on live birth in {population}.",
    ("very_low", "unclear"): "The evidence is very uncertain about the effect of IVIG on live birth in {population}.",
}

BOTTOM_LINE = {
    "not_rpl": "This evidence does not apply: it is about women with recurrent pregnancy loss (two or more "
    "losses), and fewer than two prior losses were reported.",
    "insufficient_information": "No estimate can be matched yet: the review only included women with an immune "
    "finding, and the information needed to tell whether she has one is missing.",
    "outside_population": "This evidence does not apply: the review only included women with an immune finding "
    "(NK cells above 12%, an autoimmune condition, or an elevated Th1/Th2 ratio), and none was reported.",
}

CAPPED_NOTE = (
    "Capped at 100%: at this baseline risk the risk ratio{which} would give a chance of live birth above 100%, "
    "which is impossible. The relative effect cannot be transported to this baseline risk; read the relative "
    "effect instead."
)


def direction(ci_low: float, ci_high: float) -> Direction:
    """Which way the CI points for a good outcome: wholly above 1, wholly below 1, or spanning it."""
    if ci_low > 1:
        return "increase"
    if ci_high < 1:
        return "decrease"
    return "unclear"


def statement(level: CertaintyLevel, ci_low: float, ci_high: float, population: str) -> str:
    """The one sentence an estimate may carry, bound to its certainty."""
    return _STATEMENTS[(level, direction(ci_low, ci_high))].format(population=population)
