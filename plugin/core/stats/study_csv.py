"""Reading a curator's study-counts CSV (study, ivig_events, ivig_total, control_events, control_total) into
2x2 tables, refusing any impossible count with the spreadsheet row and the column that holds it."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from plugin.core.stats.pooling import Table2x2
from plugin.core.stats.pooling_inputs import COLUMNS
from plugin.errors import StudyDataError

_COUNT = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class StudyCounts:
    """One study's label and counts, as read from the file."""

    study: str
    table: Table2x2


def _count(text: str, *, row: int, column: str) -> int:
    value = text.strip()
    if not _COUNT.fullmatch(value):
        raise StudyDataError(
            f"row {row}, column {column}: {text!r} is not a whole number of participants (0 or more)",
            code="study_data.not_a_count",
            row=row,
            column=column,
            value=text,
        )
    return int(value)


def _arm(record: dict[str, str], arm: str, *, row: int) -> tuple[int, int]:
    events = _count(record[f"{arm}_events"], row=row, column=f"{arm}_events")
    total = _count(record[f"{arm}_total"], row=row, column=f"{arm}_total")
    if total == 0:
        raise StudyDataError(
            f"row {row}, column {arm}_total: an arm needs at least one participant",
            code="study_data.empty_arm",
            row=row,
            column=f"{arm}_total",
            value=total,
        )
    if events > total:
        raise StudyDataError(
            f"row {row}, column {arm}_events: {events} events is more than the {arm}_total of {total}",
            code="study_data.events_above_total",
            row=row,
            column=f"{arm}_events",
            value=events,
        )
    return events, total


def read_study_csv(text: str) -> list[StudyCounts]:
    """Parse the CSV text; rows are numbered as in a spreadsheet (the header is row 1). Extra columns are ignored.

    Raises:
        StudyDataError: ``study_data.empty``, ``study_data.missing_column``, ``study_data.missing_value``,
            ``study_data.not_a_count``, ``study_data.empty_arm`` or ``study_data.events_above_total``, with
            `row` and `column` in its details.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    if not header:
        raise StudyDataError("the file is empty: expected a header row " + ",".join(COLUMNS), code="study_data.empty")
    reader.fieldnames = header
    for column in COLUMNS:
        if column not in header:
            raise StudyDataError(
                f"row 1, column {column}: missing from the header, which needs {', '.join(COLUMNS)}",
                code="study_data.missing_column",
                row=1,
                column=column,
            )
    studies = []
    for record in reader:
        row = reader.line_num
        if not any((value or "").strip() for value in record.values() if isinstance(value, str)):
            continue  # a blank line, as spreadsheets leave at the end
        for column in COLUMNS:
            if record.get(column) is None or not record[column].strip():
                raise StudyDataError(
                    f"row {row}, column {column}: no value", code="study_data.missing_value", row=row, column=column
                )
        ivig = _arm(record, "ivig", row=row)
        control = _arm(record, "control", row=row)
        studies.append(StudyCounts(record["study"].strip(), Table2x2(*ivig, *control)))
    if not studies:
        raise StudyDataError("the file has a header but no study rows", code="study_data.empty", row=2)
    return studies
