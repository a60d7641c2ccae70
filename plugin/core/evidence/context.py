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

ContextKind = Literal["rct_meta_analysis", "rct", "guideline", "regulatory", "safety", "baseline_risk"]
ContextStatus = Literal["verified", "partly", "not_found"]
# What a record is about, which decides where the short layers put it: the effect of IVIG (randomized evidence),
# the tests guidelines advise against, the standard care a guideline states, a position on IVIG (guidelines,
# funders, regulators, which disagree), a safety point, or a baseline chance of live birth without IVIG.
Topic = Literal["ivig_effect", "testing", "standard_care", "ivig_position", "safety", "baseline"]
# Topics whose records the evidence layer names in the curators' own few words (`gist`), not by a number.
GIST_TOPICS: frozenset[str] = frozenset({"ivig_position", "safety"})
RplType = Literal["primary", "secondary"]
Outcome = Literal["live_birth", "no_live_birth", "ongoing_pregnancy_22_weeks"]
# Which way of the line of no effect favours IVIG: for live birth a ratio above 1, for *no* live birth below 1.
Direction = Literal["higher_favours_ivig", "lower_favours_ivig"]
RANDOMIZED: frozenset[ContextKind] = frozenset({"rct_meta_analysis", "rct"})
# The fields that carry a figure or a claim; a `partly` record may name these as unconfirmed.
FIGURES = ("estimate", "ci_low", "ci_high", "p", "n_studies", "n_participants", "events")
# When a record's sources were last searched: an ISO 8601 date, to the month where the day was not recorded.
SEARCH_DATE = r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$"


class Subgroup(Frozen):
    """A subgroup result the record's source states beside its main one (e.g. secondary RPL), chosen by `rpl_type`."""

    rpl_type: RplType
    estimate: float = Field(gt=0)
    ci: tuple[float, float]

    @model_validator(mode="after")
    def _ci_brackets(self) -> Self:
        if not self.ci[0] <= self.estimate <= self.ci[1]:
            raise ValueError(f"ci {list(self.ci)} must bracket the estimate {self.estimate}")
        return self


class Baseline(Frozen):
    """A chance of live birth without IVIG that a caller may name, with who it was measured in and per what.

    `min_losses`, `rpl_type` and `excludes` describe the population: a woman outside it is refused this baseline
    (a woman with antiphospholipid syndrome does not have unexplained recurrent miscarriage).
    """

    risk: float = Field(gt=0, lt=1)
    ci: tuple[float, float] | None = None
    events: int | None = Field(default=None, ge=0)
    total: int | None = Field(default=None, ge=1)
    source_kind: Literal["placebo_arm", "cohort"]
    denominator: Text
    population: Text
    min_losses: int | None = Field(default=None, ge=2)
    rpl_type: RplType | None = None
    excludes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _counts_give_the_risk(self) -> Self:
        if (self.events is None) != (self.total is None):
            raise ValueError("give both events and total, or neither")
        if self.events is not None and self.total is not None:
            if self.events > self.total:
                raise ValueError("events cannot exceed the total")
            digits = len(repr(self.risk).partition(".")[2])
            if round(self.events / self.total, digits) != self.risk:
                raise ValueError(f"risk {self.risk} is not {self.events}/{self.total} to the digits given")
        if self.ci is not None and not self.ci[0] <= self.risk <= self.ci[1]:
            raise ValueError(f"ci {list(self.ci)} must bracket the risk {self.risk}")
        return self


# How a regimen's source writes a count of days ("five consecutive days"), so the loader can find it there.
COUNT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


class Regimen(Frozen):
    """How a trial gave IVIG, as numbers its statement states: what a woman would go through (the decision aid's
    practical burden). The loader checks each number against the statement, so none can drift from the source."""

    dose_mg_per_kg: int = Field(gt=0)
    days: int = Field(gt=0, lt=len(COUNT_WORDS))
    start_weeks: tuple[int, int]

    def missing_from(self, statement: str) -> list[str]:
        """The numbers this regimen gives that the statement does not state, as the statement would write them."""
        low, high = self.start_weeks
        written = (f"{self.dose_mg_per_kg} mg/kg", f"{COUNT_WORDS[self.days]} consecutive days", f"{low}–{high} weeks")
        return [text for text in written if text not in statement]


class ContextRecord(Frozen):
    """One record as shown: the statement as the source words it, and its figures where they are confirmed."""

    schema_version: Literal[1]
    id: str = Field(pattern=r"^[a-z0-9]+(_[a-z0-9]+)*$")
    kind: ContextKind
    topic: Topic
    status: ContextStatus
    last_searched: str = Field(pattern=SEARCH_DATE)
    design: Text
    short: Text
    citation: Text
    doi: str | None = None
    url: str | None = None
    label: str | None = None
    statement: Text
    also: tuple[Text, ...] = ()
    # The curators' few words for the evidence layer (layer 2), and for the first layer where this record is named
    # there (a position on IVIG, the standard care, a randomized timing subgroup). Not quotes: the statement is.
    gist: str | None = None
    glance: str | None = None
    # A harm the source states, quoted, named wherever the answer names harms.
    harm: str | None = None
    # A subgroup result of another record's analysis (its id), shown on that record's line as `subgroup_label`.
    subgroup_of: str | None = None
    subgroup_label: str | None = None
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
    subgroups: tuple[Subgroup, ...] = ()
    baseline: Baseline | None = None
    # How the trial gave IVIG, where its statement says (a dose, a number of days, when it started).
    regimen: Regimen | None = None
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
        if self.subgroups and self.estimate is None:
            raise ValueError("subgroup results need the record's own estimate, measure and direction")
        if (self.kind == "baseline_risk") != (self.baseline is not None) or (self.topic == "baseline") != (
            self.baseline is not None
        ):
            raise ValueError("a baseline_risk record (topic baseline) needs its [baseline], and only it has one")
        if (self.subgroup_of is None) != (self.subgroup_label is None):
            raise ValueError("a subgroup record names both the record it belongs to and its own label")
        if self.harm is not None and self.harm not in " ".join((self.statement, *self.also)):
            raise ValueError("`harm` must quote the record's statement")
        if self.regimen is not None and (missing := self.regimen.missing_from(self.statement)):
            raise ValueError(f"the regimen's numbers must be stated in the statement: {missing} are not")
        if self.topic in GIST_TOPICS and not self.gist:
            raise ValueError(f"a {self.topic} record needs its `gist`, the few words the short layers show")
        return self
