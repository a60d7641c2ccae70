"""The rule engine on tiny inline tables: the cell grammar, unique and collect hits, and every load-time error code.

Each broken case is the tiny table below with one thing changed, so the replacement is the whole fixture.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from plugin.core.rules.loading import grid_values, load_table
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, IVIG_STARTS, PatientProfile
from plugin.core.rules.table import (
    STATUSES,
    DecisionTable,
    Input,
    Table,
    Value,
    compile_cell,
    compile_table,
)
from plugin.errors import RuleTableError

TINY = """\
schema_version = 1
id = "tiny"
description = "NK-cell percentage alone decides the status"
hit_policy = "unique"
output = "status"

inputs.nk_cell_percent = { kind = "number", unit = "%", domain = "[0, 100]" }

rows = [
  { id = "R1", nk_cell_percent = "(12, 100]",       then = "matched" },
  { id = "R2", nk_cell_percent = "[0, 12]|unknown", then = "outside_population" },
]

[why]
R1 = "Above 12%."
R2 = "12% or below, or not known."

[[examples]]
given = { nk_cell_percent = 12.0 }   # 12.0 is not above 12
expect_rows = ["R2"]
"""

TINY_NOTES = """\
schema_version = 1
id = "tiny-notes"
description = "Every row that fires adds its note"
hit_policy = "collect"
output = "notes"

inputs.nk_cell_percent = { kind = "number", domain = "[0, 100]" }
inputs.ivig_start.kind = "choice"
inputs.ivig_start.values = ["before_conception", "conception_cycle", "after_pregnancy_confirmed", "undecided"]

rows = [
  { id = "R1", nk_cell_percent = "(12, 100]", ivig_start = "*",                 then = ["nk-high"] },
  { id = "R2", nk_cell_percent = "*",         ivig_start = "undecided|unknown", then = ["timing-unknown"] },
]

[why]
R1 = "NK above 12%."
R2 = "Timing not decided."

[notes]
nk-high = "NK note."
timing-unknown = "Timing note."

[[examples]]
given = { nk_cell_percent = 14.0 }
expect_rows = ["R1", "R2"]
"""

OVERALL = "habets-2022-ivig-rpl#overall"
KNOWN = {"status": set(STATUSES), "estimates": {OVERALL}}

NUMBER = Input(kind="number", unit="%", domain="[0, 100]")
INTEGER = Input(kind="integer", domain="[0, 50]")
CHOICE = Input(kind="choice", values=IVIG_STARTS)
BOOLEAN = Input(kind="boolean")
SET = Input(kind="set", values=AUTOIMMUNE_CONDITIONS)
APS, SLE = "antiphospholipid_syndrome", "systemic_lupus_erythematosus"


def write(tmp_path: Path, *edits: tuple[str, str], text: str = TINY) -> Path:
    """The table text with each (old, new) applied once; `old` must occur exactly once."""
    for old, new in edits:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"  # guards the fixture itself
        text = text.replace(old, new)
    path = tmp_path / "table.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, *edits: tuple[str, str], text: str = TINY) -> DecisionTable:
    return load_table(write(tmp_path, *edits, text=text), KNOWN)


def load_error(tmp_path: Path, *edits: tuple[str, str], text: str = TINY) -> RuleTableError:
    with pytest.raises(RuleTableError) as caught:
        load(tmp_path, *edits, text=text)
    return caught.value


def compile_unverified(tmp_path: Path, *edits: tuple[str, str]) -> DecisionTable:
    """Compile without proving the hit policy on the grid, to see what `match` does with an unsound table."""
    path = write(tmp_path, *edits)
    with path.open("rb") as handle:
        spec = Table.model_validate(tomllib.load(handle))
    return compile_table(spec, path, KNOWN["status"])


# --- The cell grammar ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "spec", "value", "fires"),
    [
        pytest.param("(12, 100]", NUMBER, 12.0, False, id="open-lower-bound-excludes-12"),
        pytest.param("(12, 100]", NUMBER, 12.000001, True, id="open-lower-bound-includes-12.000001"),
        pytest.param("(12, 100]", NUMBER, math.nextafter(12.0, math.inf), True, id="open-lower-bound-next-float"),
        pytest.param("(12, 100]", NUMBER, 100.0, True, id="closed-upper-bound-includes-100"),
        pytest.param("[0, 12]", NUMBER, 12.0, True, id="closed-upper-bound-includes-12"),
        pytest.param("[0, 12]", NUMBER, 12.000001, False, id="closed-upper-bound-excludes-12.000001"),
        pytest.param("[0, 12]", NUMBER, 0.0, True, id="closed-lower-bound-includes-0"),
        pytest.param("[0, 12)", NUMBER, 12.0, False, id="open-upper-bound-excludes-12"),
        pytest.param("[0, 12)", NUMBER, 11.999999, True, id="open-upper-bound-includes-11.999999"),
        pytest.param("(12, inf)", NUMBER, 1e9, True, id="infinite-upper-bound"),
        pytest.param("[0, 12]", NUMBER, None, False, id="interval-excludes-unknown"),
        pytest.param("[0, 100]", NUMBER, True, False, id="interval-excludes-a-boolean"),
        pytest.param("unknown", NUMBER, None, True, id="unknown-matches-absent"),
        pytest.param("unknown", NUMBER, 0.0, False, id="unknown-excludes-zero"),
        pytest.param("*", NUMBER, None, True, id="star-matches-absent"),
        pytest.param("*", NUMBER, 55.5, True, id="star-matches-any-number"),
        pytest.param("[0, 12]|unknown", NUMBER, None, True, id="union-with-unknown-matches-absent"),
        pytest.param("[0, 12]|unknown", NUMBER, 6.0, True, id="union-with-unknown-matches-inside"),
        pytest.param("[0, 12]|unknown", NUMBER, 13.0, False, id="union-with-unknown-excludes-outside"),
        pytest.param("[0, 1]", INTEGER, 1, True, id="integer-closed-bound-includes-1"),
        pytest.param("[0, 1]", INTEGER, 2, False, id="integer-excludes-2"),
        pytest.param("[2, 50]|unknown", INTEGER, 2, True, id="integer-two-losses-are-rpl"),
        pytest.param("before_conception|conception_cycle", CHOICE, "conception_cycle", True, id="choice-a-or-b"),
        pytest.param("before_conception|conception_cycle", CHOICE, "undecided", False, id="choice-neither"),
        pytest.param("before_conception|conception_cycle", CHOICE, None, False, id="choice-excludes-unknown"),
        pytest.param("true", BOOLEAN, True, True, id="boolean-true-matches-true"),
        pytest.param("true", BOOLEAN, False, False, id="boolean-true-excludes-false"),
        pytest.param("true", BOOLEAN, None, False, id="boolean-true-excludes-unknown"),
        pytest.param("true", BOOLEAN, 1, False, id="boolean-true-excludes-the-integer-1"),
        pytest.param("false", BOOLEAN, False, True, id="boolean-false-matches-false"),
        pytest.param("false|unknown", BOOLEAN, None, True, id="boolean-false-or-unknown-matches-absent"),
        pytest.param("none", SET, (), True, id="set-none-matches-empty"),
        pytest.param("none", SET, (APS,), False, id="set-none-excludes-one-condition"),
        pytest.param("none", SET, None, False, id="set-none-excludes-unknown"),
        pytest.param("any", SET, (APS,), True, id="set-any-matches-one-condition"),
        pytest.param("any", SET, (), False, id="set-any-excludes-empty"),
        pytest.param("any", SET, None, False, id="set-any-excludes-unknown"),
        pytest.param(SLE, SET, (APS, SLE), True, id="set-contains-matches-a-superset"),
        pytest.param(SLE, SET, (APS,), False, id="set-contains-excludes-others"),
        pytest.param("none|unknown", SET, None, True, id="set-none-or-unknown-matches-absent"),
    ],
)
def test_cell_fires_exactly_on_the_values_its_grammar_names(cell: str, spec: Input, value: Value, fires: bool) -> None:
    assert compile_cell(cell, spec)(value) is fires


@pytest.mark.parametrize(
    ("cell", "spec"),
    [
        pytest.param("(12, 100", NUMBER, id="unclosed-interval"),
        pytest.param("12", NUMBER, id="bare-number"),
        pytest.param("[twelve, 100]", NUMBER, id="word-for-a-bound"),
        pytest.param("*|unknown", NUMBER, id="star-inside-a-union"),
        pytest.param("[1.5, 3]", INTEGER, id="fractional-integer-bound"),
        pytest.param("maybe", CHOICE, id="choice-not-listed"),
        pytest.param("yes", BOOLEAN, id="boolean-not-true-or-false"),
        pytest.param("lupus", SET, id="set-member-not-listed"),
    ],
)
def test_bad_cell_is_refused_when_compiled(cell: str, spec: Input) -> None:
    with pytest.raises(ValueError):
        compile_cell(cell, spec)


# --- Matching -----------------------------------------------------------------------------------------------------


def test_match_returns_the_row_its_reason_and_the_inputs_it_read(tmp_path: Path) -> None:
    table = load(tmp_path)

    match = table.match(PatientProfile(nk_cell_percent=14.0, ivig_start="undecided"))

    assert (match.table, match.rows, match.then) == ("tiny", ("R1",), ("matched",))
    assert match.why == ("Above 12%.",)
    assert match.inputs == {"nk_cell_percent": 14.0}  # only the table's own inputs are traced


def test_absent_input_matches_the_unknown_row_never_a_default(tmp_path: Path) -> None:
    assert load(tmp_path).match(PatientProfile()).rows == ("R2",)


def test_unique_table_with_a_gap_raises_at_match_time_if_it_skipped_verification(tmp_path: Path) -> None:
    table = compile_unverified(tmp_path, ('"[0, 12]|unknown"', '"[0, 12)|unknown"'))

    with pytest.raises(RuleTableError) as caught:
        table.match(PatientProfile(nk_cell_percent=12.0))

    assert caught.value.code == "rules.gap"


def test_unique_table_with_an_overlap_raises_at_match_time_if_it_skipped_verification(tmp_path: Path) -> None:
    table = compile_unverified(tmp_path, ('"[0, 12]|unknown"', '"[0, 12.5]|unknown"'))

    with pytest.raises(RuleTableError) as caught:
        table.match(PatientProfile(nk_cell_percent=12.25))

    assert caught.value.code == "rules.overlap"
    assert caught.value.details["rows"] == ["R1", "R2"]


def test_collect_table_fires_every_matching_row_in_row_order(tmp_path: Path) -> None:
    table = load(tmp_path, text=TINY_NOTES)

    match = table.match(PatientProfile(nk_cell_percent=14.0))

    assert match.rows == ("R1", "R2")
    assert match.then == ("nk-high", "timing-unknown")


def test_collect_table_may_fire_no_row(tmp_path: Path) -> None:
    table = load(tmp_path, text=TINY_NOTES)

    assert table.match(PatientProfile(nk_cell_percent=5.0, ivig_start="conception_cycle")).rows == ()


# --- The grid -----------------------------------------------------------------------------------------------------


def test_number_grid_holds_every_bound_the_floats_either_side_and_midpoints_within_the_domain() -> None:
    values = grid_values(NUMBER, ["(12, 100]", "[0, 12]|unknown"])

    assert values == [
        0.0,
        math.nextafter(0.0, math.inf),
        6.0,
        math.nextafter(12.0, -math.inf),
        12.0,
        math.nextafter(12.0, math.inf),
        56.0,
        math.nextafter(100.0, -math.inf),
        100.0,
        None,
    ]


def test_integer_grid_holds_each_bound_and_its_neighbours_within_the_domain() -> None:
    values = grid_values(INTEGER, ["[0, 1]", "[2, 50]|unknown"])

    assert values == [0, 1, 2, 3, 26, 49, 50, None]


def test_set_grid_holds_every_combination_of_conditions_and_unknown() -> None:
    values = grid_values(SET, ["any", "none|unknown"])

    assert len(values) == 2 ** len(AUTOIMMUNE_CONDITIONS) + 1
    assert () in values and None in values and tuple(AUTOIMMUNE_CONDITIONS) in values


def test_input_with_no_bounds_anywhere_still_gets_a_known_value_in_the_grid() -> None:
    # Without one, a table covering only "unknown" would pass as gap-free.
    assert [v for v in grid_values(Input(kind="number"), ["unknown"]) if v is not None]
    assert [v for v in grid_values(Input(kind="integer"), ["*"]) if v is not None]


# --- Load-time errors ---------------------------------------------------------------------------------------------


def test_tiny_table_loads_and_its_example_holds(tmp_path: Path) -> None:
    assert [row.id for row in load(tmp_path).rows] == ["R1", "R2"]


def test_bad_cell_is_rejected_naming_row_column_and_cell(tmp_path: Path) -> None:
    error = load_error(tmp_path, ('"(12, 100]"', '"(12, 100"'))

    assert error.code == "rules.bad_cell"
    assert (error.details["field"], error.details["value"]) == ("rows.R1.nk_cell_percent", "(12, 100")


def test_input_that_is_not_a_profile_field_is_rejected(tmp_path: Path) -> None:
    nk_input = 'inputs.nk_cell_percent = { kind = "number", unit = "%", domain = "[0, 100]" }\n'
    error = load_error(tmp_path, (nk_input, nk_input + 'inputs.shoe_size = { kind = "number" }\n'))

    assert error.code == "rules.unknown_input"
    assert (error.details["field"], error.details["value"]) == ("inputs", ["shoe_size"])


def test_gap_at_exactly_12_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path, ('"[0, 12]|unknown"', '"[0, 12)|unknown"'))

    assert error.code == "rules.gap"
    assert error.details["inputs"] == {"nk_cell_percent": 12.0}
    assert error.details["rows"] == []


def test_overlap_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path, ('"[0, 12]|unknown"', '"[0, 12.5]|unknown"'))

    assert error.code == "rules.overlap"
    assert error.details["rows"] == ["R1", "R2"]


def test_row_no_input_can_reach_is_rejected(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        (
            'then = "outside_population" },\n',
            'then = "outside_population" },\n  { id = "R3", nk_cell_percent = "(100, 200]", then = "matched" },\n',
        ),
        ('R2 = "12% or below, or not known."\n', 'R2 = "12% or below, or not known."\nR3 = "Outside the domain."\n'),
    )

    assert error.code == "rules.unreachable_row"
    assert error.details["rows"] == ["R3"]


def test_failing_worked_example_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path, ('expect_rows = ["R2"]', 'expect_rows = ["R1"]'))

    assert error.code == "rules.example_failed"
    assert (error.details["field"], error.details["value"]) == ("examples.0", {"expected": ("R1",), "got": ("R2",)})


def test_dangling_estimate_reference_in_then_is_rejected(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        ('output = "status"', 'output = "estimates"'),
        ('then = "matched"', f'then = ["{OVERALL}"]'),
        ('then = "outside_population"', 'then = ["habets-2022-ivig-rpl#no-such-estimate", "' + OVERALL + '"]'),
    )

    assert error.code == "rules.dangling_output"
    assert (error.details["field"], error.details["value"]) == (
        "rows.R2.then",
        ["habets-2022-ivig-rpl#no-such-estimate", OVERALL],
    )


def test_estimates_table_whose_then_resolves_loads(tmp_path: Path) -> None:
    table = load(
        tmp_path,
        ('output = "status"', 'output = "estimates"'),
        ('then = "matched"', f'then = ["{OVERALL}"]'),
        ('then = "outside_population"', f'then = ["{OVERALL}"]'),
    )

    assert table.match(PatientProfile()).then == (OVERALL,)


def test_status_that_is_not_one_of_design_md_is_rejected_as_dangling(tmp_path: Path) -> None:
    error = load_error(tmp_path, ('then = "matched"', 'then = "probably_fine"'))

    assert error.code == "rules.dangling_output"


def test_note_the_table_does_not_define_is_rejected_as_dangling(tmp_path: Path) -> None:
    error = load_error(tmp_path, ('then = ["nk-high"]', 'then = ["nk-very-high"]'), text=TINY_NOTES)

    assert error.code == "rules.dangling_output"


def test_row_missing_a_column_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path, ('{ id = "R1", nk_cell_percent = "(12, 100]",       then', '{ id = "R1", then'))

    assert error.code == "rules.bad_row"
    assert (error.details["field"], error.details["value"]) == ("rows.R1", ["nk_cell_percent"])


def test_row_with_a_column_that_is_not_an_input_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path, ('{ id = "R1",', '{ id = "R1", ivig_start = "*",'))

    assert error.code == "rules.bad_row"
    assert (error.details["field"], error.details["value"]) == ("rows.R1", ["ivig_start"])


def test_row_without_a_reason_is_rejected_as_schema_error(tmp_path: Path) -> None:
    error = load_error(tmp_path, ('R2 = "12% or below, or not known."\n', ""))

    assert error.code == "rules.schema"


def test_misspelt_top_level_key_is_rejected_naming_the_typo(tmp_path: Path) -> None:
    error = load_error(tmp_path, ('hit_policy = "unique"', 'hit_polcy = "unique"'))

    assert error.code == "rules.schema"
    assert (error.details["field"], error.details["value"]) == ("hit_polcy", "unique")


def test_table_with_toml_syntax_error_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path, ('then = "matched" },', 'then = "matched" '))

    assert error.code == "rules.toml_syntax"
