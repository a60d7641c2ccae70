"""The fixed sentences an answer may say, keyed on certainty and direction (GRADE guidance 26).

Free wording is not possible: every statement comes from these templates, so low-certainty evidence
reads "may increase" and very-low-certainty evidence reads "very uncertain", never "improves" or "effective".
"""

from __future__ import annotations

from typing import Literal

from plugin.core.evidence.analysis import CertaintyLevel

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
    "insufficient_information": "No estimate of the non-randomized review can be matched: it only included women "
    "with an immune finding, and whether she has one is not known from what was given.",
    "outside_population": "The non-randomized review does not apply: it only included women with an immune "
    "finding (NK cells above 12%, an autoimmune condition, or an elevated Th1/Th2 ratio), and none was reported. "
    "Women like her, with recurrent pregnancy loss not selected for immune findings, are the population of the "
    "randomized trials.",
}

RATED_BY = (
    "Certainty rated by the curators of this evidence store (GRADE for non-randomized studies); "
    "the review itself reports no GRADE rating."
)
NOT_SUMMARISED = "Not summarised here: dosing, cost, supply of this blood product, and values and preferences."
SOURCES_SILENT = "not available in the sources we could read"
WITHHELD_ALL = (
    "Cannot be estimated at this baseline: {baseline} x RR {rr} would pass 100%, because the relative effect "
    "cannot be transported to this baseline. Read the relative effect instead."
)
WITHHELD_UPPER = (
    "The upper limit cannot be estimated at this baseline: {baseline} x {high} would pass 100%, because the "
    "relative effect cannot be transported to this baseline."
)
BASELINE_CLINICIAN = "the clinician's own assumption"
DIRECTION_TEXT = {
    "higher_favours_ivig": "above 1 favours IVIG",
    "lower_favours_ivig": "below 1 favours IVIG (the outcome is no live birth)",
}
OUTCOME_TEXT = {
    "live_birth": "live birth",
    "no_live_birth": "no live birth",
    "ongoing_pregnancy_22_weeks": "ongoing pregnancy at 22 weeks, not live birth",
}
# Her findings, and what an included study selected women for, in words.
SELECTION_TEXT = {
    "nk_above_12": "an NK-cell percentage above 12%",
    "antiphospholipid_syndrome": "antiphospholipid syndrome",
    "systemic_lupus_erythematosus": "systemic lupus erythematosus",
    "th1_th2_elevated": "an elevated Th1/Th2 ratio",
    "autoimmune_thyroid_disease": "autoimmune thyroid disease",
    "other_autoimmune": "another autoimmune condition",
    "immune_abnormality": "an immune system abnormality",
    "abnormal_immunologic_tests": "abnormal immunologic tests",
}
SELECTION_SHORT = {
    "nk_above_12": "NK > 12%",
    "antiphospholipid_syndrome": "APS",
    "systemic_lupus_erythematosus": "SLE",
    "th1_th2_elevated": "Th1/Th2",
    "autoimmune_thyroid_disease": "thyroid autoimmunity",
    "other_autoimmune": "other autoimmunity",
    "immune_abnormality": "immune abnormality",
    "abnormal_immunologic_tests": "abnormal immunologic tests",
}
# The fields whose absence is named in `missing_information`: phrased so that no channel reads as advice to test.
MISSING_HEADING = "The answer would change if this is already known (not a reason to order a test):"


def randomized_sentence(
    short: str, n_studies: int | None, measure: str, estimate: float, low: float, high: float, who: str | None = None
) -> str:
    """The randomized evidence as the record states it, beside the non-randomized estimate (no conclusion drawn)."""
    trials = f", {n_studies} RCTs" if n_studies else ""
    finding = "found no clear difference" if low <= 1 <= high else "found a difference"
    numbers = f"{measure} {estimate:.2f}, {low:.2f} to {high:.2f}"
    return f"{who or RANDOMIZED_WHO_SENTENCE} {finding} ({short}{trials}: {numbers})."


# Who the randomized sentences are about: the trials' population, and a timing subgroup of theirs.
RANDOMIZED_WHO_SENTENCE = "Randomized trials in women with recurrent pregnancy loss not selected for immune findings"
SUBGROUP_WHO = "The randomized subgroup with IVIG started before conception"
MEASURE_OUTCOME = {"live_birth": "of live birth", "no_live_birth": "of no live birth"}


def measure_name(abbreviation: str, outcome: str) -> str:
    """ "RR of no live birth", "OR of live birth": the ratio named with its outcome, so its direction is plain."""
    return f"{abbreviation} {MEASURE_OUTCOME.get(outcome, OUTCOME_TEXT.get(outcome, outcome))}"


def and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# The withheld-value warning in a few words, beside a compact line of absolute effects.
WITHHELD_SHORT = "Not estimable: the relative effect would pass 100% at this baseline."
WITHHELD_WARNING = (
    "Some absolute effects cannot be estimated at this baseline: the relative effect would give a chance of live "
    "birth above 100%, so it cannot be transported to this baseline. Those values are withheld, not capped."
)


# The summary of findings (GRADE SoF): its fixed comment, model line, harms statement and asterisk note.
SOF_COMMENT = "Non-randomized evidence; residual confounding possible."
MODEL_UNKNOWN = "pooling model " + SOURCES_SILENT
MODEL_TEXT = {
    "mh": "Mantel-Haenszel, common effect",
    "iv": "inverse variance, common effect",
    "dl": "DerSimonian-Laird random effects",
    "reml": "REML random effects",
}
HARMS_NOT_SUMMARISED = (
    "Harms of IVIG are not summarised by this meta-analysis (not available in the sources we could read). "
    "Named by regulators, product information and randomized reviews:"
)
SOF_NOTE = (
    "* The risk with IVIG (and its 95% CI) is based on the assumed risk without IVIG and the relative effect of "
    "IVIG (and its 95% CI); the assumed risk is treated as fixed. A value that would pass 99.9% is not estimated."
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


# Absolute effects without a baseline (none is chosen for her): why none is shown, from the placebo arms in the store.
ABSOLUTE_NOT_SHOWN = (
    "Absolute effects: not shown. The relative effect of these non-randomized studies cannot be carried to usual "
    "live-birth chances: placebo arms of randomized trials in RPL had {low} to {high}% live births ({trials}), "
    "where RR {rr} {where}."
)

ABSOLUTE_NOT_SHOWN_SHORT = (
    "Absolute effects: not shown, since no baseline was given; placebo arms of RCTs in RPL had {low} to {high}% "
    "live births ({trials}), where RR {rr} {where}."
)

ABSOLUTE_NOT_SHOWN_NO_ARMS = (
    "Absolute effects: not shown. The relative effect of these non-randomized studies cannot be carried to usual "
    "live-birth chances, and this release of the evidence holds no placebo-arm chances to compare it with."
)

ABSOLUTE_NOT_SHOWN_SHORT_NO_ARMS = "Absolute effects: not shown, since no baseline was given."

# The first layer (at a glance): a few plain sentences a clinician reads in ten seconds, assembled from data.
CERTAINTY_WORDS: dict[CertaintyLevel, str] = {"low": "low certainty", "very_low": "very uncertain"}
GLANCE_HEADLINE = {
    "matched": "Evidence for this patient",
    "insufficient_information": "More information needed",
    "outside_population": "Outside the population studied",
    "not_rpl": "Not recurrent pregnancy loss",
}
INDIRECT = " (indirect)"
GLANCE_WHY = {
    "matched": "small non-randomized studies, serious risk of bias",
    "insufficient_information": "the non-randomized review only included women with an immune finding, and hers are "
    "not all known.",
    "outside_population": "the non-randomized review only included women with an immune finding, and she has none.",
    "not_rpl": "this non-randomized evidence is about women with two or more losses, so no estimate applies.",
}
# Who the randomized contrast is about, by status: women like her are the trials' population when she is outside.
RANDOMIZED_WHO = {
    "matched": "RCTs in RPL",
    "insufficient_information": "RCTs in RPL",
    "outside_population": "RCTs in women like her",
}
SUMMARY_WITHOUT_ESTIMATE = {
    "insufficient_information": "IVIG in RPL: no non-randomized estimate matched yet",
    "outside_population": "IVIG in RPL: the non-randomized review does not apply",
    "not_rpl": "IVIG: this evidence is about recurrent pregnancy loss and does not apply",
}
POSITIONS_DIFFER = "Positions differ: {positions}."
# The tests guidelines advise against, named beside the question about a result already on file.
TESTS_ADVICE = {
    "nk_cell_percent": "ESHRE and RCOG advise against NK-cell testing.",
    "th1_th2_ratio_elevated": "ESHRE advises against cytokine testing.",
}
TESTS_ADVICE_BOTH = "ESHRE and RCOG advise against NK-cell testing, ESHRE against cytokine testing."
# What to ask first when a finding is missing, as a question about what is already known (never a test to order),
# in the order the questions are asked: losses decide whether the evidence is about her at all; an autoimmune
# diagnosis is part of the usual work-up; NK-cell and Th1/Th2 results are asked about only as results on file.
ASK_FIRST = {
    "prior_pregnancy_losses": "How many pregnancies has she lost?",
    "autoimmune_conditions": "Has she been diagnosed with an autoimmune disease?",
    "nk_cell_percent": "Is a peripheral-blood NK-cell result already on file?",
    "th1_th2_ratio_elevated": "Is a Th1/Th2 result already on file?",
}
ASK_LEAD = "Ask:"
SAFETY_LEAD = "Harms: "


def randomized_finding(low: float, high: float, higher_favours_ivig: bool) -> str:
    """What a randomized result found, in words: a CI that spans 1 is no clear benefit, whichever way it leans."""
    if low <= 1 <= high:
        return "no clear benefit"
    favours = low > 1 if higher_favours_ivig else high < 1
    return "a benefit" if favours else "a worse outcome with IVIG"
