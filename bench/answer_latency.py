"""Latency of an answer, against a bare FastAPI endpoint measured in the same run (these machines are noisy).

Prints per-request medians and 95th percentiles for: the pure core (`answer`), core + rendering
(`respond`), POST /v1/answer through the ASGI stack, and a bare FastAPI echo endpoint with a pydantic body
as the baseline, plus the overhead of the plugin over that baseline.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from plugin.app import create_app
from plugin.core.plugin import load_plugin
from plugin.core.profile import PROFILE_EXAMPLE, PatientProfile

ROUNDS = 2000


class Echo(BaseModel):
    nk_cell_percent: float | None = None


def timings(call: Callable[[], object], rounds: int = ROUNDS) -> list[float]:
    for _ in range(50):  # warm-up: imports, template compilation, caches
        call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def summary(name: str, samples: list[float]) -> float:
    median = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[-1]
    print(f"{name:<38} median {median * 1e6:9.1f} us   p95 {p95 * 1e6:9.1f} us")  # noqa: T201
    return median


def main() -> None:
    baseline_app = FastAPI()

    @baseline_app.post("/echo")
    def echo(body: Echo) -> Echo:
        return body

    plugin_app = create_app()
    plugin = load_plugin(plugin_app.state.settings)
    profile = PatientProfile.model_validate({**PROFILE_EXAMPLE, "ivig_start": "conception_cycle"})
    with TestClient(baseline_app) as baseline, TestClient(plugin_app) as client:
        base = summary(
            "baseline: bare FastAPI POST /echo", timings(lambda: baseline.post("/echo", json=PROFILE_EXAMPLE))
        )
        http = summary("POST /v1/answer", timings(lambda: client.post("/v1/answer", json=PROFILE_EXAMPLE)))
    summary("core: answer(profile)", timings(lambda: plugin.answer(profile)))
    summary("core + render: respond(profile)", timings(lambda: plugin.respond(profile)))
    print(f"POST /v1/answer costs {http / base:.2f}x the baseline ({(http - base) * 1e6:.0f} us more per request)")  # noqa: T201


if __name__ == "__main__":
    main()
