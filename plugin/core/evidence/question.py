"""The question the store answers: the analysis every answer is built on, the randomized record every RPL bottom
line sets beside it, and the decision table for each step. Data, so that a new evidence release needs no code."""

from __future__ import annotations

from typing import Literal

from plugin.core.evidence.model import Frozen, Slug, Text


class Tables(Frozen):
    """The decision table that decides each step of an answer, by id (`evidence/rules/<id>.toml`)."""

    status: Slug
    estimates: Slug
    notes: Slug
    context: Slug


class Question(Frozen):
    """`evidence/question.toml`: what answers the question, each name resolved when the store loads."""

    schema_version: Literal[1]
    analysis: Slug
    randomized_lead: Text
    tables: Tables
