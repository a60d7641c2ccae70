"""Evidence models: one analysis per file, provenance on every number, frozen once loaded.

`EvidenceStore` is keyed "analysis-id#estimate-id"; reading it from disk is `plugin.core.evidence.store`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from plugin.core.evidence.context import SEARCH_DATE, ContextRecord
from plugin.core.evidence.model import Frozen, Slug, Text
from plugin.core.evidence.question import Question
from plugin.core.evidence.release import Release

Provenance = Literal["stated", "derived", "inferred"]
CertaintyLevel = Literal["low", "very_low"]
# What an included study selected women for (Table 1's inclusion criteria, as far as the sources go).
Selection = Literal[
    "nk_above_12",
    "antiphospholipid_syndrome",
    "systemic_lupus_erythematosus",
    "th1_th2_elevated",
    "immune_abnormality",
    "abnormal_immunologic_tests",
]


class Provenanced(Frozen):
    """A block of numbers read from a source: `where` locates all of them unless `where_for` says otherwise.

    A derived or inferred number must say how it was obtained (`method`, or `method_for` per field).
    """

    where: Text
    where_for: dict[str, Text] = {}
    provenance: Provenance = "stated"
    provenance_for: dict[str, Provenance] = {}
    method: Text | None = None
    method_for: dict[str, Text] = {}

    @model_validator(mode="after")
    def _provenance_is_complete(self) -> Self:
        own = set(type(self).model_fields) - set(Provenanced.model_fields)
        for mapping in ("where_for", "provenance_for", "method_for"):
            for name in getattr(self, mapping):
                if name not in own or getattr(self, name) is None:
                    raise ValueError(f"{mapping} names {name!r}, which is not a value given in this block")
        if self.provenance != "stated" and self.method is None:
            raise ValueError(f"a {self.provenance} block needs a `method` saying how it was obtained")
        for name, tag in self.provenance_for.items():
            if tag != "stated" and name not in self.method_for and self.method is None:
                raise ValueError(f"{name} is {tag}: method_for.{name} must say how it was obtained")
        return self

    def provenance_of(self, name: str) -> Provenance:
        return self.provenance_for.get(name, self.provenance)


class CertaintyReason(Frozen):
    domain: Literal[
        "study_design",
        "risk_of_bias",
        "inconsistency",
        "indirectness",
        "imprecision",
        "publication_bias",
        "large_effect",
        "subgroup_credibility",
    ]
    judgement: Text
    reason: Text


class Certainty(Frozen):
    """The curators' GRADE rating. Non-randomized evidence starts low; nothing here can rate it higher."""

    level: CertaintyLevel
    rated_by: Text
    reasons: tuple[CertaintyReason, ...] = Field(min_length=1)


class DerivedMembership(Provenanced):
    """Which studies probably make up a subgroup, when the source does not list them."""

    studies: tuple[Text, ...] = Field(min_length=1)
    n_participants: int = Field(gt=0)


class Estimate(Provenanced):
    id: Slug
    role: Literal["overall", "subgroup"]
    label: Text
    short_label: Annotated[str, Field(min_length=1, max_length=30)]
    definition: Text
    population_phrase: Text
    outcome: Literal["live_birth"]
    measure: Literal["RR"]
    point: float = Field(gt=0)
    ci: tuple[float, float]
    ci_level: float = Field(gt=0, lt=1)
    p_value: float | None = Field(default=None, gt=0, le=1)
    p_value_text: Text | None = None
    n_studies: int | None = Field(default=None, gt=0)
    n_participants: int | None = Field(default=None, gt=0)
    derived_membership: DerivedMembership | None = None
    # How the published figure was pooled, where the sources let it be told; needed to re-pool complete data.
    pooling_method: Literal["mh", "iv", "dl", "reml"] | None = None
    caveats: tuple[Text, ...] = ()
    # Context records (evidence/context/) of randomized subgroups that ask this subgroup's question; a bottom
    # line led by this estimate gives whichever of them stands beside the answer.
    randomized_subgroups: tuple[Text, ...] = ()
    certainty: Certainty

    @model_validator(mode="after")
    def _ci_brackets_point(self) -> Self:
        low, high = self.ci
        if not 0 < low <= self.point <= high:
            raise ValueError(f"ci {list(self.ci)} must bracket point {self.point} with 0 < low <= point <= high")
        if (self.p_value is None) == (self.p_value_text is None):
            raise ValueError("give exactly one of p_value (a number) or p_value_text (e.g. '< 0.0001')")
        return self


class Source(Frozen):
    citation: Text
    short: Text
    doi: Annotated[str, Field(pattern=r"^10\.\d{4,9}/\S+$")]
    url: Text
    year: int
    last_searched: str = Field(pattern=SEARCH_DATE)
    available_parts: Text
    secondary: dict[str, Text] = {}


class Pico(Frozen):
    population: Text
    intervention: Text
    comparator: Text
    outcome: Text
    design: Text
    where: Text


class Participants(Provenanced):
    n_studies: int = Field(gt=0)
    total: int = Field(gt=0)
    ivig: int = Field(gt=0)
    control: int = Field(gt=0)


class WarningText(Frozen):
    code: Literal["nonrandomized_evidence"]
    text: Text
    where: Text


class Study(Provenanced):
    id: Text
    label: Text
    country: Text
    design: Text
    rpl_definition: Text | None = None
    inclusion_criteria: Text | None = None
    n_total: int = Field(gt=0)
    ivig_events: int | None = Field(default=None, ge=0)
    ivig_total: int | None = Field(default=None, gt=0)
    control_events: int | None = Field(default=None, ge=0)
    control_total: int | None = Field(default=None, gt=0)
    ivig_regimen: Text | None = None
    comparator: Text | None = None
    selects_for: tuple[Selection, ...] = ()


class Analysis(Frozen):
    schema_version: Literal[1]
    id: Slug
    title: Text
    question: Text
    source: Source
    pico: Pico
    participants: Participants
    warning: WarningText
    estimates: tuple[Estimate, ...] = Field(min_length=1)
    studies: tuple[Study, ...] = ()

    @field_validator("estimates", "studies")
    @classmethod
    def _ids_are_unique(
        cls, items: tuple[Estimate, ...] | tuple[Study, ...]
    ) -> tuple[Estimate, ...] | tuple[Study, ...]:
        ids = [item.id for item in items]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate ids: {duplicates}")
        return items

    @model_validator(mode="after")
    def _one_overall(self) -> Self:
        if [e.role for e in self.estimates].count("overall") != 1:
            raise ValueError("exactly one estimate must have role = 'overall'")
        return self

    @property
    def overall(self) -> Estimate:
        return next(e for e in self.estimates if e.role == "overall")

    def ref(self, estimate: Estimate) -> str:
        return f"{self.id}#{estimate.id}"


class EvidenceStore(Frozen):
    """Every analysis, addressable by estimate reference, with the store's content hash as its version."""

    question: Question
    analyses: dict[str, Analysis]
    context: dict[str, ContextRecord] = {}
    version: str
    release: Release

    @property
    def label(self) -> str:
        """The release's label, e.g. `2026.12`: what people call this version."""
        return self.release.label

    @property
    def sources_last_searched(self) -> str:
        """The oldest of the dates its sources were last searched (ISO 8601, to the month where the day was not
        recorded): how current the least recently searched part of the answer is."""
        return oldest_search(self.analyses, self.context)

    def baselines(self) -> dict[str, ContextRecord]:
        """The records a caller may name as the baseline chance of live birth without IVIG."""
        return {i: r for i, r in self.context.items() if r.baseline is not None}

    @property
    def analysis(self) -> Analysis:
        """The analysis the question is answered from (the store's loader proved it exists)."""
        return self.analyses[self.question.analysis]

    def estimate(self, ref: str) -> tuple[Analysis, Estimate]:
        """Resolve "analysis-id#estimate-id". Raises KeyError for a reference the store does not hold."""
        analysis_id, _, estimate_id = ref.partition("#")
        analysis = self.analyses[analysis_id]
        for estimate in analysis.estimates:
            if estimate.id == estimate_id:
                return analysis, estimate
        raise KeyError(ref)

    def refs(self) -> Iterator[str]:
        for analysis in self.analyses.values():
            yield from (analysis.ref(e) for e in analysis.estimates)


def oldest_search(analyses: dict[str, Analysis], context: dict[str, ContextRecord]) -> str:
    """The oldest date any source of the store was last searched (ISO 8601 dates compare as text)."""
    return min([a.source.last_searched for a in analyses.values()] + [r.last_searched for r in context.values()])
