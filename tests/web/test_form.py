"""Widget query parameters -> PatientProfile: named like the profile fields, empty is unknown, errors name the field."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, IVIG_STARTS, PatientProfile
from plugin.web.form import FIELDS, parse_query


def query(**fields: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, str(item)))
    return pairs


def test_parameters_named_like_the_profile_fields_build_the_profile() -> None:
    form = parse_query(
        query(
            prior_pregnancy_losses=3,
            nk_cell_percent=14.5,
            autoimmune_conditions=["antiphospholipid_syndrome", "other_autoimmune"],
            th1_th2_ratio_elevated="true",
            ivig_start="conception_cycle",
            baseline_live_birth_risk=0.3,
        )
    )
    assert form.errors == ()
    assert form.profile == PatientProfile(
        prior_pregnancy_losses=3,
        nk_cell_percent=14.5,
        autoimmune_conditions=("antiphospholipid_syndrome", "other_autoimmune"),
        th1_th2_ratio_elevated=True,
        ivig_start="conception_cycle",
        baseline_live_birth_risk=0.3,
    )


def test_no_parameters_is_a_profile_where_everything_is_unknown() -> None:
    assert parse_query([]).profile == PatientProfile()


def test_an_empty_parameter_is_unknown_as_a_blank_form_field_sends_it() -> None:
    form = parse_query([(name, "") for name in FIELDS])
    assert form.profile == PatientProfile()
    assert form.errors == ()


def test_autoimmune_none_alone_means_she_has_none_and_no_value_means_unknown() -> None:
    none = parse_query(query(autoimmune_conditions="none")).profile
    assert none is not None and none.autoimmune_conditions == ()
    unknown = parse_query(query(nk_cell_percent=10)).profile
    assert unknown is not None and unknown.autoimmune_conditions is None


def test_autoimmune_none_with_a_condition_is_an_error_naming_the_field() -> None:
    form = parse_query(query(autoimmune_conditions=["none", "systemic_lupus_erythematosus"]))
    assert form.profile is None
    assert [e.field for e in form.errors] == ["autoimmune_conditions"]
    assert form.conditions == ("none", "systemic_lupus_erythematosus")


def test_false_is_read_as_no_never_as_unknown() -> None:
    profile = parse_query(query(th1_th2_ratio_elevated="false")).profile
    assert profile is not None and profile.th1_th2_ratio_elevated is False


def test_surrounding_spaces_are_ignored() -> None:
    profile = parse_query(query(prior_pregnancy_losses=" 3 ", ivig_start=" undecided")).profile
    assert profile is not None and (profile.prior_pregnancy_losses, profile.ivig_start) == (3, "undecided")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prior_pregnancy_losses", "2.5"),
        ("prior_pregnancy_losses", "-1"),
        ("prior_pregnancy_losses", "three"),
        ("prior_pregnancy_losses", "51"),
        ("nk_cell_percent", "140"),
        ("nk_cell_percent", "-0.5"),
        ("nk_cell_percent", "14,5"),
        ("nk_cell_percent", "nan"),
        ("nk_cell_percent", "inf"),
        ("nk_cell_percent", "1e400"),
        ("nk_cell_percent", "1_4"),
        ("autoimmune_conditions", "lupus"),
        ("th1_th2_ratio_elevated", "yes"),
        ("ivig_start", "maybe"),
        ("baseline_live_birth_risk", "0"),
        ("baseline_live_birth_risk", "1"),
        ("baseline_live_birth_risk", "30%"),
    ],
)
def test_a_bad_value_is_an_error_naming_its_field_and_showing_what_was_typed(field: str, value: str) -> None:
    form = parse_query([(field, value)])
    assert form.profile is None
    (error,) = form.errors
    assert (error.field, error.value) == (field, value)
    assert error.message
    assert form.value(field) == value


def test_a_condition_named_twice_is_an_error() -> None:
    form = parse_query(query(autoimmune_conditions=["other_autoimmune", "other_autoimmune"]))
    assert [e.field for e in form.errors] == ["autoimmune_conditions"]


def test_a_single_valued_field_given_twice_is_an_error_not_a_silent_pick() -> None:
    form = parse_query(query(nk_cell_percent=[10, 14]))
    assert form.profile is None
    assert [(e.field, e.value) for e in form.errors] == [("nk_cell_percent", "10, 14")]


def test_an_unknown_parameter_is_an_error_rather_than_silently_ignored() -> None:
    form = parse_query(query(nk_cells=14))
    assert form.profile is None
    assert [e.field for e in form.errors] == ["nk_cells"]


def test_every_bad_field_is_reported_at_once_in_form_order() -> None:
    form = parse_query(query(ivig_start="maybe", nk_cell_percent=140, prior_pregnancy_losses="x", extra=1))
    assert [e.field for e in form.errors] == ["prior_pregnancy_losses", "nk_cell_percent", "ivig_start", "extra"]
    assert form.error_for("nk_cell_percent") is not None
    assert form.error_for("th1_th2_ratio_elevated") is None


CONDITION_CHOICES: list[tuple[str, ...] | None] = [
    None,
    (),
    *((c,) for c in AUTOIMMUNE_CONDITIONS),
    AUTOIMMUNE_CONDITIONS,
]
GRID = itertools.product(
    [None, 0, 2, 50], [None, 0.0, 12.0, 12.5, 100.0], CONDITION_CHOICES, [None, True, False], [None, *IVIG_STARTS]
)


def as_link(profile: PatientProfile) -> list[tuple[str, str]]:
    """What a CDS Hooks card or a bookmark links to: one parameter per known field, unknown fields left out."""
    pairs: list[tuple[str, str]] = []
    for name, value in profile.model_dump(exclude_none=True).items():
        if name == "autoimmune_conditions":
            pairs += [(name, c) for c in value] or [(name, "none")]
        elif isinstance(value, bool):
            pairs.append((name, str(value).lower()))
        else:
            pairs.append((name, str(value)))
    return pairs


def test_every_profile_on_the_input_grid_written_as_a_link_reads_back_as_the_same_profile() -> None:
    fields = (
        "prior_pregnancy_losses",
        "nk_cell_percent",
        "autoimmune_conditions",
        "th1_th2_ratio_elevated",
        "ivig_start",
    )
    checked = 0
    for values in GRID:
        profile = PatientProfile.model_validate(dict(zip(fields, values, strict=True)))
        assert parse_query(as_link(profile)).profile == profile, profile
        checked += 1
    assert checked == 4 * 5 * 7 * 3 * 5


def test_both_baselines_at_once_name_the_source_instead_of_crashing() -> None:
    form = parse_query(
        [("baseline_live_birth_risk", "0.3"), ("baseline_live_birth_source", "christiansen2015_placebo")]
    )
    assert form.profile is None
    assert [error.field for error in form.errors] == ["baseline_live_birth_source"]
