"""Context records: the randomized evidence, guideline statements, regulatory positions and safety notes shown
beside every answer (one file per record in `evidence/context/`).

Each record copies the confirmed parts of one entry of the shared context evidence, with its source, locator
and status. A `not_found` entry is never in the store, and a `partly` entry lists what is unconfirmed in
`unconfirmed` and carries none of it: the loader refuses a file that would show either.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from plugin.core.evidence.model import Frozen, Text

ContextKind = Literal["rct_meta_analysis", "rct", "guideline", "regulatory", "safety"]
ContextStatus = Literal["verified", "partly", "not_found"]
Outcome = Literal["live_birth", "no_live_birth", "ongoing_pregnancy_22_weeks"]
# Which way of the line of no effect favours IVIG: for live birth a ratio above 1, for *no* live birth below 1.
Direction = Literal["higher_favours_ivig", "lower_favours_ivig"]
RANDOMIZED: frozenset[ContextKind] = frozenset({"rct_meta_analysis", "rct"})
# The fields that carry a figure or a claim; a `partly` record may name these as unconfirmed.
FIGURES = ("estimate", "ci_low", "ci_high", "p", "n_studies", "n_participants", "events")


class ContextRecord(Frozen):
    """One record as shown: the statement as the source words it, and its figures where they are confirmed."""

    schema_version: Literal[1]
    id: str = Field(pattern=r"^[a-z0-9]+(_[a-z0-9]+)*$")
    kind: ContextKind
    status: ContextStatus
    design: Text
    short: Text
    citation: Text
    doi: str | None = None
    url: str | None = None
    label: str | None = None
    statement: Text
    quote: bool = True
    population: str | None = None
    measure: str | None = None
    outcome: Outcome | None = None
    direction: Direction | None = None
    estimate: float | None = Field(default=None, gt=0)
    ci: tuple[float, float] | None = None
    p: str | None = None
    events: str | None = None
    ivig_events: int | None = Field(default=None, ge=0)
    ivig_total: int | None = Field(default=None, ge=1)
    control_events: int | None = Field(default=None, ge=0)
    control_total: int | None = Field(default=None, ge=1)
    n_studies: int | None = Field(default=None, ge=1)
    n_participants: int | None = Field(default=None, ge=1)
    certainty_or_strength: str | None = None
    where: Text
    unconfirmed: tuple[str, ...] = ()

    @property
    def randomized(self) -> bool:
        return self.kind in RANDOMIZED

    @property
    def ci_low(self) -> float | None:
        return self.ci[0] if self.ci else None

    @property
    def ci_high(self) -> float | None:
        return self.ci[1] if self.ci else None

    def shown_unconfirmed(self) -> list[str]:
        """The figures this record gives although it lists them as unconfirmed (the loader refuses any)."""
        return [name for name in self.unconfirmed if name in FIGURES and getattr(self, name) is not None]

    @model_validator(mode="after")
    def _figures_are_whole(self) -> Self:
        if (self.estimate is None) != (self.ci is None):
            raise ValueError("an estimate needs its confidence interval, and an interval its estimate")
        if self.estimate is not None and self.ci is not None:
            if not self.ci[0] <= self.estimate <= self.ci[1]:
                raise ValueError(f"ci {list(self.ci)} must bracket the estimate {self.estimate}")
            if self.direction is None or self.measure is None or self.outcome is None:
                raise ValueError("an estimate needs its measure, outcome and direction")
        return self
