"""In-process latency of an answer over the whole profile grid, cold and warm, beside a floor measured in the same run.

Every profile of the answer grid (3,150: losses x NK x conditions x Th1/Th2 x timing) is answered in a random
order, each on its own, and the per-call times give the p50 and p99 of:

- cold: the answer worked out afresh (`Plugin.compute`, the decision tables, views and summary of findings), and
  with both renderings and the JSON body (`Plugin.respond`, then encoded as the JSON door encodes it);
- class known: a profile not asked before whose class (same side of every cut point) is cached: her own values
  are filled into the finished answer (`answer`) and body (`respond_json`);
- warm: the same profile asked again (`answer`, `respond_json`).

The floor is a dict lookup of the same finished bytes by the same profile: what no cache can beat. Targets
(issue 16): a cold-cache answer under 50 us at p50, a warm one under 5 us.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence

from bench.mix import profiles as profiles_of_mix
from plugin.config import get_settings
from plugin.core.answer.plugin import Plugin, load_plugin
from plugin.core.rules.profile import PatientProfile
from tests.core.answer.test_answer import profiles

COLD_TARGET_US, WARM_TARGET_US = 50.0, 5.0
UNSEEN_CLASS_TARGET_US = 300.0  # issue 26: an unseen class of the varied mix, rendering included
MIX_PROFILES = 600
SEED = 16


def per_call(call: Callable[[PatientProfile], object], grid: Sequence[PatientProfile]) -> list[float]:
    samples = []
    for profile in grid:
        start = time.perf_counter()
        call(profile)
        samples.append(time.perf_counter() - start)
    return samples


def row(name: str, samples: list[float], target: float | None = None) -> str:
    p50 = statistics.median(samples) * 1e6
    p99 = statistics.quantiles(samples, n=100)[-1] * 1e6
    verdict = "" if target is None else f"   target p50 < {target:.0f} us: {'met' if p50 < target else 'MISSES'}"
    return f"  {name:<52} p50 {p50:9.1f} us   p99 {p99:9.1f} us{verdict}"


def nudged(profiles: Sequence[PatientProfile], by: float) -> list[PatientProfile]:
    """The same classes with other values: NK `by` points higher, where no cut point lies that close above."""
    return [
        p.model_copy(update={"nk_cell_percent": round(p.nk_cell_percent + by, 4)})
        for p in profiles
        if p.nk_cell_percent is not None and p.nk_cell_percent not in (12.0, 100.0)
    ]


def main() -> None:
    loaded = load_plugin(get_settings())
    grid = [PatientProfile.model_validate(fields) for fields in profiles()]
    random.Random(SEED).shuffle(grid)
    fresh = Plugin(store=loaded.store, tables=loaded.tables, renderer=loaded.renderer, cache_size=2 * len(grid))

    def respond_body(profile: PatientProfile) -> bytes:
        return loaded.respond(profile).model_dump_json().encode()

    cold_answer = per_call(loaded.compute, grid)
    cold_body = per_call(respond_body, grid)
    fill = per_call(fresh.respond_json, grid)  # every class and profile of the grid made once
    class_answer = per_call(fresh.answer, nudged(grid, 0.001))
    class_body = per_call(fresh.respond_json, nudged(grid, 0.002))
    warm_answer = per_call(fresh.answer, grid)
    warm_body = per_call(fresh.respond_json, grid)
    mixed = [p for p in profiles_of_mix(MIX_PROFILES) if p.baseline_live_birth_source is None]
    unseen_body = per_call(
        Plugin(store=loaded.store, tables=loaded.tables, renderer=loaded.renderer).respond_json, mixed
    )
    unseen_answer = per_call(Plugin(store=loaded.store, tables=loaded.tables, renderer=loaded.renderer).answer, mixed)
    floor_table = {profile: fresh.respond_json(profile) for profile in grid}
    floor = per_call(floor_table.__getitem__, grid)

    print(f"in-process, {len(grid)} grid profiles in random order, one call each (p50/p99 per call):")  # noqa: T201
    for line in (
        row("floor: dict lookup of the finished body", floor),
        row("cold: answer worked out (tables, views, summary)", cold_answer, COLD_TARGET_US),
        row("cold: + both renderings + JSON body", cold_body),
        row("first fill of the cache (respond_json, cold)", fill),
        row(f"class known, new profile: answer ({len(class_answer)} profiles)", class_answer),
        row("class known, new profile: + renderings + JSON body", class_body),
        row("warm: answer", warm_answer, WARM_TARGET_US),
        row("warm: + renderings + JSON body", warm_body, WARM_TARGET_US),
        row(f"varied mix, unseen class: JSON body ({len(mixed)})", unseen_body, UNSEEN_CLASS_TARGET_US),
        row("varied mix, unseen class: answer only (CDS, widget)", unseen_answer),
    ):
        print(line)  # noqa: T201
    floor_p50 = statistics.median(floor)
    print(  # noqa: T201
        f"  warm body over the floor: {statistics.median(warm_body) / floor_p50:.1f}x; "
        f"cold body over warm: {statistics.median(cold_body) / statistics.median(warm_body):.0f}x"
    )


if __name__ == "__main__":
    main()
