"""The curator's study-counts CSV: what is read, and each refusal by code with the spreadsheet row and column."""

from __future__ import annotations

import pytest

from plugin.core.stats.pooling import Table2x2
from plugin.core.stats.study_csv import read_study_csv
from plugin.errors import StudyDataError

HEADER = "study,ivig_events,ivig_total,control_events,control_total\n"


def test_rows_become_labelled_2x2_tables_in_file_order() -> None:
    studies = read_study_csv(HEADER + "Stricker 2005,38,44,2,20\nWinger 2008,20,37,4,21\n")

    assert [(s.study, s.table) for s in studies] == [
        ("Stricker 2005", Table2x2(38, 44, 2, 20)),
        ("Winger 2008", Table2x2(20, 37, 4, 21)),
    ]


def test_extra_columns_column_order_spaces_and_trailing_blank_lines_are_accepted() -> None:
    text = "note, control_total,control_events,ivig_total,ivig_events,study\nx, 20,2,44,38,Stricker 2005\n\n,,,,,\n"

    assert [s.table for s in read_study_csv(text)] == [Table2x2(38, 44, 2, 20)]


def test_zero_events_are_counts_not_errors() -> None:
    assert read_study_csv(HEADER + "a,0,10,0,12\n")[0].table == Table2x2(0, 10, 0, 12)


@pytest.mark.parametrize(
    ("text", "code", "row", "column"),
    [
        pytest.param("", "study_data.empty", None, None, id="empty-file"),
        pytest.param(HEADER, "study_data.empty", 2, None, id="header-only"),
        pytest.param("study,ivig_events,ivig_total,control_total\na,1,2,3\n", "study_data.missing_column", 1,
                     "control_events", id="missing-column"),
        pytest.param(HEADER + "a,1,10,2,20\nb,11,10,2,20\n", "study_data.events_above_total", 3, "ivig_events",
                     id="events-above-total"),
        pytest.param(HEADER + "a,1,10,21,20\n", "study_data.events_above_total", 2, "control_events",
                     id="control-events-above-total"),
        pytest.param(HEADER + "a,-1,10,2,20\n", "study_data.not_a_count", 2, "ivig_events", id="negative"),
        pytest.param(HEADER + "a,1,10.0,2,20\n", "study_data.not_a_count", 2, "ivig_total", id="decimal"),
        pytest.param(HEADER + "a,1,10,two,20\n", "study_data.not_a_count", 2, "control_events", id="word"),
        pytest.param(HEADER + "a,1,10,2,\n", "study_data.missing_value", 2, "control_total", id="blank-cell"),
        pytest.param(HEADER + "a,1,10,2\n", "study_data.missing_value", 2, "control_total", id="short-row"),
        pytest.param(HEADER + "a,0,0,2,20\n", "study_data.empty_arm", 2, "ivig_total", id="empty-arm"),
    ],
)  # fmt: skip
def test_impossible_input_is_refused_naming_the_row_and_column(
    text: str, code: str, row: int | None, column: str | None
) -> None:
    with pytest.raises(StudyDataError) as caught:
        read_study_csv(text)

    assert caught.value.code == code
    assert caught.value.details.get("row") == row
    assert caught.value.details.get("column") == column
