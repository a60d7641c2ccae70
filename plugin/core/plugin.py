"""The loaded plugin: evidence, decision tables and templates, and `respond(profile)` that every door calls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import Field

from plugin.core.answer import Answer, answer
from plugin.core.evidence import EvidenceStore, Frozen
from plugin.core.profile import PatientProfile
from plugin.core.render import Renderer
from plugin.core.rules import DecisionTable
from plugin.core.store import load_evidence
from plugin.core.tables import load_tables


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

    def answer(self, profile: PatientProfile, *, ivig_order: bool = False) -> Answer:
        return answer(profile, self.tables, self.store, ivig_order=ivig_order)

    def respond(self, profile: PatientProfile) -> RenderedAnswer:
        result = self.answer(profile)
        rendered = Rendered(
            markdown=self.renderer.render(result, "markdown"), text=self.renderer.render(result, "text")
        )
        return RenderedAnswer(**dict(result), rendered=rendered)


class Locations(Protocol):
    """Where the evidence store and templates are (the settings satisfy it; the core reads no environment)."""

    @property
    def evidence_dir(self) -> Path: ...

    @property
    def templates_dir(self) -> Path: ...


def load_plugin(settings: Locations) -> Plugin:
    """Load evidence, tables and templates.

    Raises:
        EvidenceError: an evidence file is broken or inconsistent.
        RuleTableError: a decision table is broken or unsound.
    """
    store = load_evidence(settings.evidence_dir)
    tables = load_tables(settings.evidence_dir, set(store.refs()), set(store.context))
    return Plugin(store=store, tables=tables, renderer=Renderer(settings.templates_dir))
