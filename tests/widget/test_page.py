"""GET /widget through the ASGI app: the answer in the page, embedding headers, escaping, and errors in the page."""

from __future__ import annotations

import dataclasses
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from plugin.app import create_app
from plugin.config import Settings
from plugin.core.answer.plugin import Plugin
from plugin.core.answer.render import MissingWarningError, Renderer
from plugin.web.form import parse_query
from plugin.widget.page import render_forest, render_page

ROOT = Path(__file__).resolve().parents[2]
MATCHED = {
    "prior_pregnancy_losses": "3",
    "nk_cell_percent": "14",
    "autoimmune_conditions": "none",
    "th1_th2_ratio_elevated": "false",
    "ivig_start": "after_pregnancy_confirmed",
}
FORBIDDEN_WORDS = re.compile(r"\b(improves|effective|proven|recommended)\b", re.IGNORECASE)


class Tags(HTMLParser):
    """Collects start tags with their attributes, to check what the page loads and runs."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def test_the_widget_shows_layer_one_and_the_warning_then_the_evidence_open_then_the_detail_folded(
    client: TestClient,
) -> None:
    response = client.get("/widget", params=MATCHED)
    assert response.status_code == 200
    html = response.text
    glance = html.index('class="glance-sentence"')
    warning = html.index('class="warning-banner"')
    evidence = html.index('<details class="layer layer-evidence" id="layer-evidence" open>')
    nk = html.index('data-estimate="habets-2022-ivig-rpl#nk-above-12"', evidence)
    overall = html.index('data-estimate="habets-2022-ivig-rpl#overall"', evidence)
    detail = html.index('<details class="layer layer-detail" id="layer-detail">')
    bottom_line = html.index('class="bottom-line"')
    assert glance < warning < evidence < nk < overall < detail < bottom_line
    assert '<strong class="lead-rr">RR 2.32</strong> <span class="nowrap">(1.77 to 3.02)</span>' in html
    assert '<strong>RR 2.32</strong> (95% CI 1.77 to 3.02), <span class="nowrap">P &lt; 0.0001</span>' in html
    assert "studies, women: not available in the sources we could read" in html
    assert "studies, women: 8 studies, 478 women" in html
    assert "⊕◯◯◯</span> Very low" in html
    assert "How well the evidence fits" in html
    assert "Why this answer" in html
    assert '<details class="profile-details" id="profile-details">' in html  # the form folds once answered


def test_the_page_carries_the_warning_citation_and_evidence_version(client: TestClient, plugin: Plugin) -> None:
    html = client.get("/widget", params=MATCHED).text
    analysis = plugin.store.analyses["habets-2022-ivig-rpl"]
    assert analysis.warning.text in html
    assert "https://doi.org/10.1186/s13223-022-00660-8" in html
    assert plugin.store.version in html


def test_missing_information_is_listed_by_field(client: TestClient) -> None:
    html = client.get("/widget", params={"prior_pregnancy_losses": "3", "nk_cell_percent": "10"}).text
    assert "The answer would change if this is already known (not a reason to order a test):" in html
    assert "(<code>autoimmune_conditions</code>)" in html
    assert "(<code>th1_th2_ratio_elevated</code>)" in html


def test_the_plot_in_the_page_marks_the_matched_estimates(client: TestClient) -> None:
    html = client.get("/widget", params=MATCHED).text
    assert 'data-estimate="nk-above-12" data-group="nonrandomized" data-highlighted="true"' in html
    assert 'data-estimate="overall" data-group="nonrandomized" data-highlighted="true"' in html
    assert (
        'data-estimate="start-before-or-during-conception-cycle" data-group="nonrandomized" data-highlighted="false"'
        in html
    )
    assert '<td class="applies">Yes</td>' in html
    # The randomized results on the same measure, drawn in their own group (Wang 2016 after implantation applies).
    for record in ("wang2016_overall", "wang2016_post_implantation", "p386_ipd_ma"):
        assert f'data-estimate="{record}" data-group="randomized" data-highlighted="false"' in html
    assert "Not drawn, another measure: Egerup 2015 (RR of no live birth); Ling 2024 (OR of live birth)" in html


def test_a_non_matched_answer_marks_no_estimate_in_the_plot(client: TestClient) -> None:
    html = client.get("/widget", params={"prior_pregnancy_losses": "1"}).text
    assert "Not recurrent pregnancy loss" in html
    assert 'data-highlighted="true"' not in html
    assert "No estimate is marked" in html


def test_prefilled_values_come_back_in_the_form(client: TestClient) -> None:
    html = client.get("/widget", params=MATCHED).text
    assert 'name="nk_cell_percent" type="number" inputmode="decimal" min="0" max="100" step="any" value="14"' in html
    assert 'value="none" checked' in html
    assert '<option value="false" selected>' in html
    assert '<option value="after_pregnancy_confirmed" selected>' in html


@pytest.mark.parametrize(
    "params",
    [
        {"nk_cell_percent": "<script>alert(1)</script>"},
        {"prior_pregnancy_losses": '"><script>alert(1)</script>'},
        {"ivig_start": "<script>alert(1)</script>"},
        {"autoimmune_conditions": "<script>alert(1)</script>"},
        {"<script>alert(1)</script>": "1"},
    ],
    ids=["number", "attribute-breakout", "select", "checkbox", "parameter-name"],
)
def test_a_script_tag_in_a_parameter_is_escaped_wherever_it_is_shown(
    client: TestClient, params: dict[str, str]
) -> None:
    response = client.get("/widget", params=params)
    assert response.status_code == 422
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_a_bad_value_is_shown_back_naming_the_field_with_no_answer(client: TestClient) -> None:
    response = client.get("/widget", params={**MATCHED, "nk_cell_percent": "140"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<li id="error-nk_cell_percent"><strong>peripheral-blood NK-cell percentage</strong>' in html
    assert "you entered “140”" in html
    assert 'aria-invalid="true" aria-describedby="error-nk_cell_percent"' in html
    assert 'class="bottom-line"' not in html
    assert 'data-highlighted="true"' not in html
    assert "Non-randomized evidence" in html


def test_the_widget_sends_embedding_headers_with_the_default_frame_ancestors(client: TestClient) -> None:
    headers = client.get("/widget").headers
    policy = headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["frame-ancestors"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["default-src"] == "'none'"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert "x-frame-options" not in headers


def test_frame_ancestors_come_from_the_configured_allow_list(settings: Settings) -> None:
    custom = Settings(**{**settings.model_dump(), "frame_ancestors": ("'self'", "https://ehr.example.org")})
    headers = TestClient(create_app(custom)).get("/widget").headers
    assert headers["content-security-policy"].endswith("frame-ancestors 'self' https://ehr.example.org")


@pytest.mark.parametrize(
    "sources",
    [(), ("self",), ("https://ehr.example.org; script-src *",), ("'none'", "'self'"), ("javascript:",), ("*",)],
    ids=["empty", "unquoted-self", "directive-smuggling", "none-with-others", "javascript", "wildcard"],
)
def test_a_bad_frame_ancestors_setting_stops_start_up(settings: Settings, sources: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError, match="frame_ancestors"):
        Settings(**{**settings.model_dump(), "frame_ancestors": sources})


def test_the_page_runs_no_inline_script_and_loads_nothing_from_other_origins(client: TestClient) -> None:
    for tag, attrs in tags(client.get("/widget", params=MATCHED).text):
        if tag == "script":
            assert (attrs.get("src") or "").startswith("/") or attrs.get("type") == "application/json"
        if tag in ("link", "img", "iframe", "source"):
            assert (attrs.get("href") or attrs.get("src") or "").startswith("/")
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "style" not in attrs, tag


def test_the_widget_serves_its_own_script_and_stylesheet(client: TestClient) -> None:
    js = client.get("/widget/static/widget.js")
    css = client.get("/widget/static/widget.css")
    assert js.status_code == css.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert css.headers["content-type"].startswith("text/css")
    assert js.headers["x-content-type-options"] == "nosniff"
    assert client.get("/widget/static/../../plugin/config.py").status_code == 404
    missing = client.get("/widget/static/evil.js")
    assert (missing.status_code, missing.headers["content-type"]) == (404, "text/html; charset=utf-8")
    assert 'data-error="widget.unknown_file"' in missing.text


def test_the_page_wording_never_oversells(client: TestClient, plugin: Plugin) -> None:
    citation = plugin.store.analyses["habets-2022-ivig-rpl"].source.citation
    for params in (MATCHED, {**MATCHED, "ivig_start": "conception_cycle", "baseline_live_birth_risk": "0.3"}, {}):
        html = client.get("/widget", params=params).text.replace(citation, "")
        assert not FORBIDDEN_WORDS.search(html)


def test_openapi_documents_the_widget_parameters(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/widget"]["get"]
    names = [p["name"] for p in operation["parameters"]]
    assert names == list(MATCHED) + ["rpl_type", "baseline_live_birth_risk", "baseline_live_birth_source", "launch"]


def test_every_widget_template_is_autoescaped(plugin: Plugin) -> None:
    names = [p.relative_to(ROOT / "templates").as_posix() for p in (ROOT / "templates").rglob("*.j2")]
    markup = [n for n in names if n.endswith((".html.j2", ".svg.j2"))]
    assert "widget/page.html.j2" in markup and "widget/forest.svg.j2" in markup
    assert all(plugin.renderer.env.autoescape(name) for name in markup)  # type: ignore[operator]


def test_a_widget_template_without_the_warning_cannot_render(plugin: Plugin, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    (templates / "partials" / "warning.html.j2").write_text("<p>no warning</p>\n", encoding="utf-8")
    (templates / "widget" / "forest.svg.j2").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>', encoding="utf-8")
    broken = dataclasses.replace(plugin, renderer=Renderer(templates))
    analysis = plugin.store.analyses["habets-2022-ivig-rpl"]
    with pytest.raises(MissingWarningError):
        render_page(broken, parse_query(MATCHED.items()))
    with pytest.raises(MissingWarningError):
        render_page(broken, parse_query([("nk_cell_percent", "x")]))
    with pytest.raises(MissingWarningError):
        render_forest(broken, analysis, ())


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pages the widget route rendered (rather than took from its cache), by their NK value as typed."""
    from plugin.widget import routes

    rendered: list[str] = []

    def counting(plugin: Plugin, form: object, *args: object) -> str:
        rendered.append(form.value("nk_cell_percent"))  # type: ignore[attr-defined]
        return render_page(plugin, form, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(routes, "render_page", counting)
    return rendered


def test_a_repeated_query_is_rendered_once_and_gets_the_fresh_page_byte_for_byte(
    client: TestClient, plugin: Plugin, renders: list[str]
) -> None:
    query = [("prior_pregnancy_losses", "3"), ("nk_cell_percent", "17.25"), ("autoimmune_conditions", "none")]
    first, second = (client.get("/widget", params=dict(query)) for _ in range(2))
    assert (first.status_code, second.status_code, renders) == (200, 200, ["17.25"])
    assert first.content == second.content == render_page(plugin, parse_query(query)).encode()
    typed_otherwise = client.get("/widget", params=dict(query) | {"nk_cell_percent": "17.250"})
    assert renders == ["17.25", "17.250"]  # shown back as typed, so a page of its own
    assert 'value="17.250"' in typed_otherwise.text and 'value="17.25"' in first.text


def test_a_page_with_errors_is_rendered_every_time(client: TestClient, renders: list[str]) -> None:
    for _ in range(2):
        assert client.get("/widget", params={"nk_cell_percent": "plenty"}).status_code == 422
    assert renders == ["plenty", "plenty"]


def test_a_sourced_baseline_that_does_not_describe_her_is_a_field_error_naming_why(client: TestClient) -> None:
    response = client.get(
        "/widget",
        params={
            "autoimmune_conditions": "antiphospholipid_syndrome",
            "baseline_live_birth_source": "promise2015_placebo_baseline",
        },
    )
    assert response.status_code == 422
    assert 'id="error-baseline_live_birth_source"' in response.text
    assert "which excludes antiphospholipid syndrome and systemic lupus erythematosus" in response.text
    assert 'class="glance"' not in response.text


def test_a_plot_drawn_once_per_set_of_marked_estimates_gives_the_page_drawn_afresh(
    plugin: Plugin, settings: Settings
) -> None:
    """The plot section is kept by the estimates and randomized results it marks; pages made with it kept are the
    pages made drawing it every time, over a spread of profiles, a form with errors and an empty form."""
    afresh = Plugin(store=plugin.store, tables=plugin.tables, renderer=Renderer(settings.templates_dir, parts_kept=0))
    kept = Plugin(store=plugin.store, tables=plugin.tables, renderer=Renderer(settings.templates_dir))
    queries = [
        f"prior_pregnancy_losses={losses}&nk_cell_percent={nk}&ivig_start={start}{extra}"
        for losses in (1, 2, 3, 5)
        for nk in (8.5, 12, 12.01, 19.75)
        for start in ("conception_cycle", "before_conception", "undecided")
        for extra in ("", "&autoimmune_conditions=antiphospholipid_syndrome", "&baseline_live_birth_risk=0.45")
    ] + ["nk_cell_percent=abc", "", "prior_pregnancy_losses=3"]
    for query in queries:
        form = parse_query(parse_qsl(query))
        assert render_page(kept, form) == render_page(afresh, form), query
    assert 1 < len(kept.renderer.parts) < len(queries)
    assert len(afresh.renderer.parts) == 0
