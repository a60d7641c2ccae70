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
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import pydantic_core

from plugin.core.answer.lru import Lru
from plugin.core.answer.model import Answer, TraceStep
from plugin.core.answer.same import Same, held
from plugin.core.answer.views import her_findings
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, BASELINE_SOURCES, IVIG_STARTS, RPL_TYPES, PatientProfile
from plugin.core.rules.table import DecisionTable, Predicate, Value, compile_cell, cut_points

# Number inputs the answer reads only through decision-table cells and `her_findings`: everything else is keyed
# exactly as given.
BANDED = ("prior_pregnancy_losses", "nk_cell_percent")
# How many values each other field of the profile has, unknown included (a baseline chance given as a number is
# read exactly: each is a class of its own, not counted).
CATEGORICAL = {
    "autoimmune_conditions": 1 + 2 ** len(AUTOIMMUNE_CONDITIONS),
    "th1_th2_ratio_elevated": 3,
    "ivig_start": 1 + len(IVIG_STARTS),
    "rpl_type": 1 + len(RPL_TYPES),
    "baseline_live_birth_source": 1 + len(BASELINE_SOURCES),
}
# The rendered answer's fields whose values echo the profile itself.
ECHOES = ("profile", "trace")
# Answers are encoded by their model's own serializer, compact and without escaping what is not ASCII: the bytes
# FastAPI (0.130 and later) sends for a response model (proven in the tests against a bare route), at about a
# third of the standard library encoder's cost.
SERIALIZER = Answer.__pydantic_serializer__


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
        points.update(cut_points(cells))
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


class Made:
    """What a class's answer is made into, each only when a door first asks for it: the JSON body (with where the
    echoes sit in it), the full markdown and text, the markdown of the first two layers. A door that needs none
    of them (CDS Hooks, the widget) never pays for them; the renderings the body holds are not kept beside it."""

    def __init__(self, answer: Answer, render: Render) -> None:
        self.answer = answer
        self._render = render
        self._body: tuple[bytes, tuple[tuple[int, int], ...]] | None = None
        self._both: tuple[str, str] | None = None
        self._evidence: str | None = None

    def renderings(self) -> tuple[str, str]:
        """The full markdown and text (made at most once, short of two threads meeting on the first)."""
        if self._both is None:
            self._both = self._render.both(self.answer)
        return self._both

    def evidence_markdown(self) -> str:
        if self._evidence is None:
            self._evidence = self._render.evidence(self.answer)
        return self._evidence

    def body(self) -> tuple[bytes, tuple[tuple[int, int], ...]]:
        """The rendered answer's JSON and, in body order, the (start, end) of each `"key":value` of ECHOES."""
        if self._body is None:
            markdown, text = self._both or self._render.both(self.answer)  # kept once, inside the body
            rendered = b'"rendered":' + pydantic_core.to_json({"markdown": markdown, "text": text})
            self._body = joined([*encoded_fields(self.answer, Answer.model_fields), ("rendered", rendered)])
        return self._body


class Finished:
    """One answer as every door sends it: her answer object, and its JSON body and renderings, made from her
    class's when first asked for (her own values filled into the body's echoes)."""

    def __init__(self, answer: Answer, made: Made) -> None:
        self.answer = answer
        self._made = made
        self._body: bytes | None = None

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = self._refilled_body()
        return self._body

    @property
    def markdown(self) -> str:
        return self._made.renderings()[0]

    @property
    def text(self) -> str:
        return self._made.renderings()[1]

    @property
    def evidence_markdown(self) -> str:
        """Layers 1 and 2: what a chat assistant reads first."""
        return self._made.evidence_markdown()

    def _refilled_body(self) -> bytes:
        body, echoes = self._made.body()
        if self.answer is self._made.answer:
            return body
        fresh = [part for _, part in encoded_fields(self.answer, ECHOES)]
        pieces, at = [], 0
        for (start, end), part in zip(echoes, fresh, strict=True):
            pieces += [body[at:start], part]
            at = end
        return b"".join([*pieces, body[at:]])


class Render(Protocol):
    """How a class's answer is rendered: the full markdown and text, and the first two layers as markdown."""

    def both(self, answer: Answer, /) -> tuple[str, str]: ...

    def evidence(self, answer: Answer, /) -> str: ...


# Fields whose objects are made once and shared by the answers that show them: their encoding is kept by identity
# (the records beside an answer are most of its bytes), at most ENCODINGS_KEPT of them.
SHARED_ENCODINGS = frozenset({"estimates", "context", "summary_of_findings"})
ENCODINGS_KEPT = 1024
_encodings: Lru[tuple[str, Same], bytes] = Lru(ENCODINGS_KEPT)


def encoded_fields(answer: Answer, names: Iterable[str]) -> list[tuple[str, bytes]]:
    """`"name":value` for each field named, in that order: joined with commas inside braces, the encoding of the
    whole."""
    return [(name, encoded_field(answer, name)) for name in names]


def encoded_field(answer: Answer, name: str) -> bytes:
    if name not in SHARED_ENCODINGS:
        return SERIALIZER.to_json(answer, include={name})[1:-1]
    key = (name, Same(held(getattr(answer, name))))
    encoded = _encodings.get(key)
    if encoded is None:
        encoded = SERIALIZER.to_json(answer, include={name})[1:-1]
        _encodings.put(key, encoded)
    return encoded


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
        # Every class the key can tell apart fits when they are fewer than `size`; `size` caps the memory otherwise.
        self.count = self.class_count(CATEGORICAL)
        size = min(size, self.count)
        self.classes: Lru[tuple[Any, ...], Made] = Lru(size)
        # The same profile asked again: its finished answer, found without working out its class.
        self.profiles: Lru[tuple[PatientProfile, bool], Finished] = Lru(size)
        # Told of each lookup, True for a hit (the service's metrics); nothing by default.
        self.on_lookup: Callable[[bool], None] = _ignore

    def class_count(self, categorical: Mapping[str, int]) -> int:
        """How many classes the key can tell apart, short of a baseline chance given as a number (each its own
        class): the bands of each number input (unknown included) times the values of each other field
        (`categorical`: field name to its count of values, unknown included), at an IVIG order or not."""
        count = 2
        for bands in self._bands.values():
            count *= len({*bands.signatures.values(), bands.unknown})
        for values in categorical.values():
            count *= values
        return count

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
        made = self.classes.get(key)
        self.on_lookup(made is not None)
        if made is None:
            made = Made(self._compute(profile, ivig_order), self._render)
            self.classes.put(key, made)
        entry = Finished(made.answer if made.answer.profile == profile else refill(made.answer, profile), made)
        self.profiles.put((profile, ivig_order), entry)
        return entry

    def answer(self, profile: PatientProfile, ivig_order: bool = False) -> Answer:
        return self.finished(profile, ivig_order).answer

    def body(self, profile: PatientProfile) -> bytes:
        """The JSON body of POST /v1/answer: the rendered answer, as its response model would be encoded."""
        return self.finished(profile).body


def refill(answer: Answer, profile: PatientProfile) -> Answer:
    """The class's answer with her own values in the echoing fields (the tables read nothing else of them)."""
    trace = tuple(refilled(step, profile) for step in answer.trace)
    return answer.model_copy(update={"profile": profile, "trace": trace})


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
