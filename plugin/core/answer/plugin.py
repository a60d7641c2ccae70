"""The loaded plugin: evidence, decision tables and templates, and `respond(profile)` that every door calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

import jinja2
from pydantic import Field

from plugin.core.answer.answer_cache import AnswerCache
from plugin.core.answer.compose import answer
from plugin.core.answer.decision_aid import DecisionAid, decision_aid
from plugin.core.answer.model import Answer
from plugin.core.answer.render import AID_TEMPLATES, TEMPLATES, AidFormat, MissingWarningError, Renderer
from plugin.core.evidence.analysis import EvidenceStore
from plugin.core.evidence.context import Baseline
from plugin.core.evidence.model import Frozen
from plugin.core.evidence.store import load_evidence
from plugin.core.rules.loading import load_tables
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, BASELINE_SOURCES, PatientProfile
from plugin.core.rules.proofs import ProofDirectory
from plugin.core.rules.table import DecisionTable
from plugin.errors import EvidenceError, RuleTableError, TemplateError


class Rendered(Frozen):
    markdown: str = Field(description="The answer as markdown, with the non-randomized warning.")
    text: str = Field(description="The answer as plain text, with the non-randomized warning.")


class RenderedAnswer(Answer):
    """The `Answer` plus its renderings: what the JSON door, the CLI and MCP return."""

    rendered: Rendered


@dataclass(frozen=True)
class Plugin:
    """Everything loaded once at start-up; building one fails closed on any evidence or table error."""

    store: EvidenceStore
    tables: dict[str, DecisionTable]
    renderer: Renderer
    cache_size: int = 256
    answers: AnswerCache = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A sourced baseline is refused below the fewest losses it was measured in: those counts are cut points too.
        floors = {"prior_pregnancy_losses": [b.min_losses for b in self.baselines() if b.min_losses is not None]}
        cache = AnswerCache(self.compute, self, self.tables, self.store.version, self.cache_size, floors)
        object.__setattr__(self, "answers", cache)

    def baselines(self) -> list[Baseline]:
        return [r.baseline for r in self.store.baselines().values() if r.baseline is not None]

    def answer(self, profile: PatientProfile, *, ivig_order: bool = False) -> Answer:
        """The answer for this profile, from the cache of finished answers."""
        return self.answers.answer(profile, ivig_order)

    def compute(self, profile: PatientProfile, ivig_order: bool = False) -> Answer:
        """The answer worked out afresh: the decision tables, the views, the summary of findings."""
        return answer(profile, self.tables, self.store, ivig_order=ivig_order)

    def both(self, result: Answer) -> tuple[str, str]:
        """The full markdown and text: the `rendered` field of the JSON door's body."""
        return self.renderer.render(result, "markdown"), self.renderer.render(result, "text")

    def evidence(self, result: Answer) -> str:
        """The markdown of the first two layers (a chat assistant's text)."""
        return self.renderer.render(result, "markdown", "evidence")

    def decision_aid(self, profile: PatientProfile) -> DecisionAid:
        """The decision aid for the conversation with the patient, from the same (cached) answer.

        Raises:
            ProfileError: as `answer` does, for a sourced baseline that does not describe her.
        """
        return decision_aid(self.answer(profile), self.store)

    def respond(self, profile: PatientProfile) -> RenderedAnswer:
        """The answer with its renderings, worked out afresh (the cached door bodies are proven equal to it)."""
        result = self.compute(profile)
        markdown, text = self.both(result)
        return RenderedAnswer(**dict(result), rendered=Rendered(markdown=markdown, text=text))

    def respond_json(self, profile: PatientProfile) -> bytes:
        """`respond(profile)` as the JSON door sends it, from the cache."""
        return self.answers.body(profile)


class Locations(Protocol):
    """Where the evidence store and templates are (the settings satisfy it; the core reads no environment)."""

    @property
    def evidence_dir(self) -> Path: ...

    @property
    def templates_dir(self) -> Path: ...

    @property
    def answer_cache_size(self) -> int: ...

    @property
    def proof_dir(self) -> Path | None: ...

    @property
    def compiled_templates_dir(self) -> Path | None: ...


# One profile for each status an answer can have: rendered once through every channel before serving.
STATUS_EXAMPLES: dict[str, PatientProfile] = {
    "matched": PatientProfile(prior_pregnancy_losses=3, nk_cell_percent=14, ivig_start="conception_cycle"),
    "insufficient_information": PatientProfile(prior_pregnancy_losses=3),
    "outside_population": PatientProfile(
        prior_pregnancy_losses=3, nk_cell_percent=5, autoimmune_conditions=(), th1_th2_ratio_elevated=False
    ),
    "not_rpl": PatientProfile(prior_pregnancy_losses=1),
}


def compile_templates(renderer: Renderer) -> None:
    """Parse every template, so a syntax error stops the start instead of the first request that needs it."""
    for name in renderer.env.list_templates(filter_func=lambda name: name.endswith(".j2")):
        try:
            renderer.env.get_template(name)
        except jinja2.TemplateError as exc:
            raise TemplateError("a template does not compile", file=name, line=getattr(exc, "lineno", None)) from None


def smoke_test(plugin: Plugin, channel: str, render: Callable[[Answer], object]) -> None:
    """Answer every status once and render it in `channel`; any failure stops the start, naming both.

    Raises:
        TemplateError: a status is unreachable from its example, or the channel failed to render it.
    """
    for status, profile in STATUS_EXAMPLES.items():
        result = plugin.answer(profile)
        if result.status != status:
            raise TemplateError("the decision tables no longer give this status", channel=channel, status=status)
        try:
            render(result)
        except (jinja2.TemplateError, MissingWarningError, KeyError, ValueError) as exc:
            raise TemplateError(
                "a channel cannot render this status", channel=channel, status=status, error=type(exc).__name__
            ) from None


def check_baseline_names(store: EvidenceStore, evidence_dir: Path) -> None:
    """Every sourced baseline the store holds is one a caller may name, and each population it excludes is named in
    the profile's vocabulary. A release may hold fewer than the profile names (an older one did): naming one it
    does not hold is the caller's error, answered at the request.

    Raises:
        EvidenceError: a record without its name, or an unknown excluded condition.
    """
    unnamed = sorted(set(store.baselines()) - set(BASELINE_SOURCES))
    if unnamed:
        raise EvidenceError(
            "every baseline record must be a baseline source the profile can name",
            code="evidence.baseline_names",
            file=str(evidence_dir / "context"),
            value=unnamed,
        )
    for record in store.baselines().values():
        unknown = sorted(set(record.baseline.excludes if record.baseline else ()) - set(AUTOIMMUNE_CONDITIONS))
        if unknown:
            raise EvidenceError(
                "excludes must name autoimmune conditions of the profile",
                code="evidence.baseline_excludes",
                file=str(evidence_dir / "context"),
                field=f"{record.id}.baseline.excludes",
                value=unknown,
            )


def load_plugin(settings: Locations, store: EvidenceStore | None = None) -> Plugin:
    """Load evidence, tables and templates, and render every status as markdown and text (fail closed).

    `store` is the evidence already in memory (a release not yet written to disk), instead of loading it.

    Raises:
        EvidenceError: an evidence file is broken or inconsistent, or its baselines and the profile's names differ.
        RuleTableError: a decision table is broken, unsound or missing.
        TemplateError: a template does not compile or cannot render some status.
    """
    store = store or load_evidence(settings.evidence_dir)
    proofs = ProofDirectory(settings.proof_dir) if settings.proof_dir is not None else None
    tables = load_tables(settings.evidence_dir, set(store.refs()), set(store.context), proofs)
    missing = sorted(set(store.question.tables.model_dump().values()) - set(tables))
    if missing:
        raise RuleTableError(
            "decision tables are missing",
            code="rules.missing_table",
            file=str(settings.evidence_dir / "rules"),
            tables=missing,
        )
    check_baseline_names(store, settings.evidence_dir)
    renderer = Renderer(settings.templates_dir, compiled_dir=settings.compiled_templates_dir)
    compile_templates(renderer)
    plugin = Plugin(store=store, tables=tables, renderer=renderer, cache_size=settings.answer_cache_size)
    for fmt in TEMPLATES:
        smoke_test(plugin, f"chat {fmt}", partial(renderer.render, fmt=fmt))
    for aid_format in AID_TEMPLATES:
        smoke_test(plugin, f"decision aid {aid_format}", partial(render_aid, plugin, fmt=aid_format))
    return plugin


def render_aid(plugin: Plugin, answer: Answer, fmt: AidFormat) -> str:
    return plugin.renderer.render_aid(decision_aid(answer, plugin.store), fmt)
