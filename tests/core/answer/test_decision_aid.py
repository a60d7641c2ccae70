"""The decision aid for the conversation with the patient: chosen by the core from the answer and the store, worded by
its templates. Options, harms and burdens, what is known and not, the picture of chances or why there is none, and
the sources, each with the exact values the page prints."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import textstat

from plugin.config import Settings
from plugin.core.answer.decision_aid import DecisionAid
from plugin.core.answer.icon_array import in_100
from plugin.core.answer.plugin import Plugin, load_plugin
from plugin.core.answer.render import AidPage, MissingWarningError, Renderer
from plugin.core.answer.views import ContextView
from plugin.core.evidence.context import ContextRecord
from plugin.core.rules.profile import PatientProfile
from tests.decision_aid_text import running_text, visible_text

APS = "antiphospholipid_syndrome"
DONE_WHEN: dict[str, Any] = {"prior_pregnancy_losses": 3, "nk_cell_percent": 18, "autoimmune_conditions": [APS]}
NK: dict[str, Any] = {"prior_pregnancy_losses": 3, "nk_cell_percent": 18, "autoimmune_conditions": []}
ROOT = Path(__file__).resolve().parents[3]


def aid_for(plugin: Plugin, **fields: Any) -> DecisionAid:
    return plugin.decision_aid(PatientProfile.model_validate(fields))


def html_of(plugin: Plugin, aid: DecisionAid) -> str:
    return plugin.renderer.render_aid(aid, "html", AidPage(stylesheet="/aid.css"))


def options(page: str) -> list[str]:
    return re.findall(r'<section class="option" data-option="([a-z-]+)"', page)


def test_aps_is_offered_the_standard_care_first_then_ivig_no_ivig_and_research(plugin: Plugin) -> None:
    aid = aid_for(plugin, **DONE_WHEN)
    page = html_of(plugin, aid)

    assert [c.id for c in aid.standard_care] == ["eshre2017_aps_treatment"]
    assert [c.id for c in aid.standard_care_trials] == ["aps_ivig_vs_lmwh_aspirin_rct"]
    assert options(page) == ["standard-care", "ivig", "no-ivig", "research"]
    assert "Aspirin and heparin: the standard care for APS" in page
    assert "In one small trial of 40 women with the antibodies of APS, more women had a baby with heparin" in page
    assert "How would aspirin and heparin fit into my next pregnancy?" in page


@pytest.mark.parametrize(
    "fields",
    [NK, {"prior_pregnancy_losses": 3}, {"prior_pregnancy_losses": 1}, {**NK, "nk_cell_percent": 5.0}],
    ids=["matched", "insufficient", "not-rpl", "outside"],
)
def test_without_aps_the_options_are_ivig_no_ivig_and_research_naming_no_trial(plugin: Plugin, fields: Any) -> None:
    aid = aid_for(plugin, **fields)
    page = html_of(plugin, aid)

    assert aid.standard_care == () and "standard_care" not in aid.questions
    assert options(page) == ["ivig", "no-ivig", "research"]
    assert "If a trial of IVIG is open to you, you could choose to join it. Ask your clinician if there is one." in page


def test_the_ivig_option_names_the_regimen_the_blood_product_the_drip_and_each_harm(plugin: Plugin) -> None:
    aid = aid_for(plugin, **DONE_WHEN)
    text = plugin.renderer.render_aid(aid, "text")

    assert aid.regimen is not None and aid.regimen.id == "yamada2022_design"
    assert (
        "IVIG is a blood product. It goes into a vein through a drip. Doses differ between studies. In one trial "
        "(Yamada 2022), women had 400 mg for each kg of their weight, each day for 5 days in a row, from 4 to 6 weeks "
        "of pregnancy." in text
    )
    assert [c.id for c in aid.harms] == [
        "fda_thrombosis_boxed_warning",
        "fda_1998_renal_warning",
        "iga_contraindication",
    ]
    assert "Blood clots. In the US, every IVIG product carries a boxed warning about them (US FDA 2013)." in text
    assert "Sudden kidney failure. The US drug agency has warned about it (US FDA 1998)." in text
    assert "Some IVIG products must not be given to a woman who lacks IgA, a kind of antibody." in text
    assert "IVIG seems to cause more side effects than a dummy drip (Egerup 2015)." in text
    assert "“IVIg compared with placebo seems to increase the risk of adverse events.”" in text


def test_the_regimen_is_named_for_every_status_even_where_the_answer_leaves_the_trial_out(plugin: Plugin) -> None:
    aid = aid_for(plugin, prior_pregnancy_losses=1)

    assert aid.answer.status == "not_rpl" and "yamada2022_design" not in {c.id for c in aid.answer.context}
    assert "each day for 5 days in a row" in plugin.renderer.render_aid(aid, "text")
    assert any(r.link == "https://doi.org/10.1016/j.eclinm.2022.101527" for r in aid.references)


def test_a_release_without_a_regimen_record_says_the_dose_is_not_available_and_cites_no_trial_for_it(
    settings: Settings,
) -> None:
    november = load_plugin(settings.model_copy(update={"evidence_dir": ROOT / "tests" / "data" / "evidence-2026.11"}))
    aid = aid_for(november, **NK)

    assert aid.regimen is None
    text = november.renderer.render_aid(aid, "text")
    assert "The dose a trial used is not available in the sources of this version of the evidence." in text
    assert "mg for each kg" not in text and 'data-context="yamada2022_design"' not in html_of(november, aid)


def test_what_is_known_counts_the_studies_behind_each_of_her_findings(plugin: Plugin) -> None:
    aid = aid_for(plugin, **DONE_WHEN, th1_th2_ratio_elevated=True, rpl_type="secondary")
    aid_thyroid = aid_for(plugin, prior_pregnancy_losses=3, autoimmune_conditions=["autoimmune_thyroid_disease"])
    text = plugin.renderer.render_aid(aid, "text")

    assert [(s.finding, s.studies, s.women, s.about, s.inferred) for s in aid.support] == [
        ("nk_above_12", 3, 223, False, False),
        (APS, 1, 15, False, False),
        ("th1_th2_elevated", 1, 58, True, True),
    ]
    assert "- For NK cells above 12%: 3 studies with 223 women." in text
    assert "- For APS: 1 study with 15 women." in text
    assert "- For a raised Th1/Th2 result: probably 1 study with about 58 women." in text
    assert "The main evidence is a review of 8 small studies with 478 women." in text
    assert "Trials that put women into groups by chance found no clear benefit from IVIG. There were 11 such" in text
    assert "no study in the review chose women for this" in plugin.renderer.render_aid(aid_thyroid, "text")


def test_no_ivig_says_what_happened_without_treatment_in_the_placebo_arms(plugin: Plugin) -> None:
    aid = aid_for(plugin, **NK)

    assert aid.placebo is not None and (aid.placebo.low, aid.placebo.high) == (50, 63)
    assert aid.placebo.trials == ("Christiansen 2015", "ALIFE 2010", "PROMISE 2015")
    assert (
        "Of them, 50 to 63 in 100 went on to have a baby (Christiansen 2015, ALIFE 2010, PROMISE 2015)."
        in plugin.renderer.render_aid(aid, "text")
    )
    assert aid_for(plugin, prior_pregnancy_losses=1).placebo is None  # about women with two or more losses


def test_the_positions_that_disagree_and_the_tests_guidelines_advise_against_are_named(plugin: Plugin) -> None:
    aid = aid_for(plugin, **NK)
    text = plugin.renderer.render_aid(aid, "text")

    assert [c.id for c in aid.positions] == [
        "nba_au_recurrent_miscarriage",
        "ontario_ig_rpl_criteria",
        "ksri2017_ivig_guideline",
        "cadth_ivig_rsa_review",
    ]
    assert "the National Blood Authority does not support IVIG for repeated miscarriage, with or without APS" in text
    assert "“recommends” IVIG for some immune test results" in text
    assert aid.tests == ("nk_cell_percent", "th1_th2_ratio_elevated")  # NK is her basis; Th1/Th2 is not known
    assert "Guidelines in Europe and the UK advise against NK cell tests outside research." in text


def test_what_is_not_known_and_the_questions_follow_her_answer(plugin: Plugin) -> None:
    matched = aid_for(plugin, **NK)
    unknown = aid_for(plugin, prior_pregnancy_losses=3)
    not_rpl = aid_for(plugin, prior_pregnancy_losses=1)

    assert matched.unknowns == (
        "effect_for_her",
        "trials_needed",
        "harms_how_often",
        "nk_meaning",
        "missing",
        "not_covered",
    )
    assert unknown.unknowns == ("trials_needed", "harms_how_often", "missing", "not_covered")
    assert not_rpl.unknowns == ("harms_how_often", "not_covered")
    assert matched.questions == ("chance_without", "trial", "nk_result", "missing", "visits", "harms", "cost")
    text = plugin.renderer.render_aid(unknown, "text")
    assert (
        "Some facts about you: an NK cell result, if you already have one; whether you have an autoimmune disease; "
        "a Th1/Th2 result, if you already have one. The answer could change if they are known." in text
    )


# --- The picture of chances -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason", "sentence"),
    [
        (NK, "no_baseline", "your chance of a baby without IVIG was not given, and the results of the small studies"),
        ({"prior_pregnancy_losses": 3}, "no_estimate", "no result of the small studies applies to you"),
        ({**NK, "baseline_live_birth_risk": 0.6}, "not_estimable", "would give a baby to nearly every woman or more"),
        ({**NK, "baseline_live_birth_risk": 0.43}, "not_estimable", "would give a baby to nearly every woman or more"),
    ],
    ids=["no-baseline", "no-estimate", "past-100", "rounds-to-100"],
)
def test_without_an_estimable_absolute_effect_there_is_no_picture_and_one_sentence_why(
    plugin: Plugin, fields: Any, reason: str, sentence: str
) -> None:
    aid = aid_for(plugin, **fields)
    page = html_of(plugin, aid)

    assert aid.icons is None and aid.no_icons == reason
    assert 'id="icon-array"' not in page and "<use" not in page
    (shown,) = re.findall(r'<p class="no-icons" id="no-icons" data-reason="(\w+)">([^<]+)</p>', page)
    assert shown[0] == reason and sentence in shown[1] and shown[1].count(".") == 1 + (reason == "not_estimable")


def test_a_caller_baseline_draws_100_figures_from_the_leading_estimate_with_a_text_equivalent(plugin: Plugin) -> None:
    aid = aid_for(plugin, **NK, baseline_live_birth_risk=0.3)
    page = html_of(plugin, aid)

    icons = aid.icons
    assert icons is not None and aid.no_icons is None
    # 0.3 without IVIG; NK >12% RR 2.32 (1.77 to 3.02): 0.696, 0.531 and 0.906 with IVIG.
    assert (icons.baseline, icons.with_ivig, icons.difference, icons.low, icons.high) == (30, 70, 40, 53, 91)
    assert Counter(re.findall(r'data-kind="(\w+)"', page.split("<figcaption>")[0])) == {
        "both": 30,
        "extra": 40,
        "neither": 30,
    }
    assert 'role="img" aria-labelledby="icons-title icons-text"' in page
    assert (
        "Out of 100 women like you, about 30 would have a baby without IVIG. With IVIG, if these very unsure results "
        "hold, about 70 would: 40 more. The true number with IVIG could be anywhere from 53 to 91." in page
    )
    assert "The chance without IVIG is 30 in 100: the figure your clinician gave." in page


def test_an_upper_limit_past_100_is_not_drawn_and_the_text_says_it_cannot_be_worked_out(plugin: Plugin) -> None:
    aid = aid_for(plugin, **NK, baseline_live_birth_risk=0.4)  # 0.928 with IVIG; its upper limit 1.208

    assert aid.icons is not None and (aid.icons.with_ivig, aid.icons.low, aid.icons.high) == (93, 71, None)
    assert "could be 71 or more; the top of the range cannot be worked out." in plugin.renderer.render_aid(aid, "text")


def test_a_sourced_baseline_is_named_by_its_source_under_the_picture(plugin: Plugin) -> None:
    fields = {"prior_pregnancy_losses": 4, "th1_th2_ratio_elevated": True, "rpl_type": "secondary"}
    aid = aid_for(plugin, **fields, baseline_live_birth_source="christiansen2015_placebo")  # 0.5 x RR 1.98 = 0.99

    assert aid.icons is not None and (aid.icons.baseline, aid.icons.with_ivig, aid.icons.high) == (50, 99, None)
    assert aid.icons.source == "Christiansen 2015, placebo arm"
    assert "The chance without IVIG is 50 in 100: from Christiansen 2015, placebo arm." in html_of(plugin, aid)


@pytest.mark.parametrize(("probability", "women"), [(0.3, 30), (0.305, 31), (0.696, 70), (0.9945, 99), (0.004, 0)])
def test_chances_are_whole_women_in_100_rounded_half_up_from_the_exact_value(probability: float, women: int) -> None:
    assert in_100(probability) == women


# --- Sources, date, version and the clinician's lines ---------------------------------------------------------------


def test_the_sources_are_each_cited_once_with_the_date_version_and_release(plugin: Plugin) -> None:
    aid = aid_for(plugin, **DONE_WHEN)
    page = html_of(plugin, aid)

    links = [r.link for r in aid.references]
    assert links[0] == "https://doi.org/10.1186/s13223-022-00660-8" and len(links) == len(set(links))
    named: list[ContextView | ContextRecord] = [
        *([aid.regimen] if aid.regimen else []),
        *aid.harms,
        *aid.positions,
        *aid.standard_care,
        *aid.standard_care_trials,
    ]
    assert all(("https://doi.org/" + str(c.doi) if c.doi else c.url) in links for c in named)
    assert sum(1 for link in links if link == "https://doi.org/10.1093/hropen/hoy004") == 1  # two tables, one paper
    assert "The sources were last searched in November 2026." in page
    assert f'Evidence version <code id="evidence-version">{plugin.store.version}</code>, release 2026.12.' in page
    assert all(r.citation in page for r in aid.references)


def test_the_clinician_part_quotes_the_answers_first_lines_and_its_warning(plugin: Plugin) -> None:
    aid = aid_for(plugin, **DONE_WHEN)
    page, text = html_of(plugin, aid), plugin.renderer.render_aid(aid, "text")

    clinician = page.split('id="for-clinician"')[1]
    assert (
        aid.answer.nonrandomized_warning.text in clinician
        and aid.answer.at_a_glance.sentence.split(":")[0] in clinician
    )
    assert f"“{aid.answer.nonrandomized_warning.text}”" in text
    assert "non-randomized" not in running_text(page)  # the patient's own version of the warning is in plain words
    assert "did not put women into groups by chance, so other things could explain their results" in running_text(page)


def test_the_page_is_labelled_as_material_for_a_conversation_and_runs_no_script(plugin: Plugin) -> None:
    page = html_of(plugin, aid_for(plugin, **DONE_WHEN))

    assert (
        '<p class="aid-label" id="aid-label"><strong>This page is material for a talk with your clinician. It is not '
        "advice, and it does not say what to choose.</strong></p>" in page
    )
    assert "<script" not in page and "<form" not in page and ' style="' not in page
    assert '<link rel="stylesheet" href="/aid.css">' in page
    assert "Made for: 3 pregnancies lost; NK cells 18%; antiphospholipid syndrome (APS)." in visible_text(page)


def test_a_page_saved_as_a_file_carries_its_stylesheet(plugin: Plugin) -> None:
    css = (ROOT / "templates" / "widget" / "static" / "aid.css").read_text(encoding="utf-8")
    page = plugin.renderer.render_aid(aid_for(plugin, **DONE_WHEN), "html", AidPage(inline_css=css))

    assert f"<style>{css}</style>" in page and "<link" not in page


def test_a_template_that_drops_the_warning_fails_to_render(plugin: Plugin, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    page = templates / "decision_aid" / "aid.html.j2"
    page.write_text(page.read_text(encoding="utf-8").replace("{{ a.nonrandomized_warning.text }}", ""), "utf-8")

    with pytest.raises(MissingWarningError):
        Renderer(templates).render_aid(aid_for(plugin, **DONE_WHEN), "html")


def test_a_record_without_plain_words_of_its_own_fails_to_render(plugin: Plugin, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    words = templates / "decision_aid" / "words.j2"
    words.write_text(words.read_text(encoding="utf-8").replace('c.id == "ontario_ig_rpl_criteria"', "false"), "utf-8")

    with pytest.raises(Exception, match="ontario_ig_rpl_criteria"):
        Renderer(templates).render_aid(aid_for(plugin, **NK), "text")


def test_the_done_when_aid_reads_at_grade_8_or_lower_and_names_care_options_unknowns_and_harms(
    plugin: Plugin, report: list[str]
) -> None:
    aid = aid_for(plugin, **DONE_WHEN)
    page = html_of(plugin, aid)
    running = running_text(page)
    grade = textstat.flesch_kincaid_grade(running)

    report.append(
        f"decision aid for NK 18%, three losses, APS: Flesch-Kincaid grade {grade:.1f} over "
        f"{textstat.lexicon_count(running)} words of running text"
    )
    assert grade <= 8
    assert options(page) == ["standard-care", "ivig", "no-ivig", "research"]
    assert 'data-unknown="effect_for_her"' in page and len(aid.unknowns) == 6
    assert len(re.findall(r'<li data-context="[a-z0-9_]+">', page.split('class="harms"')[1].split("</ul>")[0])) == 4
