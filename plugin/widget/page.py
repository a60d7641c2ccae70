"""Renders the EHR widget page and the forest-plot SVG: autoescaped, and never without the non-randomized warning."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

from markupsafe import escape

from plugin.core.answer import wording
from plugin.core.answer.baselines import sourced_label
from plugin.core.answer.model import Answer, citation_of
from plugin.core.answer.plugin import Plugin
from plugin.core.answer.render import FIELD_LABELS, STATUS_HEADINGS, MissingWarningError
from plugin.core.answer.views import ContextView
from plugin.core.evidence.analysis import Analysis
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, IVIG_STARTS
from plugin.errors import ProfileError
from plugin.web.form import FieldError, ProfileForm
from plugin.web.links import DECISION_AID_LABEL, decision_aid_url
from plugin.web.sessions import Banner, ChartEntry
from plugin.widget.forest import forest_plot
from plugin.widget.forest_model import Comparison

PAGE_TEMPLATE = "widget/page.html.j2"
FOREST_TEMPLATE = "widget/forest.svg.j2"
PLOT_TEMPLATE = "widget/plot.html.j2"


@dataclass(frozen=True)
class Urls:
    """Where the page's form, script and plot live, all on the plugin's own origin."""

    widget: str = "/widget"
    answer: str = "/v1/answer"
    css: str = "/widget/static/widget.css"
    aid_css: str = "/widget/static/aid.css"
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


def comparisons(answer: Answer | None) -> list[Comparison]:
    """The randomized syntheses beside the answer that report the plot's measure (RR of live birth), with the
    subgroups that apply to her."""
    drawable = [c for c in answer.context if drawn(c)] if answer else []
    parents = [c for c in drawable if c.subgroup_of is None]
    shown = [p for parent in parents for p in (parent, *(c for c in drawable if c.subgroup_of == parent.id))]
    shown += [c for c in drawable if c not in shown]  # a subgroup whose synthesis is not shown, after the others
    return [
        Comparison(
            id=c.id,
            label=f"{c.short}, {c.subgroup_label}" if c.subgroup_label else c.short,
            rr=c.estimate or 0.0,
            ci_low=c.ci_low or 0.0,
            ci_high=c.ci_high or 0.0,
            ci_level=0.95,
            p_value_text=c.p or "",
        )
        for c in shown
    ]


def drawn(record: ContextView) -> bool:
    """A randomized synthesis of live birth reported as a risk ratio: the one measure the plot can draw."""
    return bool(
        record.kind == "rct_meta_analysis"
        and record.estimate is not None
        and record.outcome == "live_birth"
        and (record.measure or "").startswith("RR")
    )


def not_drawn(answer: Answer | None) -> str:
    """Which randomized syntheses beside the answer use another measure, in words, instead of being converted."""
    if answer is None:
        return ""
    others = [c for c in answer.context if c.kind == "rct_meta_analysis" and c.estimate is not None and not drawn(c)]
    named = [
        f"{c.short} ({wording.measure_name((c.measure or '').split(' ')[0], c.outcome or '')})"
        for c in others
        if c.subgroup_of is None
    ]
    return f"Not drawn, another measure: {'; '.join(named)}." if named else ""


def render_forest(plugin: Plugin, analysis: Analysis, highlighted: Collection[str]) -> str:
    """The standalone SVG document. Raises KeyError for a highlighted id the analysis does not hold."""
    plot = forest_plot(analysis, plugin.store.version, highlighted)
    output = plugin.renderer.env.get_template(FOREST_TEMPLATE).render(plot=plot, warning=analysis.warning)
    return require_warning(output, analysis.warning.text, FOREST_TEMPLATE)


def plot_section(plugin: Plugin, answer: Answer | None) -> str:
    """The forest plot with its caption and data table, laid out and rendered once for each set of estimates and
    randomized results it marks (a few dozen in all): drawing it was half of a page's cost."""
    analysis = plugin.store.analysis
    matched, compared, gap = matched_ids(answer), tuple(comparisons(answer)), not_drawn(answer)
    indirect = tuple(e.id.partition("#")[2] for e in answer.estimates if e.directness == "indirect") if answer else ()
    warning = answer.nonrandomized_warning if answer else analysis.warning
    no_estimate = answer is not None and not answer.estimates

    def make() -> str:
        plot = forest_plot(analysis, plugin.store.version, matched, compared, gap, indirect)
        return plugin.renderer.parts.render(
            PLOT_TEMPLATE, plot=plot, not_drawn=gap, warning=warning, no_estimate=no_estimate
        )

    key = (PLOT_TEMPLATE, plugin.store.version, matched, compared, gap, indirect, warning, no_estimate)
    return plugin.renderer.parts.made(key, make)


def answer_or_errors(plugin: Plugin, form: ProfileForm) -> tuple[Answer | None, ProfileForm]:
    """The answer for a valid form; a profile that asks for what does not fit her becomes the form's field error."""
    if form.profile is None:
        return None, form
    try:
        return plugin.answer(form.profile), form
    except ProfileError as exc:
        name = str(exc.details.get("field", ""))
        problem = FieldError(name, form.value(name), exc.message)
        return None, replace(form, profile=None, errors=(*form.errors, problem))


def fits(plugin: Plugin, form: ProfileForm) -> ProfileForm:
    """The form, with a profile that asks for what does not fit her turned into that field's error (only a sourced
    baseline can, so no other form is answered here as well as on the page)."""
    if form.profile is None or form.profile.baseline_live_birth_source is None:
        return form
    return answer_or_errors(plugin, form)[1]


def page_context(
    plugin: Plugin,
    form: ProfileForm,
    chart: Sequence[ChartEntry] | None = None,
    banner: Banner | None = None,
    launch_id: str | None = None,
) -> dict[str, Any]:
    analysis = plugin.store.analysis
    answer, form = answer_or_errors(plugin, form)
    return {
        "answer": answer,
        "form": form,
        "plot_section": plot_section(plugin, answer),
        "warning": answer.nonrandomized_warning if answer else analysis.warning,
        "citation": answer.citation if answer else citation_of(analysis),
        "evidence_version": plugin.store.version,
        "evidence_label": plugin.store.label,
        "sources_last_searched": plugin.store.sources_last_searched,
        "baselines": [(i, sourced_label(r)) for i, r in plugin.store.baselines().items()],
        "ivig_starts": IVIG_STARTS,
        "conditions": AUTOIMMUNE_CONDITIONS,
        "field_labels": FIELD_LABELS,
        "labels": {"fields": FIELD_LABELS, "statuses": STATUS_HEADINGS},
        "urls": URLS,
        "forest_url": URLS.forest(analysis.id),
        "aid_url": decision_aid_url(answer.profile) if answer else None,
        "aid_label": DECISION_AID_LABEL,
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
