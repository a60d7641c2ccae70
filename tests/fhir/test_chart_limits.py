"""A charted value past what the profile accepts is read as unknown, with a note, never a crash."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.fhir.chart import read_chart


def losses(value: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "11614-5"}]},
        "effectiveDateTime": "2026-03-02",
        "valueInteger": value,
    }


@pytest.mark.parametrize("value", [51, 2_147_483_647])
def test_a_loss_count_past_50_is_unknown_with_a_note_saying_why(value: int) -> None:
    chart = read_chart([losses(value)])
    assert chart.profile.prior_pregnancy_losses is None
    assert [finding.what for finding in chart.findings] == ["Spontaneous abortions (not used: more than 50 recorded)"]


def test_a_loss_count_of_50_is_still_read() -> None:
    assert read_chart([losses(50)]).profile.prior_pregnancy_losses == 50
