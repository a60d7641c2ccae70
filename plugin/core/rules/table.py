"""Decision tables as data: cells become typed predicates at load time; `match` returns the row and its trace.

Cell grammar: "*" any value (unknown included) | "unknown" not supplied | "a|b" one of several atoms.
Atoms by input kind: number/integer "[x, y]", "(x, y]", ... ("inf" allowed); choice a listed value;
boolean "true"/"false"; set "none" (empty), "any" (non-empty) or a listed value (contained).
Loading and proving the tables is `plugin.core.rules.loading`.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from plugin.core.evidence.model import Frozen, Slug, Text
from plugin.core.rules.profile import PatientProfile
from plugin.errors import RuleTableError

Value = float | int | bool | str | tuple[str, ...] | None
Predicate = Callable[[Value], bool]
STATUSES = ("matched", "insufficient_information", "outside_population", "not_rpl")
# Inputs that are not profile fields but facts the answer already knows when a later table runs: the status
# the status table chose, and whether the question is asked at an IVIG order (true) or not (unknown).
DERIVED_INPUTS = ("status", "ivig_order")
INTERVAL = re.compile(r"^([\[(])\s*(-?[\d.]+|-inf)\s*,\s*(-?[\d.]+|inf)\s*([\])])$")


class Input(Frozen):
    kind: Literal["number", "integer", "choice", "boolean", "set"]
    domain: str | None = None
    unit: str | None = None
    values: tuple[str, ...] = ()


class Example(Frozen):
    given: dict[str, Any]
    expect_rows: tuple[str, ...] = Field(min_length=1)


class Table(Frozen):
    schema_version: Literal[1]
    id: Slug
    description: Text
    hit_policy: Literal["unique", "collect"]
    output: Literal["status", "estimates", "notes", "context"]
    inputs: dict[str, Input]
    rows: tuple[dict[str, Any], ...] = Field(min_length=1)
    why: dict[str, Text]
    notes: dict[str, Text] = {}
    # Notes a clinician must see first (the answer's first layer), by code, in fewer words.
    glance: dict[str, Text] = {}
    examples: tuple[Example, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _rows_are_named_and_explained(self) -> Self:
        ids = [row.get("id") for row in self.rows]
        if len(set(ids)) != len(ids) or not all(isinstance(i, str) and re.fullmatch(r"R\d+", i) for i in ids):
            raise ValueError(f"row ids must be unique and of the form R1, R2, ...: {ids}")
        missing = [i for i in ids if i not in self.why]
        if missing:
            raise ValueError(f"rows without a `why`: {missing}")
        unknown = [code for code in self.glance if code not in self.notes]
        if unknown:
            raise ValueError(f"`glance` names notes the table does not have: {unknown}")
        return self


class Row(Frozen):
    id: str
    cells: dict[str, str]
    then: tuple[str, ...]
    why: str


class Match(Frozen):
    """Which rows of which table fired, on which input values: the answer's trace."""

    table: str
    rows: tuple[str, ...]
    then: tuple[str, ...]
    why: tuple[str, ...]
    inputs: dict[str, Value]


class DecisionTable:
    """A loaded table: its rows with compiled predicates. Build with `compile_table`."""

    def __init__(self, spec: Table, rows: list[Row], predicates: list[dict[str, Predicate]]) -> None:
        self.spec = spec
        self.rows = rows
        self._predicates = predicates
        # The rows that fire are worked out once for each combination of what the rows can tell apart, then looked
        # up: a number by where it falls among the cells' bounds (on one, or between two), any other input (a few
        # values each) as given.
        self._numbers = [
            (name, cut_points(row.cells[name] for row in rows))
            for name, input_spec in spec.inputs.items()
            if input_spec.kind in ("number", "integer")
        ]
        self._others = [name for name in spec.inputs if spec.inputs[name].kind not in ("number", "integer")]
        self._hits: dict[tuple[object, ...], tuple[Row, ...]] = {}

    @property
    def id(self) -> str:
        return self.spec.id

    def hits(self, values: Mapping[str, Value]) -> list[Row]:
        held = (
            *(position(points, values.get(name)) for name, points in self._numbers),
            *(values.get(name) for name in self._others),
        )
        found = self._hits.get(held)
        if found is None:
            found = tuple(self.evaluated(values))
            self._hits[held] = found
        return list(found)

    def evaluated(self, values: Mapping[str, Value]) -> list[Row]:
        """The rows whose every cell holds, each predicate evaluated (what `hits` keeps)."""
        return [
            row
            for row, predicates in zip(self.rows, self._predicates, strict=True)
            if all(predicate(values.get(name)) for name, predicate in predicates.items())
        ]

    def match(self, profile: PatientProfile, derived: Mapping[str, Value] | None = None) -> Match:
        """The rows that fire for this profile (and any derived inputs), with the inputs they read.

        Raises:
            RuleTableError: a unique table hit no row or several (a gap or an overlap).
        """
        known = derived or {}
        values = {
            name: known.get(name) if name in DERIVED_INPUTS else getattr(profile, name) for name in self.spec.inputs
        }
        rows = self.hits(values)
        if self.spec.hit_policy == "unique" and len(rows) != 1:
            code = "rules.gap" if not rows else "rules.overlap"
            raise RuleTableError(
                "a unique table must hit exactly one row",
                code=code,
                table=self.id,
                rows=[r.id for r in rows],
                inputs=values,
            )
        return Match(
            table=self.id,
            rows=tuple(r.id for r in rows),
            then=tuple(itertools.chain.from_iterable(r.then for r in rows)),
            why=tuple(r.why for r in rows),
            inputs=values,
        )


def cut_points(cells: Iterable[str]) -> tuple[float, ...]:
    """Every finite bound of the intervals in these cells, in order: an interval cell holds on the whole of each
    stretch between two of them, and on each of them, or nowhere in it."""
    points: set[float] = set()
    for atom in (atom.strip() for cell in cells for atom in cell.split("|")):
        bounds = INTERVAL.match(atom)
        if bounds is not None:
            points.update(float(b) for b in bounds.group(2, 3) if not math.isinf(float(b)))
    return tuple(sorted(points))


def position(points: tuple[float, ...], value: Value) -> object:
    """Where a number falls among `points` (on one of them when the two indexes differ); anything else as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return bisect.bisect_left(points, value), bisect.bisect_right(points, value)


def interval(atom: str, integer: bool) -> Predicate:
    found = INTERVAL.match(atom)
    if found is None:
        raise ValueError(f"{atom!r} is not an interval such as '[0, 12]' or '(12, 100]'")
    left, low, high, right = found.groups()
    lo, hi = float(low), float(high)
    if integer and not all(math.isinf(b) or b.is_integer() for b in (lo, hi)):
        raise ValueError(f"{atom!r}: integer bounds must be whole numbers")

    def inside(value: Value) -> bool:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        above = value > lo or (left == "[" and value == lo)
        below = value < hi or (right == "]" and value == hi)
        return above and below

    return inside


def _atom(atom: str, spec: Input) -> Predicate:
    if spec.kind in ("number", "integer"):
        return interval(atom, spec.kind == "integer")
    if spec.kind == "boolean":
        if atom not in ("true", "false"):
            raise ValueError(f"{atom!r} is not 'true' or 'false'")
        return lambda value: value is (atom == "true")
    if spec.kind == "choice":
        if atom not in spec.values:
            raise ValueError(f"{atom!r} is not one of {list(spec.values)}")
        return lambda value: value == atom
    if atom == "none":
        return lambda value: value == ()
    if atom == "any":
        return lambda value: isinstance(value, tuple) and len(value) > 0
    if atom not in spec.values:
        raise ValueError(f"{atom!r} is not 'none', 'any' or one of {list(spec.values)}")
    return lambda value: isinstance(value, tuple) and atom in value


def compile_cell(cell: str, spec: Input) -> Predicate:
    """Turn one cell into a predicate over the input's value (None = unknown). Raises ValueError on bad cells."""
    if cell.strip() == "*":
        return lambda value: True
    atoms: list[Predicate] = []
    for part in (p.strip() for p in cell.split("|")):
        atoms.append((lambda value: value is None) if part == "unknown" else _atom(part, spec))
    return lambda value: any(atom(value) for atom in atoms)


def compile_table(spec: Table, path: Path, known_outputs: set[str]) -> DecisionTable:
    """Compile every cell and check every output.

    Raises:
        RuleTableError: an unknown input, a bad cell, a missing column or a dangling output.
    """

    def fail(message: str, code: str, **details: Any) -> RuleTableError:
        return RuleTableError(message, code=code, file=str(path), **details)

    unknown = sorted(set(spec.inputs) - set(PatientProfile.model_fields) - set(DERIVED_INPUTS))
    if unknown:
        raise fail(
            f"inputs must be PatientProfile fields or one of {list(DERIVED_INPUTS)}",
            "rules.unknown_input",
            field="inputs",
            value=unknown,
        )
    rows: list[Row] = []
    predicates: list[dict[str, Predicate]] = []
    for raw in spec.rows:
        row_id = raw["id"]
        then = raw.get("then")
        then = (then,) if isinstance(then, str) else tuple(then or ())
        columns = set(raw) - {"id", "then"}
        if columns != set(spec.inputs):
            raise fail(
                "every row must give a cell for each input, and only those",
                "rules.bad_row",
                field=f"rows.{row_id}",
                value=sorted(columns ^ set(spec.inputs)),
            )
        compiled: dict[str, Predicate] = {}
        for name, cell in ((n, raw[n]) for n in spec.inputs):
            try:
                compiled[name] = compile_cell(str(cell), spec.inputs[name])
            except ValueError as exc:
                raise fail(str(exc), "rules.bad_cell", field=f"rows.{row_id}.{name}", value=cell) from None
        if not then and spec.output != "notes":
            raise fail("a row must say what it decides", "rules.bad_row", field=f"rows.{row_id}.then", value=then)
        dangling = [t for t in then if t not in known_outputs]
        if dangling or (spec.output == "status" and len(then) != 1):
            raise fail(
                "`then` names something that does not exist",
                "rules.dangling_output",
                field=f"rows.{row_id}.then",
                value=list(then),
            )
        rows.append(Row(id=row_id, cells={n: str(raw[n]) for n in spec.inputs}, then=then, why=spec.why[row_id]))
        predicates.append(compiled)
    return DecisionTable(spec, rows, predicates)
