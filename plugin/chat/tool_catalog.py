"""The chat tools' names, titles, descriptions and input models: one catalogue for MCP and function calling.

Both doors read this module, so a tool cannot say one thing over MCP and another in an OpenAI or Anthropic
schema. Input schemas come from the pydantic models themselves, never from hand-written JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from plugin.core.rules.profile import PatientProfile
from plugin.web.links import NOT_ADVICE

SERVER_NAME = "ivig-cds"

_SCOPE = (
    "The estimates come from ONE meta-analysis of 8 NON-randomized controlled studies (Habets et al. 2022, 478 "
    "women with recurrent pregnancy loss and an immune finding) on live birth. Beside them every answer gives the "
    "randomized evidence in RPL, the guidance (positions differ), standard care where a guideline states it, and "
    "the harms of IVIG named (thrombosis, acute renal failure, IgA deficiency). It does not cover dosing or cost."
)
_SHOW_WARNING = (
    "Every result carries a warning with code 'nonrandomized_evidence': show it to the user, in full, "
    "whenever you use the result."
)


class NoArguments(BaseModel):
    """No arguments: an argument sent anyway is an error, not something to ignore."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    arguments: type[BaseModel]


# Said in every form (MCP, OpenAI, Anthropic): a model must not fill a gap with a "none" value of its own.
_ASK = (
    "Send only findings the user gave or the record states; null (or leaving a field out) means not known, "
    "never 'no' or 'none'. If a finding the answer asks for is missing, ask the user for it; never assume it. "
    "The answer's first line restates what was understood: check it against what the user said."
)

ANSWER = ToolSpec(
    name="ivig_rpl_answer",
    title="IVIG in recurrent pregnancy loss: answer for one patient",
    description=(
        "What the published evidence says about intravenous immunoglobulin (IVIG) and live birth for one "
        "woman with recurrent pregnancy loss (RPL), given her immune findings (NK-cell percentage, autoimmune "
        f"disease, Th1/Th2 ratio, primary or secondary RPL) and when IVIG would start. {_SCOPE} {_ASK} The text is "
        "the answer at a glance and the evidence on one screen (the estimates that apply with certainty and "
        "directness, the randomized results, the positions, the harms); structuredContent holds the full answer. "
        f"It is decision support for a clinician, not a prescription. {_SHOW_WARNING}"
    ),
    arguments=PatientProfile,
)

EVIDENCE = ToolSpec(
    name="ivig_rpl_evidence",
    title="IVIG in recurrent pregnancy loss: evidence summary",
    description=(
        "The evidence behind the IVIG answers: the pooled and subgroup relative risks for live birth with "
        f"their 95% CI and certainty, the randomized evidence and guidance beside them, and the citation. {_SCOPE} "
        f"It is decision support, not a prescription. {_SHOW_WARNING}"
    ),
    arguments=NoArguments,
)

TOOLS: tuple[ToolSpec, ...] = (ANSWER, EVIDENCE)


@dataclass(frozen=True)
class PromptSpec:
    name: str
    title: str
    description: str


# The decision aid, for a person to pick in an assistant: its arguments are the answer tool's, as text.
DECISION_AID = PromptSpec(
    name="ivig_rpl_decision_aid",
    title="IVIG in recurrent pregnancy loss: decision aid for the talk with the patient",
    description=(
        f"An encounter decision aid in plain words, {NOT_ADVICE}: the options (IVIG, no IVIG, research, and standard "
        "care where a guideline states one for her), what is known and how sure, what is not known, the harms and "
        "burdens of IVIG, the positions that disagree, questions she may want to ask, and the sources with their "
        "date and the evidence version. Made from the same evidence as ivig_rpl_answer; every argument is optional "
        "(left out means not known)."
    ),
)

INSTRUCTIONS = (
    "Evidence on IVIG and live birth for women with recurrent pregnancy loss and an immune finding. "
    f"{_SCOPE} Answers are decision support, not prescriptions. {_SHOW_WARNING} The prompt {DECISION_AID.name} "
    f"gives the decision aid in plain words for the talk with the patient: {NOT_ADVICE}."
)
