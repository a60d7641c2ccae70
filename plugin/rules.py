"""Decision tables as data: cells become typed predicates at load time; `match` returns the row and its trace.

Cell grammar: "*" any value (unknown included) | "unknown" not supplied | "a|b" one of several atoms.
Atoms by input kind: number/integer "[x, y]", "(x, y]", ... ("inf" allowed); choice a listed value;
boolean "true"/"false"; set "none" (empty), "any" (non-empty) or a listed value (contained).
Loading also proves the hit policy on the table's complete grid, so a gap or an overlap stops the service.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, ValidationError, model_validator

from plugin.errors import RuleTableError
from plugin.evidence import Frozen, Slug, Text, read_toml
from plugin.profile import PatientProfile

Value = float | int | bool | str | tuple[str, ...] | None
Predicate = Callable[[Value], bool]
STATUSES = ("matched", "insufficient_information", "outside_population", "not_rpl")
_INTERVAL = re.compile(r"^([\[(])\s*(-?[\d.]+|-inf)\s*,\s*(-?[\d.]+|inf)\s*([\])])$")


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
    output: Literal["status", "estimates", "notes"]
    inputs: dict[str, Input]
    rows: tuple[dict[str, Any], ...] = Field(min_length=1)
    why: dict[str, Text]
    notes: dict[str, Text] = {}
    examples: tuple[Example, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _rows_are_named_and_explained(self) -> Self:
        ids = [row.get("id") for row in self.rows]
        if len(set(ids)) != len(ids) or not all(isinstance(i, str) and re.fullmatch(r"R\d+", i) for i in ids):
            raise ValueError(f"row ids must be unique and of the form R1, R2, ...: {ids}")
        missing = [i for i in ids if i not in self.why]
        if missing:
            raise ValueError(f"rows without a `why`: {missing}")
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

    @property
    def id(self) -> str:
        return self.spec.id

    def hits(self, values: Mapping[str, Value]) -> list[Row]:
        return [
            row
            for row, predicates in zip(self.rows, self._predicates, strict=True)
            if all(predicate(values.get(name)) for name, predicate in predicates.items())
        ]

    def match(self, profile: PatientProfile) -> Match:
        """The rows that fire for this profile, with the inputs they read.

        Raises:
            RuleTableError: a unique table hit no row or several (a gap or an overlap).
        """
        values = {name: getattr(profile, name) for name in self.spec.inputs}
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


def _interval(atom: str, integer: bool) -> Predicate:
    found = _INTERVAL.match(atom)
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
        return _interval(atom, spec.kind == "integer")
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

    unknown = sorted(set(spec.inputs) - set(PatientProfile.model_fields))
    if unknown:
        raise fail("inputs must be PatientProfile fields", "rules.unknown_input", field="inputs", value=unknown)
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


def _number_points(spec: Input, cells: list[str]) -> Sequence[Value]:
    """Every bound of every cell, the floats just either side of it, and the midpoints in between."""
    bounds: set[float] = set()
    for text in [*cells, spec.domain or ""]:
        for part in text.split("|"):
            found = _INTERVAL.match(part.strip())
            if found:
                bounds.update(float(b) for b in found.group(2, 3) if not math.isinf(float(b)))
    domain = _interval(spec.domain, spec.kind == "integer") if spec.domain else (lambda value: True)
    ordered = sorted(bounds) or [0.0]  # no bound anywhere: one known value still has to be tried
    if spec.kind == "integer":
        raw = {int(b) + d for b in ordered for d in (-1, 0, 1)} | {int(ordered[-1]) + 1000}
        raw |= {(int(a) + int(b)) // 2 for a, b in itertools.pairwise(ordered)}
        return sorted(v for v in raw if domain(v))
    points = set(ordered) | {(a + b) / 2 for a, b in itertools.pairwise(ordered)}
    points |= {math.nextafter(b, math.inf) for b in ordered} | {math.nextafter(b, -math.inf) for b in ordered}
    return sorted(v for v in points if domain(v))


def grid_values(spec: Input, cells: list[str]) -> list[Value]:
    """A complete set of representative values for one input: every region any cell can distinguish."""
    values: list[Value]
    if spec.kind in ("number", "integer"):
        values = list(_number_points(spec, cells))
    elif spec.kind == "boolean":
        values = [True, False]
    elif spec.kind == "choice":
        values = list(spec.values)
    else:
        values = [tuple(c) for r in range(len(spec.values) + 1) for c in itertools.combinations(spec.values, r)]
    return [*values, None]


def grid(table: DecisionTable) -> Iterator[dict[str, Value]]:
    """Every combination of representative values: the table's whole input space, up to equivalence."""
    names = list(table.spec.inputs)
    columns = [grid_values(table.spec.inputs[n], [r.cells[n] for r in table.rows]) for n in names]
    for combination in itertools.product(*columns):
        yield dict(zip(names, combination, strict=True))


def verify(table: DecisionTable, path: Path) -> None:
    """Prove the hit policy on the whole grid, that every row can fire, and that the worked examples hold.

    Raises:
        RuleTableError: a gap, an overlap, an unreachable row or a failing example.
    """
    fired: set[str] = set()
    for values in grid(table):
        hits = [r.id for r in table.hits(values)]
        if table.spec.hit_policy == "unique" and len(hits) != 1:
            code = "rules.gap" if not hits else "rules.overlap"
            raise RuleTableError(
                "a unique table must hit exactly one row on every input",
                code=code,
                file=str(path),
                rows=hits,
                inputs=values,
            )
        fired.update(hits)
    unreachable = [r.id for r in table.rows if r.id not in fired]
    if unreachable:
        raise RuleTableError(
            "rows that no input can reach", code="rules.unreachable_row", file=str(path), rows=unreachable
        )
    for index, example in enumerate(table.spec.examples):
        try:
            profile = PatientProfile.model_validate(example.given)
        except ValidationError as exc:
            raise RuleTableError(
                str(exc.errors()[0]["msg"]),
                code="rules.bad_example",
                file=str(path),
                field=f"examples.{index}.given",
                value=example.given,
            ) from None
        got = table.match(profile).rows
        if got != example.expect_rows:
            raise RuleTableError(
                "a worked example does not give the rows it expects",
                code="rules.example_failed",
                file=str(path),
                field=f"examples.{index}",
                value={"expected": example.expect_rows, "got": got},
            )


def load_table(path: Path, known_outputs: Mapping[str, set[str]]) -> DecisionTable:
    """Load, compile and verify one table file.

    Raises:
        RuleTableError: the file is malformed or its table is not sound.
    """
    try:
        spec = Table.model_validate(read_toml(path, RuleTableError))
    except ValidationError as exc:
        errors = exc.errors()
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])  # a typo before what it hides
        raise RuleTableError(
            first["msg"],
            code="rules.schema",
            file=str(path),
            field=".".join(map(str, first["loc"])),
            value=first.get("input"),
        ) from None
    outputs = set(spec.notes) if spec.output == "notes" else known_outputs[spec.output]
    table = compile_table(spec, path, outputs)
    verify(table, path)
    return table


def load_tables(directory: Path, estimate_refs: set[str]) -> dict[str, DecisionTable]:
    """Load every `rules/*.toml` under the evidence directory, keyed by table id.

    Raises:
        RuleTableError: any table fails to load.
    """
    known = {"status": set(STATUSES), "estimates": estimate_refs}
    tables = [load_table(path, known) for path in sorted((directory / "rules").glob("*.toml"))]
    return {table.id: table for table in tables}
