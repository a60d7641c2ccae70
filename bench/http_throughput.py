"""HTTP throughput and latency under load, `ivig-cds serve` beside bare apps returning the same bytes (wrk).

First the varied mix (`bench/mix.py`): 20,000 distinct profiles for POST /v1/answer, the widget and the MCP answer
tool, 20,000 distinct prefetch bundles for CDS Hooks, each request one of them at random (a fresh seed each run,
the same seed for ours and its baselines within a round). Its baselines are bare apps returning our answer to the
mix's first request; the answer cache's hit rate on the mix is read from our /metrics around each of our runs.
Then the warm-cache case: one profile repeated, as before.

Our service runs as the real `ivig-cds serve` subprocess (one uvicorn worker, a temporary SQLite database, CDS
Hooks calls accepted without a JWT). For each door its baselines are bare apps under uvicorn in their own
processes that validate the same request and return the response our service gave (fetched once first, with
its content type): a `def` and an `async def` FastAPI endpoint, or a bare MCP SDK server. Rounds interleave ours
and the baselines, so a burst of other work on the machine hits all of them alike; each figure is the median
over rounds, with its range, and ours is compared with the faster baseline. Afterwards: the resident memory of
each server, and what our service logged under load beyond the one access line per request.

Environment: BENCH_MIX_DURATION (wrk -d on the mix, default 8s), BENCH_MIX_SIZE (20000), BENCH_DURATION (wrk -d,
default 4s), BENCH_CONNECTIONS (-c, 32), BENCH_THREADS (-t, 1),
BENCH_ROUNDS (3), BENCH_WARMUP (wrk -d of one warm-up run per server and door, 1s).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import tempfile
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import wrk
from bench.bare_mcp import ANSWER_TOOL, MCP_PATH
from bench.figures import kib, ratio_line, spread
from bench.mix import SIZE, Mix, answer_mix, cds_mix, mcp_mix, widget_mix
from bench.processes import Served, free_port, memory_kib, serve_command, served, service_env, uvicorn_command
from bench.targets import MCP_HEADERS, TARGETS, Target

DURATION = os.environ.get("BENCH_DURATION", "4s")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "1"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARMUP = os.environ.get("BENCH_WARMUP", "1s")
MIX_DURATION = os.environ.get("BENCH_MIX_DURATION", "8s")
MIX_SIZE = int(os.environ.get("BENCH_MIX_SIZE", str(SIZE)))
OURS = "ivig-cds serve"
BARE = {
    "bare sync": "bench.bare_apps:sync_app",
    "bare async": "bench.bare_apps:async_app",
    "bare mcp": "bench.bare_mcp:mcp_app",
}
MIX_BARE = {
    "bare sync (mix)": "bench.bare_apps:sync_app",
    "bare async (mix)": "bench.bare_apps:async_app",
    "bare mcp (mix)": "bench.bare_mcp:mcp_app",
}
FASTAPI_MIX_BARE = ("bare sync (mix)", "bare async (mix)")
# Throughput ours / faster baseline must reach on the mix (p99 ours / faster baseline must stay within P99_TARGET).
THROUGHPUT_TARGETS = {"answer": 0.8, "cds": 0.3, "widget": 0.7}
P99_TARGET = 2.0
HITS = re.compile(r'^ivig_cds_answer_cache_lookups_total\{result="(hit|miss)"\} ([\d.e+]+)$', re.M)


@dataclass(frozen=True)
class MixTarget:
    """One door on the mix: each request the mix's parts and one row, into the body or the path."""

    name: str  # also the file name of the bare apps' recorded response
    label: str
    method: str
    path: str
    headers: dict[str, str]
    mix: Mix
    into: str  # "body" or "path"
    bare: tuple[str, ...] = FASTAPI_MIX_BARE  # the baselines it is compared with (names in MIX_BARE)

    def first(self) -> Target:
        """The mix's first request, as a single target (what the baselines answer)."""
        text = self.mix.request(0)
        if self.into == "body":
            return Target(self.name, self.label, self.method, self.path, self.bare, self.headers, text.encode())
        return Target(self.name, self.label, self.method, text, self.bare, self.headers)

    def nth(self, index: int) -> Target:
        text = self.mix.request(index)
        if self.into == "body":
            return Target(self.name, self.label, self.method, self.path, (), self.headers, text.encode())
        return Target(self.name, self.label, self.method, text, (), self.headers)


def mix_targets(size: int) -> tuple[MixTarget, ...]:
    json_type = {"Content-Type": "application/json"}
    return (
        MixTarget("answer", "POST /v1/answer, varied mix", "POST", "/v1/answer", json_type, answer_mix(size), "body"),
        MixTarget(
            "cds",
            "CDS Hooks patient-view with prefetch, varied mix",
            "POST",
            "/cds-services/ivig-rpl-evidence",
            json_type,
            cds_mix(size),
            "body",
        ),
        MixTarget("widget", "GET /widget?..., varied mix", "GET", "", {}, widget_mix(size), "path"),
        MixTarget(
            "mcp",
            f"POST {MCP_PATH} tools/call {ANSWER_TOOL}, varied mix",
            "POST",
            MCP_PATH,
            MCP_HEADERS,
            mcp_mix(size),
            "body",
            ("bare mcp (mix)",),
        ),
    )


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


def request(base_url: str, target: Target) -> Response:
    answered = httpx.request(
        target.method, base_url + target.path, headers=target.headers, content=target.body, timeout=30
    )
    return Response(answered.status_code, answered.headers.get("content-type", ""), answered.content)


def record_responses(ours: Served, folder: Path, targets: tuple[Target, ...] = TARGETS) -> dict[str, Response]:
    """Fetch each door's answer once from our service and write it where the bare apps read it."""
    responses = {}
    for target in targets:
        response = request(ours.url, target)
        if response.status != 200:
            raise SystemExit(f"{OURS}: {target.label} answered {response.status}: {response.body[:500]!r}")
        (folder / f"{target.name}.body").write_bytes(response.body)
        (folder / f"{target.name}.type").write_text(response.content_type)
        responses[target.name] = response
    return responses


def check_baselines(
    servers: dict[str, Served], recorded: dict[str, Response], targets: tuple[Target, ...] = TARGETS
) -> list[str]:
    """Each baseline must answer 200 with our bytes and content type; returns a line per door saying so."""
    lines = []
    for target in targets:
        ours = recorded[target.name]
        for name in target.bare:
            got = request(servers[name].url, target)
            if got.status != 200 or got.content_type != ours.content_type:
                raise SystemExit(f"{name}: {target.label} answered {got.status} {got.content_type!r}")
            if got.body != ours.body:
                raise SystemExit(f"{name}: {target.label} did not return our {len(ours.body)} bytes")
        lines.append(f"  {target.label}: {len(ours.body):,} B {ours.content_type}, the same bytes from each baseline")
    return lines


def load(server: Served, target: Target, duration: str) -> wrk.WrkResult:
    return wrk.run(
        server.url + target.path,
        method=target.method,
        headers=target.headers,
        body=target.body,
        duration=duration,
        connections=CONNECTIONS,
        threads=THREADS,
    )


def check_mix(ours: Served, target: MixTarget, count: int = 40) -> str:
    """`count` requests spread over the mix, each answered 200 by our service; their sizes."""
    sizes = []
    for index in range(0, len(target.mix.rows), max(1, len(target.mix.rows) // count)):
        response = request(ours.url, target.nth(index))
        if response.status != 200:
            raise SystemExit(f"{OURS}: {target.label} #{index} answered {response.status}: {response.body[:300]!r}")
        sizes.append(len(response.body))
    return f"  {target.label}: {len(sizes)} requests of the mix answered 200, {min(sizes):,}-{max(sizes):,} B"


def cache_lookups(ours: Served) -> tuple[float, float]:
    """Our answer cache's hits and misses so far, from /metrics."""
    text = httpx.get(ours.url + "/metrics", timeout=30).text
    found = dict(HITS.findall(text))
    return float(found.get("hit", 0)), float(found.get("miss", 0))


def load_mix(server: Served, target: MixTarget, duration: str, seed: int) -> wrk.WrkResult:
    return wrk.run(
        server.url + target.path,
        method=target.method,
        headers=target.headers,
        duration=duration,
        connections=CONNECTIONS,
        threads=THREADS,
        mix=target.mix,
        into=target.into,
        seed=seed,
    )


def measure_mix(
    servers: dict[str, Served], targets: tuple[MixTarget, ...]
) -> tuple[dict[tuple[str, str], list[wrk.WrkResult]], dict[str, tuple[float, float]]]:
    """Like `measure`, on the mix: each round a fresh seed, the same for ours and its baselines. Also our cache's
    hits and misses during our runs, per door (the warm-up's not counted)."""
    for target in targets:
        for name in (OURS, *target.bare):
            load_mix(servers[name], target, WARMUP, seed=1)
    results: dict[tuple[str, str], list[wrk.WrkResult]] = {}
    lookups: dict[str, tuple[float, float]] = {}
    for round_number in range(ROUNDS):
        for target in targets:
            names = [OURS, *target.bare]
            turn = round_number % len(names)
            for name in names[turn:] + names[:turn]:
                before = cache_lookups(servers[OURS]) if name == OURS else (0.0, 0.0)
                result = load_mix(servers[name], target, MIX_DURATION, seed=2 + round_number)
                results.setdefault((target.name, name), []).append(result)
                if name == OURS:
                    after = cache_lookups(servers[OURS])
                    hits, misses = lookups.get(target.name, (0.0, 0.0))
                    lookups[target.name] = (hits + after[0] - before[0], misses + after[1] - before[1])
    return results, lookups


def measure(servers: dict[str, Served]) -> dict[tuple[str, str], list[wrk.WrkResult]]:
    """ROUNDS rounds; in each, every door against ours and its baselines, the order turned by one each round."""
    for target in TARGETS:
        for name in (OURS, *target.bare):
            load(servers[name], target, WARMUP)
    results: dict[tuple[str, str], list[wrk.WrkResult]] = {}
    for round_number in range(ROUNDS):
        for target in TARGETS:
            names = [OURS, *target.bare]
            turn = round_number % len(names)
            for name in names[turn:] + names[:turn]:
                results.setdefault((target.name, name), []).append(load(servers[name], target, DURATION))
    return results


def our_log(path: Path, offset: int) -> list[str]:
    """What our service logged from `offset` on beyond a 200 access line: other statuses, warnings or worse."""
    statuses: Counter[tuple[str, int]] = Counter()
    levels: Counter[tuple[str, str]] = Counter()
    with path.open("rb") as file:
        file.seek(offset)
        text = file.read().decode(errors="replace")
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            levels["unparsed", line[:120]] += 1
            continue
        if entry.get("logger") == "plugin.access":
            if entry.get("status") != 200:
                statuses[str(entry.get("route")), int(entry.get("status", 0))] += 1
        elif entry.get("level") not in ("INFO", "DEBUG"):
            levels[str(entry.get("level")), str(entry.get("message"))[:120]] += 1
    lines = [f"  {count} x {route} answered {status}" for (route, status), count in sorted(statuses.items())]
    lines += [f"  {count} x {level}: {message}" for (level, message), count in sorted(levels.items())]
    return lines or ["  nothing: every request answered 200, no warning or error"]


def door_report(
    target: Target | MixTarget,
    results: dict[tuple[str, str], list[wrk.WrkResult]],
    bare: tuple[str, ...],
    targeted: bool,
) -> list[str]:
    lines = [f"{target.label}"]
    lines.append(
        f"  {'server':16} {'req/s median [range]':>26} {'p50 ms':>8} {'p99 ms median [range]':>26} {'errors':>7}"
    )
    for name in (OURS, *bare):
        runs = results[target.name, name]
        rates = [r.requests_per_sec for r in runs]
        p99s = [r.p99 * 1000 for r in runs]
        errors = sum(r.socket_errors + r.non_2xx for r in runs)
        lines.append(
            f"  {name:16} {spread(rates, '.0f'):>26} {statistics.median(r.p50 for r in runs) * 1000:8.1f}"
            f" {spread(p99s, '.1f'):>26} {errors:>7}"
        )
    faster = max(bare, key=lambda name: statistics.median(r.requests_per_sec for r in results[target.name, name]))
    ours, baseline = results[target.name, OURS], results[target.name, faster]
    lines.append(
        ratio_line(
            f"ours / faster baseline ({faster}): throughput",
            [r.requests_per_sec for r in ours],
            [r.requests_per_sec for r in baseline],
            at_least=THROUGHPUT_TARGETS.get(target.name) if targeted else None,
        )
    )
    p99_target = P99_TARGET if targeted and target.name == "answer" else None
    lines.append(ratio_line("p99", [r.p99 for r in ours], [r.p99 for r in baseline], at_most=p99_target))
    return lines


def hit_rate(hits: float, misses: float) -> str:
    total = hits + misses
    share = f"{hits / total:.1%}" if total else "no lookups"
    return f"  answer cache on the mix: {share} hits ({hits:,.0f} hits, {misses:,.0f} misses over our runs)"


def main() -> None:
    wrk.require_wrk()
    with tempfile.TemporaryDirectory(prefix="bench-http-") as name, ExitStack() as stack:
        folder = Path(name)
        log_path = folder / "ivig-cds-serve.log"
        log = stack.enter_context(log_path.open("wb"))
        port = free_port()
        servers = {
            OURS: stack.enter_context(served(OURS, serve_command(port), port, service_env(folder), log, "/healthz"))
        }
        mixes = mix_targets(MIX_SIZE)
        mixed = [check_mix(servers[OURS], target) for target in mixes]
        firsts = tuple(target.first() for target in mixes)
        mix_responses = folder / "mix-responses"
        mix_responses.mkdir()
        mix_recorded = record_responses(servers[OURS], mix_responses, firsts)
        responses = folder / "responses"
        responses.mkdir()
        recorded = record_responses(servers[OURS], responses)
        for bare_apps, folder_of in ((BARE, responses), (MIX_BARE, mix_responses)):
            env = {**os.environ, "BENCH_RESPONSES": str(folder_of)}
            for bare, factory in bare_apps.items():
                port = free_port()
                servers[bare] = stack.enter_context(served(bare, uvicorn_command(factory, port), port, env))
        checked = check_baselines(servers, mix_recorded, firsts) + check_baselines(servers, recorded)
        offset = log_path.stat().st_size  # start-up and the checks above are not load
        mix_results, lookups = measure_mix(servers, mixes)
        results = measure(servers)
        memory = {name: memory_kib(server.process.pid) for name, server in servers.items()}
        print(  # noqa: T201
            f"The varied mix: {MIX_SIZE:,} distinct requests per door, seeded, one at random per request; "
            f"wrk -t{THREADS} -c{CONNECTIONS} -d{MIX_DURATION} --latency; baselines return our answer to the "
            "mix's first request"
        )
        print("\n".join(mixed))  # noqa: T201
        print("responses compared:")  # noqa: T201
        print("\n".join(checked))  # noqa: T201
        for mix_target in mixes:
            print("\n".join(door_report(mix_target, mix_results, mix_target.bare, targeted=True)))  # noqa: T201
            print(hit_rate(*lookups.get(mix_target.name, (0.0, 0.0))))  # noqa: T201
        print(  # noqa: T201
            "Warm cache (one profile repeated): "
            f"HTTP load with wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION} --latency on 127.0.0.1, one uvicorn "
            f"worker per server; {ROUNDS} rounds, ours and the baselines interleaved (median [min-max] over rounds; "
            "errors: wrk's socket errors and non-2xx responses, all rounds)"
        )
        for target in TARGETS:
            print("\n".join(door_report(target, results, target.bare, targeted=False)))  # noqa: T201
        print("resident memory after the load (VmRSS, peak VmHWM):")  # noqa: T201
        ours_rss = memory[OURS][0]
        for server_name, (rss, peak) in memory.items():
            beside = "" if server_name == OURS else f"   ours / this: {ours_rss / rss:.2f}x"
            print(f"  {server_name:16} {kib(rss):>10} (peak {kib(peak)}){beside}")  # noqa: T201
        print(f"{OURS} logged under load, beyond 200 access lines:")  # noqa: T201
        print("\n".join(our_log(log_path, offset)))  # noqa: T201


if __name__ == "__main__":
    main()
