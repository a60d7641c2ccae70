"""The closed set of sentences: direction from the CI, strength from the certainty."""

from __future__ import annotations

import pytest

from plugin.core.answer.wording import direction, statement

POPULATION = "women with recurrent pregnancy loss"


@pytest.mark.parametrize(
    ("ci", "expected"),
    [((1.44, 2.73), "increase"), ((0.5, 0.9), "decrease"), ((0.8, 1.2), "unclear"), ((1.0, 2.0), "unclear")],
)
def test_direction_needs_the_whole_ci_on_one_side_of_1(ci: tuple[float, float], expected: str) -> None:
    assert direction(*ci) == expected


@pytest.mark.parametrize(
    ("ci", "sentence"),
    [
        ((1.44, 2.73), "IVIG may increase live birth in women with recurrent pregnancy loss."),
        ((0.5, 0.9), "IVIG may reduce live birth in women with recurrent pregnancy loss."),
        ((0.8, 1.2), "IVIG may make little or no difference to live birth in women with recurrent pregnancy loss."),
    ],
)
def test_low_certainty_says_may(ci: tuple[float, float], sentence: str) -> None:
    assert statement("low", *ci, POPULATION) == sentence


@pytest.mark.parametrize("ci", [(1.53, 13.05), (0.5, 0.9), (0.8, 1.2)])
def test_very_low_certainty_is_very_uncertain_whatever_the_direction(ci: tuple[float, float]) -> None:
    expected = (
        "The evidence is very uncertain about the effect of IVIG on live birth in women with recurrent pregnancy loss."
    )
    assert statement("very_low", *ci, POPULATION) == expected
