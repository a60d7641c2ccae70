"""Reading the evidence store from disk: every file validated and checked, or nothing served (fail closed).

`load_evidence(dir)` returns an `EvidenceStore` whose `version` is the content hash of every file in the
store and its release label. Any schema, provenance or consistency failure, or a file that is not the one its
release manifest names, raises `EvidenceError` naming file, field and value, so the service refuses to start on
half-loaded or unreleased evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from pydantic import ValidationError

from plugin.core.evidence.analysis import Analysis, EvidenceStore, oldest_search
from plugin.core.evidence.consistency import check_analysis
from plugin.core.evidence.context import ContextRecord
from plugin.core.evidence.files import read_toml
from plugin.core.evidence.question import Question
from plugin.core.evidence.release import MANIFEST, Release, check_release
from plugin.core.evidence.study_data import check_repooling
from plugin.errors import EvidenceError


def validation_error(path: Path, exc: ValidationError, prefix: str) -> EvidenceError:
    """The first pydantic error as an `EvidenceError` naming file, field and value.

    An unknown key comes first: a typo such as `wher` also leaves `where` missing, and the typo is the mistake.
    """
    errors = exc.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    field = ".".join(str(part) for part in first["loc"])
    code = f"{prefix}.schema"
    if first["type"] == "missing" and first["loc"][-1] == "where":
        code = f"{prefix}.missing_provenance"
    return EvidenceError(first["msg"], code=code, file=str(path), field=field, value=first.get("input"))


def load_analysis(path: Path) -> Analysis:
    """Load and check one analysis file.

    Raises:
        EvidenceError: the file is malformed, a number lacks provenance, or the numbers disagree.
    """

    try:
        analysis = Analysis.model_validate(read_toml(path))
    except ValidationError as exc:
        raise validation_error(path, exc, "evidence") from None
    if analysis.id != path.stem:
        raise EvidenceError(
            "file name must be the analysis id", code="evidence.schema", file=str(path), field="id", value=analysis.id
        )
    check_analysis(analysis, path)
    check_repooling(analysis, path)
    return analysis


def load_context_record(path: Path) -> ContextRecord:
    """Load one context record, refusing any that would show what its source did not confirm.

    Raises:
        EvidenceError: the file is malformed, is a not_found record, or gives a part it lists as unconfirmed.
    """
    raw = read_toml(path)
    if raw.get("status") == "not_found":
        raise EvidenceError(
            "a not_found record is never shown, so it cannot be in the store",
            code="context.not_found_shown",
            file=str(path),
            field="status",
            value="not_found",
        )
    try:
        record = ContextRecord.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(path, exc, "context") from None
    if path.stem != record.id.replace("_", "-"):
        raise EvidenceError(
            "file name must be the record id, kebab-cased", code="context.schema", file=str(path), field="id"
        )
    if record.status == "partly" and not record.unconfirmed:
        raise EvidenceError(
            "a partly record must list what is unconfirmed",
            code="context.unconfirmed_missing",
            file=str(path),
            field="unconfirmed",
        )
    shown = record.shown_unconfirmed()
    if shown:
        raise EvidenceError(
            "the record gives parts it lists as unconfirmed",
            code="context.unconfirmed_shown",
            file=str(path),
            field=shown[0],
        )
    return record


def load_question(path: Path, analyses: dict[str, Analysis], context: dict[str, ContextRecord]) -> Question:
    """Load `question.toml` and resolve what it names in the store (the decision tables are resolved by the
    plugin that loads them).

    Raises:
        EvidenceError: the file is missing or malformed, or names an analysis or record the store does not hold.
    """
    if not path.is_file():
        raise EvidenceError("the store must say which question it answers", code="question.missing", file=str(path))
    try:
        question = Question.model_validate(read_toml(path))
    except ValidationError as exc:
        raise validation_error(path, exc, "question") from None
    if question.analysis not in analyses:
        raise EvidenceError(
            "no analysis file has this id", code="question.unknown_analysis", file=str(path), field="analysis"
        )
    lead = context.get(question.randomized_lead)
    if lead is None or lead.estimate is None or lead.ci is None or lead.measure is None:
        raise EvidenceError(
            "must name a context record with an estimate, its CI and measure",
            code="question.unknown_randomized_lead",
            file=str(path),
            field="randomized_lead",
        )
    return question


def check_references(analyses: dict[str, Analysis], context: dict[str, ContextRecord], folder: Path) -> None:
    """Every randomized subgroup an estimate names is a context record with an estimate.

    Raises:
        EvidenceError: a name resolves to nothing, or to a record without a figure to set beside the estimate.
    """
    for analysis in analyses.values():
        for estimate in analysis.estimates:
            for name in estimate.randomized_subgroups:
                record = context.get(name)
                if record is None or record.estimate is None or not record.randomized:
                    raise EvidenceError(
                        "must name randomized context records with an estimate",
                        code="evidence.unknown_randomized_subgroup",
                        file=str(folder / f"{analysis.id}.toml"),
                        field=f"estimates.{estimate.id}.randomized_subgroups",
                        value=name,
                    )


def load_release(path: Path) -> Release:
    """Load the manifest, `release.toml`.

    Raises:
        EvidenceError: the file is missing or malformed.
    """
    if not path.is_file():
        raise EvidenceError(
            "the store must say which release it is (write it with `ivig-cds evidence release`)",
            code="release.missing",
            file=str(path),
        )
    try:
        return Release.model_validate(read_toml(path))
    except ValidationError as exc:
        raise validation_error(path, exc, "release") from None


class Parts(NamedTuple):
    """The store's content, loaded and checked, before its manifest is read."""

    question: Question
    analyses: dict[str, Analysis]
    context: dict[str, ContextRecord]


def load_parts(directory: Path) -> Parts:
    """Load `question.toml` and every `analyses/*.toml` and `context/*.toml` under `directory`.

    `ivig-cds evidence release` loads these alone, to write the manifest of an edited store.

    Raises:
        EvidenceError: the directory holds no analysis or no context record, or any file fails to load.
    """
    files = sorted((directory / "analyses").glob("*.toml"))
    if not files:
        raise EvidenceError("no analysis files found", code="evidence.empty", file=str(directory / "analyses"))
    analyses = {a.id: a for a in map(load_analysis, files)}
    context_files = sorted((directory / "context").glob("*.toml"))
    if not context_files:
        raise EvidenceError("no context records found", code="context.empty", file=str(directory / "context"))
    context = {r.id: r for r in map(load_context_record, context_files)}
    check_references(analyses, context, directory / "analyses")
    return Parts(load_question(directory / "question.toml", analyses, context), analyses, context)


def load_evidence(directory: Path) -> EvidenceStore:
    """Load the store under `directory`, then prove its files are the ones its manifest released.

    The content is checked first, so a curator editing a store sees what is wrong with an edit before being told
    that the edit is not released yet.

    Raises:
        EvidenceError: any file fails to load, or a file is not the one released.
    """
    parts = load_parts(directory)
    release = load_release(directory / MANIFEST)
    version = check_release(directory, release, oldest_search(parts.analyses, parts.context))
    return EvidenceStore(**parts._asdict(), version=version, release=release)
