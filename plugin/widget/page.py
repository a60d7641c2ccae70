"""Renders the EHR widget page and the forest-plot SVG: autoescaped, and never without the non-randomized warning."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import escape

from plugin.core.answer.model import Answer, citation_of
from plugin.core.answer.plugin import Plugin
from plugin.core.answer.render import FIELD_LABELS, STATUS_HEADINGS, MissingWarningError
from plugin.core.evidence.analysis import Analysis
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, IVIG_STARTS
from plugin.web.sessions import Banner, ChartEntry
from plugin.widget.forest import forest_plot
from plugin.widget.form import ProfileForm

PAGE_TEMPLATE = "widget/page.html.j2"
FOREST_TEMPLATE = "widget/forest.svg.j2"


@dataclass(frozen=True)
class Urls:
    """Where the page's form, script and plot live, all on the plugin's own origin."""

    widget: str = "/widget"
    answer: str = "/v1/answer"
    css: str = "/widget/static/widget.css"
    js: str = "/widget/static/widget.js"
    forest_template: str = "/v1/evidence/{analysis_id}/forest.svg"

    def forest(self, analysis_id: str) -> str:
        return self.forest_template.format(analysis_id=analysis_id)


URLS = Urls()


def require_warning(output: str, text: str, name: str) -> str:
    if str(escape(text)) not in output:
        raise MissingWarningError(f"{name} rendered without the non-randomized warning")
    return output


def matched_ids(answer: Answer | None) -> tuple[str, ...]:
    """The estimates the answer shows for this patient, as bare estimate ids for the plot."""
    return tuple(e.id.partition("#")[2] for e in answer.estimates) if answer else ()


def render_forest(plugin: Plugin, analysis: Analysis, highlighted: Collection[str]) -> str:
    """The standalone SVG document. Raises KeyError for a highlighted id the analysis does not hold."""
    plot = forest_plot(analysis, plugin.store.version, highlighted)
    output = plugin.renderer.env.get_template(FOREST_TEMPLATE).render(plot=plot, warning=analysis.warning)
    return require_warning(output, analysis.warning.text, FOREST_TEMPLATE)


def page_context(
    plugin: Plugin,
    form: ProfileForm,
    chart: Sequence[ChartEntry] | None = None,
    banner: Banner | None = None,
    launch_id: str | None = None,
) -> dict[str, Any]:
    analysis = plugin.store.analysis
    answer = plugin.answer(form.profile) if form.profile is not None else None
    return {
        "answer": answer,
        "form": form,
        "plot": forest_plot(analysis, plugin.store.version, matched_ids(answer)),
        "warning": answer.nonrandomized_warning if answer else analysis.warning,
        "citation": answer.citation if answer else citation_of(analysis),
        "evidence_version": plugin.store.version,
        "ivig_starts": IVIG_STARTS,
        "conditions": AUTOIMMUNE_CONDITIONS,
        "field_labels": FIELD_LABELS,
        "labels": {"fields": FIELD_LABELS, "statuses": STATUS_HEADINGS},
        "urls": URLS,
        "forest_url": URLS.forest(analysis.id),
        "chart": chart,
        "banner": banner,
        "launch_id": launch_id,
    }


def render_page(
    plugin: Plugin,
    form: ProfileForm,
    chart: Sequence[ChartEntry] | None = None,
    banner: Banner | None = None,
    launch_id: str | None = None,
) -> str:
    """The widget for this form: the answer when the profile is valid, the field errors when it is not, what a
    SMART launch took from her chart (`chart`, None unless the page is that launch's, unedited), each entry with its
    resource type and date, and on a launched page her banner (`banner`) with the launch id its form keeps."""
    context = page_context(plugin, form, chart, banner, launch_id)
    output = plugin.renderer.env.get_template(PAGE_TEMPLATE).render(**context)
    return require_warning(output, context["warning"].text, PAGE_TEMPLATE)
