"""Tool-argument errors in one short line per field: what is allowed and what was sent, never pydantic's dump."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from plugin.chat.arguments import error_lines, fields
from plugin.core.rules.profile import PatientProfile


class Named(BaseModel):
    label: str


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "risk-zero": ({"baseline_live_birth_risk": 0}, "baseline_live_birth_risk: must be greater than 0"),
    "risk-one": ({"baseline_live_birth_risk": 1.0}, "baseline_live_birth_risk: must be less than 1"),
    "nk-negative": ({"nk_cell_percent": -1}, "nk_cell_percent: must be at least 0"),
    "nk-text": (
        {"nk_cell_percent": "14%"},
        "nk_cell_percent: must be a finite number, or null if not known",
    ),
    "th1-yes": (
        {"th1_th2_ratio_elevated": "yes"},
        "th1_th2_ratio_elevated: must be true or false, or null if not known",
    ),
    "losses-text": (
        {"prior_pregnancy_losses": "three"},
        "prior_pregnancy_losses: must be a whole number, or null if not known",
    ),
    "conditions-text": (
        {"autoimmune_conditions": "none"},
        "autoimmune_conditions: must be a list of condition names; an empty list means none",
    ),
    "two-baselines": (
        {"baseline_live_birth_risk": 0.5, "baseline_live_birth_source": "christiansen2015_placebo"},
        "arguments: give baseline_live_birth_risk or baseline_live_birth_source, not both",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_each_refused_value_gets_one_line_naming_the_field_and_what_is_allowed(case: str) -> None:
    arguments, line = CASES[case]
    with pytest.raises(ValidationError) as caught:
        PatientProfile.model_validate(arguments)
    assert error_lines(caught.value, PatientProfile) == [line]


def test_the_value_sent_is_never_repeated_in_the_error_line() -> None:
    with pytest.raises(ValidationError) as caught:
        PatientProfile.model_validate({"ivig_start": "MRN-123456", "nk_cell_percent": 140})
    lines = error_lines(caught.value, PatientProfile)
    assert [line.partition(":")[0] for line in lines] == ["nk_cell_percent", "ivig_start"]
    assert lines[0] == "nk_cell_percent: must be at most 100"
    assert all("MRN-123456" not in line and "140" not in line for line in lines)


def test_a_missing_string_says_so_without_a_value_and_the_log_gets_field_names_only() -> None:
    with pytest.raises(ValidationError) as caught:
        Named.model_validate({"label": 3})
    assert error_lines(caught.value, Named) == ["label: must be a string, or null if not known"]
    with pytest.raises(ValidationError) as missing:
        Named.model_validate({})
    assert error_lines(missing.value, Named) == ["label: field required"]
    assert fields(missing.value) == ["label"]
