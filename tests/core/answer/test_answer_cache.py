"""The cache of finished answers gives, byte for byte, what the uncached path gives: over the whole profile grid,
with baselines, at an IVIG order, and for random profiles; its key is the band of each number, not the number."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.core.answer.plugin import Plugin, RenderedAnswer
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, IVIG_STARTS, MAX_LOSSES, RPL_TYPES, PatientProfile
from plugin.errors import ProfileError
from tests.core.answer.test_answer import profiles

BASELINES: list[dict[str, Any]] = [
    {},
    {"baseline_live_birth_risk": 0.3},
    {"baseline_live_birth_risk": 0.6},
    {"baseline_live_birth_source": "christiansen2015_placebo"},
]


def fresh(plugin: Plugin, size: int) -> Plugin:
    """The loaded evidence, tables and templates behind a cache of its own."""
    return Plugin(store=plugin.store, tables=plugin.tables, renderer=plugin.renderer, cache_size=size)


def uncached_body(plugin: Plugin, profile: PatientProfile) -> bytes | str:
    """What the JSON door sent before any cache: the response model's JSON, as the framework encodes a response
    model (pydantic's serializer; proven below against a bare route), or the code of the refusal, for a sourced
    baseline that does not describe her."""
    try:
        return plugin.respond(profile).model_dump_json().encode()
    except ProfileError as exc:
        return exc.code


def cached_body(plugin: Plugin, profile: PatientProfile) -> bytes | str:
    try:
        return plugin.respond_json(profile)
    except ProfileError as exc:
        return exc.code


def grid() -> list[PatientProfile]:
    """The answer grid, then the matched profiles of it again with each baseline (absolute effects)."""
    found = [PatientProfile.model_validate(fields) for fields in profiles()]
    matched = [fields for fields in profiles() if fields.get("nk_cell_percent") in (12.01, 100.0)]
    found += [PatientProfile.model_validate(fields | extra) for fields in matched for extra in BASELINES[1:]]
    return found


def test_cached_bodies_are_byte_identical_to_the_uncached_path_over_the_whole_grid(plugin: Plugin) -> None:
    cached = fresh(plugin, 256)  # a point meets its class again within 105 points; older entries are evicted
    points = grid()
    assert len(points) == 3150 + 3 * 6 * 2 * 7 * 3 * 5
    different = [p for p in points if cached_body(cached, p) != uncached_body(plugin, p)]
    assert different == []
    # 1,680 points were answered from another profile's entry, with their own values filled in.
    assert len({cached.answers.key(p, False) for p in points}) == 5250
    assert len(cached.answers.classes) == 256


def test_cached_answers_at_an_ivig_order_equal_fresh_ones_on_the_grid(plugin: Plugin) -> None:
    """The JSON door never asks at an order; the CDS Hooks order-select service does (the context table reads it)."""
    cached = fresh(plugin, 256)
    points = [PatientProfile.model_validate(fields) for fields in profiles()]
    assert [p for p in points if cached.answer(p, ivig_order=True) != plugin.compute(p, ivig_order=True)] == []


def test_the_framework_sends_the_cached_body_byte_for_byte(plugin: Plugin) -> None:
    """Against a bare route that returns the fresh answer through its response model, as the door used to."""
    reference = FastAPI()

    @reference.post("/answer", response_model=RenderedAnswer)
    def answer(profile: PatientProfile) -> RenderedAnswer:
        return plugin.respond(profile)

    cached = fresh(plugin, 8)
    with TestClient(reference) as client:
        # Numbers as a caller may send them, tiny ones included (written with an exponent).
        exotic = [
            {"nk_cell_percent": 31.4159, "baseline_live_birth_risk": 0.123456789},
            {"prior_pregnancy_losses": 3, "nk_cell_percent": 1e-05, "baseline_live_birth_risk": 2.5e-07},
            {"prior_pregnancy_losses": 4, "nk_cell_percent": 13.0, "baseline_live_birth_risk": 5e-324},
        ]
        for fields in [*profiles()[::97], *exotic]:
            profile = PatientProfile.model_validate(fields)
            assert client.post("/answer", json=fields).content == cached.respond_json(profile)


profile_fields = st.fixed_dictionaries(
    {},
    optional={
        "prior_pregnancy_losses": st.none() | st.integers(0, MAX_LOSSES),
        "nk_cell_percent": st.none() | st.floats(0, 100),
        "autoimmune_conditions": st.none() | st.lists(st.sampled_from(AUTOIMMUNE_CONDITIONS), unique=True),
        "th1_th2_ratio_elevated": st.none() | st.booleans(),
        "ivig_start": st.none() | st.sampled_from(IVIG_STARTS),
        "baseline_live_birth_risk": st.floats(0, 1, exclude_min=True, exclude_max=True),
    },
)
SHARED: dict[str, Plugin] = {}


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(fields=profile_fields, ivig_order=st.booleans())
def test_random_profiles_get_the_uncached_body_and_answer(
    plugin: Plugin, fields: dict[str, Any], ivig_order: bool
) -> None:
    cached = SHARED.setdefault("plugin", fresh(plugin, 16))  # one cache across examples: most are refills
    profile = PatientProfile.model_validate(fields)
    assert cached_body(cached, profile) == uncached_body(plugin, profile)
    if not isinstance(uncached_body(plugin, profile), str):
        assert cached.answer(profile, ivig_order=ivig_order) == plugin.compute(profile, ivig_order)


def test_the_key_is_the_band_of_each_number_not_the_number(plugin: Plugin) -> None:
    cached = fresh(plugin, 8)
    for losses, nk in ((4, 12.01), (5, 13.0), (10, 39.99), (50, 40.0)):  # cuts: NK 12 and 40, losses 2, 3 and 4
        cached.answer(PatientProfile(prior_pregnancy_losses=losses, nk_cell_percent=nk))
    assert len(cached.answers.classes) == 1
    for nk in (47.5, 100.0):
        cached.answer(PatientProfile(prior_pregnancy_losses=4, nk_cell_percent=nk))
    assert len(cached.answers.classes) == 2
    cached.answer(PatientProfile(prior_pregnancy_losses=4, nk_cell_percent=12.0))  # on the other side of 12
    cached.answer(PatientProfile(prior_pregnancy_losses=3, nk_cell_percent=13.0))  # fewer than four losses
    assert len(cached.answers.classes) == 4
    cached.answer(PatientProfile(prior_pregnancy_losses=4, nk_cell_percent=13.0, baseline_live_birth_risk=0.3))
    assert len(cached.answers.classes) == 5  # the baseline is read exactly: it is the absolute effects' input


def test_a_refilled_answer_echoes_her_own_values_in_the_profile_and_every_trace_step(plugin: Plugin) -> None:
    cached = fresh(plugin, 8)
    first = cached.answer(PatientProfile(prior_pregnancy_losses=4, nk_cell_percent=13.0))
    second = cached.answer(PatientProfile(prior_pregnancy_losses=7, nk_cell_percent=31.5))
    assert len(cached.answers.classes) == 1
    assert (second.profile.prior_pregnancy_losses, second.profile.nk_cell_percent) == (7, 31.5)
    read = [step.inputs["nk_cell_percent"] for step in second.trace if "nk_cell_percent" in step.inputs]
    assert read == [31.5, 31.5, 31.5]
    assert [step.inputs.get("status") for step in second.trace] == [step.inputs.get("status") for step in first.trace]
    assert first.profile.nk_cell_percent == 13.0  # the class's own entry is left as it was


@pytest.mark.parametrize("size", [0, 1, 3])
def test_the_cache_holds_at_most_its_size_and_zero_turns_it_off(plugin: Plugin, size: int) -> None:
    cached = fresh(plugin, size)
    for losses in (None, 1, 3):
        for nk in (None, 5.0, 50.0):
            profile = PatientProfile(prior_pregnancy_losses=losses, nk_cell_percent=nk)
            assert cached.respond_json(profile) == uncached_body(plugin, profile)
    assert len(cached.answers.classes) == len(cached.answers.profiles) == size


every_field = st.fixed_dictionaries(
    {},
    optional={
        "prior_pregnancy_losses": st.none() | st.integers(0, MAX_LOSSES),
        "nk_cell_percent": st.none() | st.floats(0, 100),
        "autoimmune_conditions": st.none() | st.lists(st.sampled_from(AUTOIMMUNE_CONDITIONS), unique=True),
        "th1_th2_ratio_elevated": st.none() | st.booleans(),
        "ivig_start": st.none() | st.sampled_from(IVIG_STARTS),
        "rpl_type": st.none() | st.sampled_from(RPL_TYPES),
        "baseline_live_birth_risk": st.floats(0, 1, exclude_min=True, exclude_max=True),
    },
)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(fields=every_field, order=st.permutations(["answer", "body", "evidence"]))
def test_whatever_a_door_asks_for_first_the_body_and_renderings_are_the_uncached_ones(
    plugin: Plugin, fields: dict[str, Any], order: list[str]
) -> None:
    """The body and renderings are made when first asked for (CDS Hooks and the widget ask for the answer only): in
    any order of asking, on a class made before or not, they are the uncached path's."""
    cached = SHARED.setdefault("lazy", fresh(plugin, 16))
    profile = PatientProfile.model_validate(fields)
    expected = uncached_body(plugin, profile)
    if isinstance(expected, str):
        return
    fresh_answer = plugin.compute(profile)
    finished = cached.answers.finished(profile)
    for asked in order:
        if asked == "answer":
            assert finished.answer == fresh_answer
        elif asked == "body":
            assert finished.body == expected
        else:
            assert finished.evidence_markdown == plugin.renderer.render(fresh_answer, "markdown", "evidence")
    assert (finished.markdown, finished.text) == plugin.both(fresh_answer)


def test_bodies_asked_after_answers_over_the_grid_are_byte_identical(plugin: Plugin) -> None:
    """The CDS Hooks door fills a class with its answer alone; the JSON door then asks that class for a body."""
    cached = fresh(plugin, 6000)
    points = grid()
    for profile in points:
        try:
            cached.answer(profile)
        except ProfileError:
            pass
    assert [p for p in points[::3] if cached_body(cached, p) != uncached_body(plugin, p)] == []


def test_the_cache_is_sized_from_the_count_of_classes(plugin: Plugin) -> None:
    """Bands of losses and NK % (unknown included), then every other field's values, at an IVIG order or not."""
    cached = fresh(plugin, 10**9)
    losses, nk = (len({*b.signatures.values(), b.unknown}) for b in cached.answers._bands.values())
    assert (losses, nk) == (8, 6)
    assert cached.answers.count == 2 * losses * nk * 17 * 3 * 5 * 3 * 9 == 660960
    assert cached.answers.classes.size == cached.answers.count
    assert fresh(plugin, 128).answers.classes.size == 128
