"""Finished answers, made once per kind of patient and then reused.

An answer is a pure function of the evidence version and of what the answer reads from the profile. It reads
the number inputs (losses, NK %) only through the decision tables' cut points, the immune findings and the fewest
losses a sourced baseline was measured in, so two
profiles on the same side of every cut get the same answer except where the answer echoes her own values: the
`profile` field and the inputs of each trace step. The cache keeps one finished answer per *class* of profile
(its JSON body, where the echoes sit in it, and both renderings) and fills those echoes in from the profile
asked about.
Every other profile field (baseline chance, timing, conditions...) is part of the class exactly as given.

Proven in the tests: the body made here is byte for byte what the uncached path gives, over the whole profile
grid and for random profiles.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from plugin.core.answer.lru import Lru
from plugin.core.answer.model import Answer, TraceStep
from plugin.core.answer.views import her_findings
from plugin.core.rules.profile import PatientProfile
from plugin.core.rules.table import INTERVAL, DecisionTable, Predicate, Value, compile_cell

# Number inputs the answer reads only through decision-table cells and `her_findings`: everything else is keyed
# exactly as given.
BANDED = ("prior_pregnancy_losses", "nk_cell_percent")
# The rendered answer's fields whose values echo the profile itself.
ECHOES = ("profile", "trace")
# The same encoding FastAPI's JSONResponse gives a response model, so a cached body is the body it would send.
ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode


@dataclass(frozen=True)
class Bands:
    """What the decision tables can tell apart of one number input: its values fall into elementary bands between
    and on the cut points, every cell predicate holds on the whole of a band or nowhere in it, and the key of a
    value is which predicates hold (so [0, 1] and [2, 2] make 0 and 1 one class, 2 another)."""

    points: tuple[float, ...]
    signatures: dict[tuple[int, int], tuple[bool, ...]]
    unknown: tuple[bool, ...]

    def of(self, value: float | None) -> tuple[bool, ...]:
        if value is None:
            return self.unknown
        return self.signatures[(bisect.bisect_left(self.points, value), bisect.bisect_right(self.points, value))]


def bands_of(name: str, tables: dict[str, DecisionTable], floors: Collection[float] = ()) -> Bands:
    """The bands of input `name`: every cell the tables hold for it, every finite bound in those cells, and each
    of `floors` (a value the answer compares the input against outside the tables: "at least this")."""
    predicates: list[Predicate] = [partial(at_least, floor) for floor in sorted(floors)]
    points: set[float] = set(floors)
    for table in tables.values():
        spec = table.spec.inputs.get(name)
        if spec is None:
            continue
        cells = sorted({row.cells[name] for row in table.rows if name in row.cells})
        predicates += [compile_cell(cell, spec) for cell in cells]
        for atom in (atom.strip() for cell in cells for atom in cell.split("|")):
            bounds = INTERVAL.match(atom)
            if bounds is not None:
                points.update(float(b) for b in bounds.group(2, 3) if not math.isinf(float(b)))
    ordered = sorted(points)
    # One value inside each band: below the first point, on each point, between two, above the last.
    samples = [0.0]
    if ordered:
        samples = [ordered[0] - 1, *ordered, ordered[-1] + 1]
        samples += [(low + high) / 2 for low, high in itertools.pairwise(ordered)]
    signatures = {
        (bisect.bisect_left(ordered, v), bisect.bisect_right(ordered, v)): tuple(p(v) for p in predicates)
        for v in samples
    }
    return Bands(tuple(ordered), signatures, tuple(p(None) for p in predicates))


def at_least(floor: float, value: Value) -> bool:
    return isinstance(value, int | float) and value >= floor


@dataclass(frozen=True)
class Finished:
    """One answer as every door sends it: the object, its JSON body, where the echoes sit in it, its renderings."""

    answer: Answer
    body: bytes
    echoes: tuple[tuple[int, int], ...]  # (start, end) of each `"key":value` of ECHOES in `body`, in body order
    markdown: str
    text: str
    evidence_markdown: str  # layers 1 and 2: what a chat assistant reads first


Render = Callable[[Answer], tuple[str, str, str]]


def encoded_fields(fields: dict[str, Any]) -> list[tuple[str, bytes]]:
    """`"key":value` for each top-level field: joined with commas inside braces, the encoding of the whole."""
    return [(key, ENCODE({key: value})[1:-1].encode()) for key, value in fields.items()]


class AnswerCache:
    """Finished answers per (evidence version, class of profile, asked at an IVIG order), at most `size` of them."""

    def __init__(
        self,
        compute: Callable[[PatientProfile, bool], Answer],
        render: Render,
        tables: dict[str, DecisionTable],
        version: str,
        size: int,
        floors: Mapping[str, Collection[float]] | None = None,
    ) -> None:
        self._compute = compute
        self._render = render
        self._bands = {name: bands_of(name, tables, (floors or {}).get(name, ())) for name in BANDED}
        self._version = version
        self.classes: Lru[tuple[Any, ...], Finished] = Lru(size)
        # The same profile asked again: its finished answer, found without working out its class.
        self.profiles: Lru[tuple[PatientProfile, bool], Finished] = Lru(size)
        # Told of each lookup, True for a hit (the service's metrics); nothing by default.
        self.on_lookup: Callable[[bool], None] = _ignore

    def cut_points(self, name: str) -> tuple[float, ...]:
        """The values at which the answer can change for number input `name` (one of BANDED)."""
        return self._bands[name].points

    def key(self, profile: PatientProfile, ivig_order: bool) -> tuple[Any, ...]:
        """What the answer reads from the profile: the band of each number input, every other field as given."""
        parts: list[Any] = [self._version, ivig_order, tuple(her_findings(profile))]
        for name, value in profile:
            bands = self._bands.get(name)
            parts.append(value if bands is None else bands.of(value))
        return tuple(parts)

    def finished(self, profile: PatientProfile, ivig_order: bool = False) -> Finished:
        """The finished answer for this profile: made for its class once, her own values filled in otherwise."""
        found = self.profiles.get((profile, ivig_order))
        if found is not None:
            self.on_lookup(True)
            return found
        key = self.key(profile, ivig_order)
        entry = self.classes.get(key)
        self.on_lookup(entry is not None)
        if entry is None:
            entry = self._finish(self._compute(profile, ivig_order))
            self.classes.put(key, entry)
        elif entry.answer.profile != profile:
            entry = self._refill(entry, profile)
        self.profiles.put((profile, ivig_order), entry)
        return entry

    def answer(self, profile: PatientProfile, ivig_order: bool = False) -> Answer:
        return self.finished(profile, ivig_order).answer

    def body(self, profile: PatientProfile) -> bytes:
        """The JSON body of POST /v1/answer: the rendered answer, as its response model would be encoded."""
        return self.finished(profile).body

    def _finish(self, answer: Answer) -> Finished:
        markdown, text, evidence_markdown = self._render(answer)
        fields = answer.model_dump(mode="json")
        fields["rendered"] = {"markdown": markdown, "text": text}
        body, echoes = joined(encoded_fields(fields))
        return Finished(answer, body, echoes, markdown, text, evidence_markdown)

    def _refill(self, entry: Finished, profile: PatientProfile) -> Finished:
        """The class's answer with her own values in the echoing fields (the tables read nothing else of them)."""
        trace = tuple(refilled(step, profile) for step in entry.answer.trace)
        answer = entry.answer.model_copy(update={"profile": profile, "trace": trace})
        fresh = [part for _, part in encoded_fields(answer.model_dump(mode="json", include=set(ECHOES)))]
        pieces, at = [], 0
        for (start, end), part in zip(entry.echoes, fresh, strict=True):
            pieces += [entry.body[at:start], part]
            at = end
        body = b"".join([*pieces, entry.body[at:]])
        return Finished(answer, body, (), entry.markdown, entry.text, entry.evidence_markdown)


def _ignore(hit: bool) -> None:
    """No one is listening."""


def joined(parts: list[tuple[str, bytes]]) -> tuple[bytes, tuple[tuple[int, int], ...]]:
    """The whole JSON object from its fields, and where each echoing field sits in it."""
    echoes, at = [], 1
    for key, part in parts:
        if key in ECHOES:
            echoes.append((at, at + len(part)))
        at += len(part) + 1
    return b"{" + b",".join(part for _, part in parts) + b"}", tuple(echoes)


def refilled(step: TraceStep, profile: PatientProfile) -> TraceStep:
    """A trace step with each profile input read from this profile (derived inputs such as status stay)."""
    fields = PatientProfile.model_fields
    inputs = {name: getattr(profile, name) if name in fields else value for name, value in step.inputs.items()}
    return step.model_copy(update={"inputs": inputs})
