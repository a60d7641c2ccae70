"""The encounter decision aid: the conversation with the patient, made from the same `Answer` and evidence records.

The core chooses what the page says, never how: which options apply (standard care where a guideline states one for
her), which harms, burdens and positions stand beside them, what is not known, which questions she may want to
ask, whether a picture of chances can be drawn and which sources it cites. Each is a record, a number from the
store or a short code; the plain words are the templates' (`templates/decision_aid/`), where the reading grade and
the wording lint are measured.
"""

from __future__ import annotations

from typing import Literal

from plugin.core.answer import wording
from plugin.core.answer.glance import tested
from plugin.core.answer.icon_array import IconArray, NoPicture, icon_array, in_100
from plugin.core.answer.model import Answer
from plugin.core.answer.views import ContextView, EstimateView, her_basis, her_findings
from plugin.core.evidence.analysis import EvidenceStore
from plugin.core.evidence.context import ContextRecord
from plugin.core.evidence.model import Frozen

# What is not known, and the questions she may want to ask: codes the templates word.
Unknown = Literal["effect_for_her", "trials_needed", "harms_how_often", "nk_meaning", "missing", "not_covered"]
Question = Literal["chance_without", "standard_care", "trial", "nk_result", "missing", "visits", "harms", "cost"]


class Support(Frozen):
    """How many of the review's included studies selected women with one of her findings, and how many women."""

    finding: str  # in the studies' vocabulary: nk_above_12, antiphospholipid_syndrome, ...
    studies: int
    women: int
    about: bool  # a study's size the curators derived, not one its Table 1 row states
    inferred: bool  # a selection criterion the curators inferred ("probably")


class PlaceboArms(Frozen):
    """Live births without IVIG in the placebo arms of randomized trials in RPL: what happens without treatment,
    as whole women in 100 (rounded half up), and the trials they come from."""

    low: int
    high: int
    trials: tuple[str, ...]


class Reference(Frozen):
    short: str
    citation: str
    link: str


class DecisionAid(Frozen):
    """What the page for the conversation with the patient shows, from one answer and the store it came from."""

    answer: Answer
    lead: EstimateView | None
    support: tuple[Support, ...]
    studies: int  # the non-randomized review: its studies and women
    women: int
    randomized: ContextView | None  # the randomized result the answer sets beside the estimate
    randomized_finding: str | None  # what it found, in words ("no clear benefit")
    standard_care: tuple[ContextView, ...]  # what a guideline states as standard care for her: an option
    standard_care_trials: tuple[ContextView, ...]  # randomized comparisons of IVIG with that care
    placebo: PlaceboArms | None  # what happened without IVIG in randomized trials in RPL
    placebo_records: tuple[ContextRecord, ...]
    regimen: ContextRecord | None  # how a trial gave IVIG: the practical burden (None: no record of this release says)
    harms: tuple[ContextView, ...]  # the safety points, named
    harm_quotes: tuple[ContextView, ...]  # harms a randomized review states
    positions: tuple[ContextView, ...]  # the positions on IVIG, which disagree
    tests: tuple[str, ...]  # the findings whose tests guidelines advise against, where they matter to her
    unknowns: tuple[Unknown, ...]
    questions: tuple[Question, ...]
    icons: IconArray | None
    no_icons: NoPicture | None  # why there is no picture, when there is none
    references: tuple[Reference, ...]


def support_of(answer: Answer, store: EvidenceStore) -> tuple[Support, ...]:
    """Each of her findings with the included studies that selected women for it (none for some findings)."""
    if answer.status != "matched":
        return ()
    supports = []
    for finding in her_findings(answer.profile):
        studies = [s for s in store.analysis.studies if finding in s.selects_for]
        supports.append(
            Support(
                finding=finding,
                studies=len(studies),
                women=sum(s.n_total for s in studies),
                about=any(s.provenance_of("n_total") != "stated" for s in studies),
                inferred=any(s.provenance_of("selects_for") != "stated" for s in studies),
            )
        )
    return tuple(supports)


def placebo_arms(store: EvidenceStore) -> tuple[PlaceboArms | None, tuple[ContextRecord, ...]]:
    """The store's placebo arms, lowest chance first, with their range in women out of 100 (None in a release that
    holds none: an older one)."""
    records = sorted(
        (r for r in store.baselines().values() if r.baseline is not None and r.baseline.source_kind == "placebo_arm"),
        key=lambda r: r.baseline.risk if r.baseline else 0.0,
    )
    risks = [r.baseline.risk for r in records if r.baseline is not None]
    trials = tuple(r.short.partition(",")[0] for r in records)
    if not risks:
        return None, ()
    return PlaceboArms(low=in_100(risks[0]), high=in_100(risks[-1]), trials=trials), tuple(records)


def unknowns_of(answer: Answer) -> tuple[Unknown, ...]:
    rpl = answer.status != "not_rpl"
    known_nk = rpl and answer.profile.nk_cell_percent is not None
    chosen: list[tuple[bool, Unknown]] = [
        (answer.status == "matched", "effect_for_her"),
        (rpl, "trials_needed"),
        (True, "harms_how_often"),
        (known_nk, "nk_meaning"),
        (bool(answer.missing_information), "missing"),
        (True, "not_covered"),
    ]
    return tuple(code for applies, code in chosen if applies)


def questions_of(answer: Answer, standard_care: tuple[ContextView, ...]) -> tuple[Question, ...]:
    chosen: list[tuple[bool, Question]] = [
        (True, "chance_without"),
        (bool(standard_care), "standard_care"),
        (True, "trial"),
        (answer.status != "not_rpl" and answer.profile.nk_cell_percent is not None, "nk_result"),
        (bool(answer.missing_information), "missing"),
        (True, "visits"),
        (True, "harms"),
        (True, "cost"),
    ]
    return tuple(code for applies, code in chosen if applies)


def references_of(answer: Answer, records: list[ContextView | ContextRecord]) -> tuple[Reference, ...]:
    """The review, then every record the page names in the order it names them, each source once (records that
    quote one paper, such as two tables of a guideline, share its DOI)."""
    cited = answer.citation
    references = [Reference(short=cited.short, citation=cited.text, link=f"https://doi.org/{cited.doi}")]
    for record in records:
        link = f"https://doi.org/{record.doi}" if record.doi else record.url or ""
        if all((r.link or r.citation) != (link or record.citation) for r in references):
            references.append(Reference(short=record.short, citation=record.citation, link=link))
    return tuple(references)


def regimen_of(store: EvidenceStore) -> ContextRecord | None:
    """The record that says how a trial gave IVIG; None in a release where no record does (an older one), and the
    aid then says that the dose is not available in its sources."""
    return next((record for record in store.context.values() if record.regimen is not None), None)


def decision_aid(answer: Answer, store: EvidenceStore) -> DecisionAid:
    """The decision aid for this answer: every record from the answer's own context, and from the store only the
    regimen a trial used (what IVIG would mean for her in practice, whatever her number of losses)."""
    context = answer.context
    lead_id = answer.at_a_glance.randomized_lead
    randomized = next((c for c in context if c.id == lead_id), None)
    finding = None
    if randomized is not None and randomized.ci_low is not None and randomized.ci_high is not None:
        higher = randomized.direction == "higher_favours_ivig"
        finding = wording.randomized_finding(randomized.ci_low, randomized.ci_high, higher_favours_ivig=higher)
    standard_care = tuple(c for c in context if c.topic == "standard_care" and c.glance)
    trials = tuple(c for c in context if c.topic == "standard_care" and c.randomized) if standard_care else ()
    regimen = regimen_of(store)
    placebo, placebo_records = placebo_arms(store) if answer.status != "not_rpl" else (None, ())
    harms = tuple(c for c in context if c.topic == "safety")
    quotes = tuple(c for c in context if c.harm)
    positions = tuple(c for c in context if c.topic == "ivig_position")
    basis = set(her_basis(answer.profile)) if answer.status == "matched" else set()
    tests = tuple(tested(answer.status, answer.missing_information, basis))
    testing = [c for c in context if c.topic == "testing"] if tests else []
    lead = answer.estimates[0] if answer.estimates else None
    source = answer.profile.baseline_live_birth_source
    picture = icon_array(lead, store.context[source].short if source else None)
    cited: list[ContextView | ContextRecord] = [
        *([randomized] if randomized else []),
        *standard_care,
        *trials,
        *placebo_records,
        *([regimen] if regimen else []),
        *harms,
        *quotes,
        *positions,
        *testing,
    ]
    participants = store.analysis.participants
    return DecisionAid(
        answer=answer,
        lead=lead,
        support=support_of(answer, store),
        studies=participants.n_studies,
        women=participants.total,
        randomized=randomized,
        randomized_finding=finding,
        standard_care=standard_care,
        standard_care_trials=trials,
        placebo=placebo,
        placebo_records=placebo_records,
        regimen=regimen,
        harms=harms,
        harm_quotes=quotes,
        positions=positions,
        tests=tests,
        unknowns=unknowns_of(answer),
        questions=questions_of(answer, standard_care),
        icons=picture if isinstance(picture, IconArray) else None,
        no_icons=None if isinstance(picture, IconArray) else picture,
        references=references_of(answer, cited),
    )
