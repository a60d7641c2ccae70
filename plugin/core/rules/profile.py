"""PatientProfile: what the caller knows about the patient. Validation only; absent means unknown, never "no"."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IvigStart = Literal["before_conception", "conception_cycle", "after_pregnancy_confirmed", "undecided"]
AutoimmuneCondition = Literal[
    "antiphospholipid_syndrome",
    "systemic_lupus_erythematosus",
    "autoimmune_thyroid_disease",
    "other_autoimmune",
]
RplType = Literal["primary", "secondary"]
# A sourced baseline: a `baseline_risk` record of the evidence store (evidence/context/), a placebo arm of a
# randomized trial or a cohort, each with its population and denominator. The store is checked against this list
# when the plugin loads, so a record and its name cannot drift apart.
BaselineSource = Literal[
    "christiansen2015_placebo",
    "promise2015_placebo_baseline",
    "alife2010_placebo_baseline",
    "lund2012_baseline",
    "kling2018_baseline",
    "linehan_rm_cohort_baseline",
    "brigham1999_baseline",
    "irish_rm_clinic_2023_baseline",
]
IVIG_STARTS: tuple[str, ...] = get_args(IvigStart)
RPL_TYPES: tuple[str, ...] = get_args(RplType)
BASELINE_SOURCES: tuple[str, ...] = get_args(BaselineSource)
AUTOIMMUNE_CONDITIONS: tuple[str, ...] = get_args(AutoimmuneCondition)
# The largest count of prior losses accepted; the FHIR reader reads a larger charted count as unknown.
MAX_LOSSES = 50
# What is known about her, as against what the clinician chooses (when IVIG would start) or assumes (a baseline):
# only a finding can be "missing information", so a treatment choice is never asked for as if it were data.
FINDINGS = ("prior_pregnancy_losses", "nk_cell_percent", "autoimmune_conditions", "th1_th2_ratio_elevated", "rpl_type")

# What a model is shown: the findings that are known, and null for every one that is not (never a "none" value
# such as [] or false, which a model could copy for a patient whose history it does not know).
SCHEMA_EXAMPLE: dict[str, Any] = {
    "prior_pregnancy_losses": 3,
    "nk_cell_percent": 14.0,
    "autoimmune_conditions": None,
    "th1_th2_ratio_elevated": None,
    "ivig_start": None,
    "rpl_type": None,
    "baseline_live_birth_risk": None,
    "baseline_live_birth_source": None,
}
UNKNOWN = "Null or left out means not known, never 'no'."
PROFILE_EXAMPLE: dict[str, Any] = {
    "prior_pregnancy_losses": 3,
    "nk_cell_percent": 14,
    "autoimmune_conditions": [],
    "th1_th2_ratio_elevated": False,
    "ivig_start": "after_pregnancy_confirmed",
}


class PatientProfile(BaseModel):
    """One patient's relevant findings. Every field is optional: null or absent means not known."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [SCHEMA_EXAMPLE],
            # The rule of `_one_baseline`, said in the schema so generated clients (and schema tests) know it.
            "not": {
                "required": ["baseline_live_birth_risk", "baseline_live_birth_source"],
                "properties": {
                    "baseline_live_birth_risk": {"type": "number"},
                    "baseline_live_birth_source": {"type": "string"},
                },
            },
        },
    )

    prior_pregnancy_losses: Annotated[int, Field(ge=0, le=MAX_LOSSES)] | None = Field(
        default=None,
        description=f"Number of previous pregnancy losses, a whole number. {UNKNOWN}",
    )
    nk_cell_percent: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = Field(
        default=None,
        description=f"Peripheral-blood NK cells as a percentage of lymphocytes, 0 to 100. {UNKNOWN}",
    )
    autoimmune_conditions: (
        Annotated[tuple[AutoimmuneCondition, ...], Field(json_schema_extra={"uniqueItems": True})] | None
    ) = Field(
        default=None,
        description="Diagnosed autoimmune diseases, each at most once; [] only when she is known to have none. "
        f"{UNKNOWN}",
        json_schema_extra={"uniqueItems": True, "maxItems": len(AUTOIMMUNE_CONDITIONS)},
    )
    th1_th2_ratio_elevated: bool | None = Field(
        default=None,
        description="Whether the Th1/Th2 cytokine ratio is elevated; false only when tested and not elevated. "
        f"{UNKNOWN}",
    )
    ivig_start: IvigStart | None = Field(
        default=None,
        description=f"When IVIG would start. {UNKNOWN}",
    )
    rpl_type: RplType | None = Field(
        default=None,
        description="Primary recurrent pregnancy loss (no previous live birth) or secondary (losses after a live "
        f"birth); it chooses the randomized subgroups shown and changes no non-randomized estimate. {UNKNOWN}",
    )
    baseline_live_birth_risk: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Assumed chance of a live birth without IVIG, strictly between 0 and 1, for absolute effects. "
        f"{UNKNOWN}",
    )
    baseline_live_birth_source: BaselineSource | None = Field(
        default=None,
        description="Instead of baseline_live_birth_risk, take the baseline from a sourced row, named in full "
        "with its population and denominator in the answer: the placebo arms of Christiansen 2015, PROMISE 2015 "
        "and ALIFE 2010, or a cohort (Lund 2012, Kling 2018, Linehan, Brigham 1999, an Irish clinic 2023). A row "
        "whose population excludes her (for example unexplained RPL for a woman with antiphospholipid syndrome) "
        f"is refused. {UNKNOWN}",
    )

    @model_validator(mode="after")
    def _one_baseline(self) -> Self:
        if self.baseline_live_birth_risk is not None and self.baseline_live_birth_source is not None:
            raise ValueError("give baseline_live_birth_risk or baseline_live_birth_source, not both")
        return self

    @field_validator("prior_pregnancy_losses", mode="before")
    @classmethod
    def _whole_float_is_an_integer(cls, value: object) -> object:
        """JSON Schema counts 3.0 as an integer, and some clients send counts that way; 3.5 stays an error."""
        return int(value) if isinstance(value, float) and value.is_integer() else value

    @field_validator("autoimmune_conditions", mode="before")
    @classmethod
    def _list_is_a_set(cls, value: object) -> object:
        """Accept a JSON list; a condition named twice is a caller error, not something to merge quietly."""
        if value is None:
            return value
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of condition names; an empty list means none")
        if len(value) > len(AUTOIMMUNE_CONDITIONS):  # before each item is checked: a long list is refused at once
            raise ValueError(f"must list at most {len(AUTOIMMUNE_CONDITIONS)} conditions, each once")
        if len(set(map(str, value))) != len(value):
            raise ValueError("each condition may appear only once")
        return tuple(value)
