"""Properties over random profiles: the warning is always there, the status is DESIGN.md's, every ratio shown is
one the evidence store holds, and the same profile and evidence give byte-identical output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from plugin.config import Settings
from plugin.core.answer.formats import fmt_ratio
from plugin.core.answer.plugin import Plugin, RenderedAnswer, load_plugin
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, BASELINE_SOURCES, IVIG_STARTS, MAX_LOSSES, PatientProfile
from plugin.errors import ProfileError

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
# A ratio as the templates print one: two decimals, not part of a longer number, a percentage or a date.
RATIO = re.compile(r"(?<![\d.])\d+\.\d\d(?![\d%])")


def maybe(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | strategy


baselines: st.SearchStrategy[dict[str, object]] = st.one_of(
    st.fixed_dictionaries({}),
    st.fixed_dictionaries(
        {
            "baseline_live_birth_risk": st.floats(min_value=0.01, max_value=0.99, allow_nan=False).map(
                lambda v: round(v, 2)
            )
        }
    ),
    st.fixed_dictionaries({"baseline_live_birth_source": st.sampled_from(BASELINE_SOURCES)}),
)
profiles = st.builds(
    lambda fields, baseline: PatientProfile(**{k: v for k, v in fields.items() if v is not None}, **baseline),
    st.fixed_dictionaries(
        {
            "prior_pregnancy_losses": maybe(st.integers(min_value=0, max_value=MAX_LOSSES)),
            "nk_cell_percent": maybe(
                st.sampled_from([0.0, 11.9, 12.0, 12.01, 14.0, 100.0])
                | st.floats(min_value=0, max_value=100, allow_nan=False)
            ),
            "autoimmune_conditions": maybe(st.lists(st.sampled_from(AUTOIMMUNE_CONDITIONS), unique=True).map(tuple)),
            "th1_th2_ratio_elevated": maybe(st.booleans()),
            "ivig_start": maybe(st.sampled_from(IVIG_STARTS)),
        }
    ),
    baselines,
)


def answered(plugin: Plugin, profile: PatientProfile) -> RenderedAnswer:
    """The answer; a sourced baseline that does not describe her is refused (tested in test_layers), so
    Hypothesis draws another profile."""
    try:
        return plugin.respond(profile)
    except ProfileError:
        assume(False)
        raise


@pytest.fixture(scope="module")
def second_load(settings: Settings) -> Plugin:
    """The same evidence loaded again from disk: output must not depend on which load answered."""
    return load_plugin(settings)


def design_status(profile: PatientProfile) -> str:
    """DESIGN.md's status table, written out as an oracle independent of the decision tables."""
    losses = profile.prior_pregnancy_losses
    if losses is not None and losses < 2:
        return "not_rpl"
    immune = [
        None if profile.nk_cell_percent is None else profile.nk_cell_percent > 12,
        None if profile.autoimmune_conditions is None else bool(profile.autoimmune_conditions),
        profile.th1_th2_ratio_elevated,
    ]
    if any(immune):
        return "matched"
    return "insufficient_information" if None in immune else "outside_population"


def stored_ratios(plugin: Plugin, evidence_dir: Path) -> set[str]:
    """Every ratio the store holds: as numbers (printed as the templates print them) or written in its text."""
    numbers: list[float] = []
    for analysis in plugin.store.analyses.values():
        for estimate in analysis.estimates:
            numbers += [estimate.point, *estimate.ci]
    for record in plugin.store.context.values():
        numbers += [n for n in (record.estimate, *(record.ci or ())) if n is not None]
    texts = {fmt_ratio(n) for n in numbers}
    texts |= {record.p for record in plugin.store.context.values() if record.p}
    for path in evidence_dir.rglob("*.toml"):
        texts |= set(RATIO.findall(path.read_text(encoding="utf-8")))
    return texts


@SETTINGS
@given(profile=profiles)
def test_every_answer_in_every_format_carries_the_nonrandomized_warning(
    plugin: Plugin, profile: PatientProfile
) -> None:
    result = answered(plugin, profile)
    assert [w.code for w in result.warnings].count("nonrandomized_evidence") == 1
    warning = result.nonrandomized_warning.text
    assert warning in result.rendered.markdown and warning in result.rendered.text
    assert result.rendered.text.index(warning) < result.rendered.text.index(result.bottom_line)


@SETTINGS
@given(profile=profiles)
def test_the_status_is_the_one_design_md_gives(plugin: Plugin, profile: PatientProfile) -> None:
    assume(answered(plugin, profile) is not None)
    assert plugin.answer(profile).status == design_status(profile)


@SETTINGS
@given(profile=profiles)
def test_every_ratio_shown_is_one_the_evidence_store_holds(
    plugin: Plugin, settings: Settings, profile: PatientProfile
) -> None:
    result = answered(plugin, profile)
    store = {(e.id, e.point, e.ci) for a in plugin.store.analyses.values() for e in a.estimates}
    for shown in result.estimates:
        assert (shown.id.partition("#")[2], shown.rr, (shown.ci_low, shown.ci_high)) in store
    allowed = stored_ratios(plugin, settings.evidence_dir)
    allowed.add(result.evidence_label)  # the release's name ("2026.12"), not a ratio
    if profile.baseline_live_birth_risk is not None:  # the clinician's own baseline, repeated as a probability
        allowed.add(f"{profile.baseline_live_birth_risk:.2f}")
    for rendered in (result.rendered.markdown, result.rendered.text):
        assert set(RATIO.findall(rendered)) <= allowed


@SETTINGS
@given(profile=profiles)
def test_the_same_profile_and_evidence_give_byte_identical_output(
    plugin: Plugin, second_load: Plugin, profile: PatientProfile
) -> None:
    assume(answered(plugin, profile) is not None)
    first = plugin.respond(profile).model_dump_json()
    assert plugin.respond(profile).model_dump_json() == first
    assert second_load.respond(profile).model_dump_json() == first
