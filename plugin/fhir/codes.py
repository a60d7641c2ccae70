"""The codes that say what a FHIR resource is about: NK cells, losses, conditions (LOINC, SNOMED CT, ICD-10)."""

from __future__ import annotations

import re
from typing import Literal

from plugin.core.rules.profile import AutoimmuneCondition

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = ("http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm")
SYSTEM_NAMES = {LOINC: "LOINC", SNOMED: "SNOMED CT", ICD10[0]: "ICD-10", ICD10[1]: "ICD-10-CM"}

# Peripheral-blood NK cells as a share of lymphocytes. Absolute counts and specimen/body-fluid codes (e.g. uterine
# NK cells, a different measurement) are left out; the unverified 8112-2 too.
NK_PERCENT_CODES = frozenset({"18267-5", "107067-1", "8133-1"})
NK_TEXT = re.compile(r"\bNK\b|CD56|natural killer", re.IGNORECASE)
NOT_BLOOD_TEXT = re.compile(r"endometri|uterine|decidua|\buNK\b|body fluid", re.IGNORECASE)
PERCENT_UNITS = frozenset({"%", "/100", "/100{cells}", "%{cells}", "percent"})
FRACTION_UNITS = frozenset({"", "1", "{fraction}"})
# [#] Abortions.spontaneous. The total 11612-9 also counts induced abortions, which are not pregnancy losses.
SPONTANEOUS_ABORTIONS = "11614-5"
FINAL = frozenset({"final", "amended", "corrected"})
ACTIVE = frozenset({"active", "recurrence", "relapse"})
NOT_TRUE = frozenset({"refuted", "entered-in-error"})

Feature = Literal["rpl"] | AutoimmuneCondition
SNOMED_FEATURES: dict[str, Feature] = {
    "102878001": "rpl",
    "26843008": "antiphospholipid_syndrome",
    "402865003": "antiphospholipid_syndrome",
    "55464009": "systemic_lupus_erythematosus",
    "21983002": "autoimmune_thyroid_disease",
}
# ICD-10 and ICD-10-CM by prefix, compared without the dot (some systems send "D6861").
ICD10_FEATURES: tuple[tuple[str, Feature], ...] = (
    ("N96", "rpl"),
    ("O262", "rpl"),
    ("D6861", "antiphospholipid_syndrome"),
    ("M32", "systemic_lupus_erythematosus"),
    ("E063", "autoimmune_thyroid_disease"),
)
FEATURE_NAMES: dict[Feature, str] = {
    "rpl": "Recurrent pregnancy loss",
    "antiphospholipid_syndrome": "Antiphospholipid syndrome",
    "systemic_lupus_erythematosus": "Systemic lupus erythematosus",
    "autoimmune_thyroid_disease": "Autoimmune thyroid disease",
    "other_autoimmune": "Other autoimmune disease",
}
