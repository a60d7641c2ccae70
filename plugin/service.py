"""The loaded plugin: evidence, decision tables and templates, and `respond(profile)` that every door calls."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from plugin.answer import Answer, answer
from plugin.config import Settings
from plugin.evidence import EvidenceStore, Frozen, load_evidence
from plugin.profile import PatientProfile
from plugin.render import Renderer
from plugin.rules import DecisionTable
from plugin.tables import load_tables


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

    def answer(self, profile: PatientProfile) -> Answer:
        return answer(profile, self.tables, self.store)

    def respond(self, profile: PatientProfile) -> RenderedAnswer:
        result = self.answer(profile)
        rendered = Rendered(
            markdown=self.renderer.render(result, "markdown"), text=self.renderer.render(result, "text")
        )
        return RenderedAnswer(**dict(result), rendered=rendered)


def load_plugin(settings: Settings) -> Plugin:
    """Load evidence, tables and templates.

    Raises:
        EvidenceError: an evidence file is broken or inconsistent.
        RuleTableError: a decision table is broken or unsound.
    """
    store = load_evidence(settings.evidence_dir)
    tables = load_tables(settings.evidence_dir, set(store.refs()))
    return Plugin(store=store, tables=tables, renderer=Renderer(settings.templates_dir))
