"""Loading decision tables, and proving them on their complete input grid before the service starts.

Between two consecutive bounds of any cell every predicate is constant, so the grid (each bound, the floats
just either side of it, the midpoints, each choice, every subset of a set, and unknown) covers the whole input
space: a gap, an overlap or an unreachable row found here is found for every input.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from pydantic import ValidationError

from plugin.core.evidence.files import read_toml
from plugin.core.rules.profile import PatientProfile
from plugin.core.rules.proofs import PROVING_CODE, ProofDirectory, code_digest, proof_key
from plugin.core.rules.table import (
    DERIVED_INPUTS,
    INTERVAL,
    STATUSES,
    DecisionTable,
    Input,
    Table,
    Value,
    compile_table,
    interval,
)
from plugin.errors import RuleTableError

# What a remembered proof depends on besides the table file: the code that compiles and proves tables.
PROVING_DIGEST = code_digest(*PROVING_CODE, sys.modules[__name__])


def _number_points(spec: Input, cells: list[str]) -> Sequence[Value]:
    """Every bound of every cell, the floats just either side of it, and the midpoints in between."""
    bounds: set[float] = set()
    for text in [*cells, spec.domain or ""]:
        for part in text.split("|"):
            found = INTERVAL.match(part.strip())
            if found:
                bounds.update(float(b) for b in found.group(2, 3) if not math.isinf(float(b)))
    domain = interval(spec.domain, spec.kind == "integer") if spec.domain else (lambda value: True)
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
        derived = {name: value for name, value in example.given.items() if name in DERIVED_INPUTS}
        try:
            profile = PatientProfile.model_validate({k: v for k, v in example.given.items() if k not in derived})
        except ValidationError as exc:
            raise RuleTableError(
                str(exc.errors()[0]["msg"]),
                code="rules.bad_example",
                file=str(path),
                field=f"examples.{index}.given",
                value=example.given,
            ) from None
        got = table.match(profile, derived).rows
        if got != example.expect_rows:
            raise RuleTableError(
                "a worked example does not give the rows it expects",
                code="rules.example_failed",
                file=str(path),
                field=f"examples.{index}",
                value={"expected": example.expect_rows, "got": got},
            )


def load_table(
    path: Path, known_outputs: Mapping[str, set[str]], proofs: ProofDirectory | None = None
) -> DecisionTable:
    """Load, compile and verify one table file (unless `proofs` holds the proof of this very file and code).

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
    key = proof_key(PROVING_DIGEST, path.read_bytes(), outputs) if proofs is not None else ""
    if proofs is None or key not in proofs:
        verify(table, path)
        if proofs is not None:
            proofs.add(key)
    return table


def load_tables(
    directory: Path, estimate_refs: set[str], context_ids: set[str], proofs: ProofDirectory | None = None
) -> dict[str, DecisionTable]:
    """Load every `rules/*.toml` under the evidence directory, keyed by table id.

    Raises:
        RuleTableError: any table fails to load.
    """
    known = {"status": set(STATUSES), "estimates": estimate_refs, "context": context_ids}
    tables = [load_table(path, known, proofs) for path in sorted((directory / "rules").glob("*.toml"))]
    return {table.id: table for table in tables}
