"""Jinja rendering of an `Answer`: render(answer, format) with the number formats of `formats` as filters.

Templates receive the answer and nothing else, and never compute: numbers are formatted only by those
filters. Rendering fails if the output lacks the non-randomized warning, so no channel can drop it.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jinja2
from markupsafe import Markup, escape

from plugin.core.answer import wording
from plugin.core.answer.decision_aid import DecisionAid
from plugin.core.answer.evidence_summary import EvidenceSummary
from plugin.core.answer.formats import (
    fmt_ci,
    fmt_difference_cell,
    fmt_effect,
    fmt_link_text,
    fmt_month,
    fmt_p,
    fmt_per_1000,
    fmt_percent,
    fmt_period,
    fmt_plain_number,
    fmt_ratio,
    fmt_risk_cell,
    fmt_risk_short,
    fmt_signed_per_1000,
    fmt_size,
    randomized_rows,
)
from plugin.core.answer.lru import Lru
from plugin.core.answer.model import Answer
from plugin.core.answer.same import Same, held

Format = Literal["markdown", "text"]
# How much of an answer to render: the first two layers (at a glance, the evidence) or all three.
Detail = Literal["evidence", "full"]
# Plain text for a terminal is wrapped here, not in the templates: 100 columns show every line whole.
TEXT_WIDTH = 100
TEMPLATES: dict[Format, str] = {"markdown": "chat/answer.md.j2", "text": "chat/answer.txt.j2"}
EVIDENCE_TEMPLATE = "chat/evidence.md.j2"
# The decision aid for the conversation with the patient: a printable page, and the same words as text.
AidFormat = Literal["html", "text"]
AID_TEMPLATES: dict[AidFormat, str] = {"html": "decision_aid/aid.html.j2", "text": "decision_aid/aid.txt.j2"}

FIELD_LABELS = {
    "prior_pregnancy_losses": "prior pregnancy losses",
    "nk_cell_percent": "peripheral-blood NK-cell percentage",
    "autoimmune_conditions": "autoimmune conditions",
    "th1_th2_ratio_elevated": "Th1/Th2 ratio",
    "ivig_start": "when IVIG would start",
    "rpl_type": "primary or secondary recurrent pregnancy loss",
    "baseline_live_birth_risk": "baseline chance of live birth without IVIG",
    "baseline_live_birth_source": "sourced baseline chance of live birth",
}
STATUS_HEADINGS = {
    "matched": "Evidence for this patient",
    "insufficient_information": "More information needed",
    "outside_population": "Outside the population studied",
    "not_rpl": "Not recurrent pregnancy loss",
}


# Template names end in .j2, so the escaping test must name the double suffixes too.
AUTOESCAPED = ("html", "svg", "html.j2", "svg.j2")


class MissingWarningError(RuntimeError):
    """A template rendered without the non-randomized warning: a defect, never shown to a user."""


@dataclass(frozen=True)
class AidPage:
    """What the HTML aid links to: its stylesheet by URL, or the stylesheet itself for a page saved as a file (which
    has no server to load it from), and the full evidence for the same findings (none in a file)."""

    stylesheet: str = ""
    inline_css: str = ""
    evidence: str = ""


def wrap_text(text: str, width: int = TEXT_WIDTH) -> str:
    """Wrap every line longer than `width` at word boundaries, continuing under its own indentation (and under a
    list item's text, after its "- " or "* ")."""
    lines = []
    for line in text.split("\n"):
        if len(line) <= width:
            lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        bullet = line.lstrip()[:2] if line.lstrip()[:2] in ("- ", "* ") else ""
        lines += textwrap.wrap(
            line.strip(),
            width,
            initial_indent=indent,
            subsequent_indent=indent + " " * len(bullet),
            break_long_words=False,
            break_on_hyphens=False,
        )
    return "\n".join(lines)


# How many renderings of partials are kept: far more than the distinct values of what they read (a few hundred).
PARTS_KEPT = 4096


class Reads:
    """The fields of an answer that a partial reads, and no other: reading another one fails the rendering, so a
    partial cannot depend on something its key leaves out."""

    def __init__(self, names: tuple[str, ...], values: tuple[object, ...]) -> None:
        for name, value in zip(names, values, strict=True):
            setattr(self, name, value)


# Answer fields made once and shared by every answer that shows them (the estimate views, their relative parts, the
# records beside them and the summary of findings are kept where they are made), so a partial's key compares them
# by identity: an address, not a deep hash.
SHARED_FIELDS = frozenset({"estimates", "relative_estimates", "context", "summary_of_findings"})


class Parts:
    """`part(name, answer, *fields)` in a template: the partial `name` rendered from those fields of the answer
    alone, once for each value they take. Most of an answer's text (the other evidence, the estimates, the
    summary of findings) is shared by thousands of profiles; each profile then costs only what is hers."""

    def __init__(self, env: jinja2.Environment, kept: int = PARTS_KEPT) -> None:
        self._env = env
        self._made: Lru[Hashable, str] = Lru(kept)

    def __call__(self, name: str, answer: object, *fields: str) -> str:
        values = tuple(getattr(answer, field) for field in fields)
        key = tuple(Same(held(v)) if f in SHARED_FIELDS else v for f, v in zip(fields, values, strict=True))
        return self.made((name, fields, key), lambda: self.render(name, answer=Reads(fields, values)))

    def made(self, key: Hashable, make: Callable[[], str]) -> str:
        """What `make` renders, kept under `key`: the key must name everything the rendering reads."""
        made = self._made.get(key)
        if made is None:
            made = make()
            self._made.put(key, made)
        return made

    def render(self, name: str, **variables: object) -> str:
        """Template `name` rendered afresh (kept by `made`, under a key naming all of `variables`)."""
        output = self._env.get_template(name).render(**variables)
        autoescaped = self._env.autoescape(name) if callable(self._env.autoescape) else self._env.autoescape
        return Markup(output) if autoescaped else output  # an HTML partial's output is already escaped

    def __len__(self) -> int:
        """How many renderings are kept."""
        return len(self._made)


def environment(templates_dir: Path) -> jinja2.Environment:
    """The templates, with the number formats as filters (a `Renderer` adds `part`)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        # Templates ship with the code and never change under a running service: no file is looked at again on
        # every use (a new Renderer reads them afresh).
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=AUTOESCAPED, default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        ratio=fmt_ratio,
        ci=fmt_ci,
        p=fmt_p,
        size=fmt_size,
        per_1000=fmt_per_1000,
        signed_per_1000=fmt_signed_per_1000,
        percent=fmt_percent,
        effect=fmt_effect,
        risk_cell=fmt_risk_cell,
        risk_cell_short=fmt_risk_short,
        difference_cell=fmt_difference_cell,
        randomized_rows=randomized_rows,
        month=fmt_month,
        period=fmt_period,
        plain_number=fmt_plain_number,
        link_text=fmt_link_text,
        field_label=FIELD_LABELS.__getitem__,
        condition_short=wording.SELECTION_SHORT.__getitem__,
    )
    env.globals["status_heading"] = STATUS_HEADINGS.__getitem__
    env.globals["missing_heading"] = wording.MISSING_HEADING
    env.globals["withheld_short"] = wording.WITHHELD_SHORT
    return env


def compiler_key() -> str:
    """What the compiled templates depend on besides their sources: this module (the environment's options) and
    Jinja's version."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(jinja2.__version__.encode())
    return digest.hexdigest()[:16]


class CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Templates compiled once, kept as bytecode under `directory`, each under the checksum of its source: a changed
    template is compiled again, and a start after the first compiles none. What a template compiles to also depends
    on the environment's options, so the bytecode sits in a folder named by this module's code and Jinja's version.
    A directory that cannot be written only means the next start compiles again."""

    def __init__(self, directory: Path) -> None:
        self.directory_path = directory / compiler_key()
        super().__init__(str(self.directory_path))

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            return

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            self.directory_path.mkdir(parents=True, exist_ok=True, mode=0o700)
            super().dump_bytecode(bucket)
        except OSError:
            return


class Renderer:
    """Renders answers with one loaded template environment."""

    def __init__(self, templates_dir: Path, parts_kept: int = PARTS_KEPT, compiled_dir: Path | None = None) -> None:
        self.env = environment(templates_dir)
        if compiled_dir is not None:
            self.env.bytecode_cache = CompiledTemplates(compiled_dir)
        # Partials rendered once for each value of what they read; `parts_kept` bounds how many are kept (0 renders
        # every partial afresh).
        self.parts = Parts(self.env, parts_kept)
        self.env.globals["part"] = self.parts

    def render_template(self, name: str, answer: Answer, detail: Detail = "full") -> str:
        """Render any answer template. Raises MissingWarningError if the warning text is not in the output."""
        output = self.env.get_template(name).render(answer=answer, detail=detail)
        if answer.nonrandomized_warning.text not in output:
            raise MissingWarningError(f"{name} rendered without the non-randomized warning")
        return output

    def render_reading(self, name: str, answer: Answer, fields: tuple[str, ...]) -> str:
        """Template `name` rendered from these fields of the answer alone, once for each value they take. Raises
        MissingWarningError as render_template does (name `nonrandomized_warning` among the fields)."""
        output = self.parts(name, answer, *fields)
        if answer.nonrandomized_warning.text not in output:
            raise MissingWarningError(f"{name} rendered without the non-randomized warning")
        return output

    def render(self, answer: Answer, fmt: Format, detail: Detail = "full") -> str:
        """The answer in `fmt`, a paragraph to a line (a terminal wraps it with `wrap_text`)."""
        return self.render_template(TEMPLATES[fmt], answer, detail)

    def render_aid(self, aid: DecisionAid, fmt: AidFormat, page: AidPage | None = None) -> str:
        """The decision aid as a page (`html`) or text. Its plain words are the patient's; the answer's own first
        lines and warning are quoted for the clinician, so this raises MissingWarningError as render_template does.
        """
        output = self.env.get_template(AID_TEMPLATES[fmt]).render(aid=aid, page=page or AidPage())
        warning = aid.answer.nonrandomized_warning.text
        if (str(escape(warning)) if fmt == "html" else warning) not in output:
            raise MissingWarningError(f"{AID_TEMPLATES[fmt]} rendered without the non-randomized warning")
        return output

    def render_evidence(self, summary: EvidenceSummary) -> str:
        """The evidence summary as markdown, warning first. Raises MissingWarningError as render_template does."""
        output = self.env.get_template(EVIDENCE_TEMPLATE).render(answer=summary)
        if not output.lstrip("> ").startswith(f"**Non-randomized evidence.** {summary.nonrandomized_warning.text}"):
            raise MissingWarningError(f"{EVIDENCE_TEMPLATE} does not lead with the non-randomized warning")
        return output
