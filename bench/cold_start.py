"""Cold start: seconds from spawning a fresh process to its first answer, ours beside bare baselines.

- `ivig-cds serve`: spawn to the first 200 of POST /v1/answer (polled every few milliseconds), beside a bare
  FastAPI app under uvicorn (bench/bare_start.py) to its first 200;
- `ivig-cds ask --format json` and `--format text`: the whole process, beside a bare CLI that parses the same
  flags and validates the same profile;
- `ivig-cds mcp` over stdio: spawn to the `initialize` result (and to the first `tools/call` result), beside the
  bare MCP servers of bench/mcp_start.py, whose measurement is reused as it is.

Every command runs BENCH_COLD_ROUNDS (default 5) times, interleaved round by round so load on the machine hits
each alike; medians and maxima are printed with the targets.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import mcp_start
from bench.processes import (
    BASE_ENV,
    IVIG_CDS,
    PYTHON,
    ROOT,
    START_TIMEOUT,
    free_port,
    serve_command,
    service_env,
    stop,
    uvicorn_command,
)
from bench.targets import PROFILE

ROUNDS = int(os.environ.get("BENCH_COLD_ROUNDS", "5"))
POLL = 0.005  # seconds between attempts while the server is not listening yet
FLAGS = ["--prior-pregnancy-losses", "3", "--nk-cell-percent", "14", "--ivig-start", "conception_cycle"]
SERVE_TARGET, MCP_TARGET, ASK_TARGET = 1.5, 1.0, 1.0
OURS_MCP = "ivig-cds mcp"


def first_answer(name: str, command: list[str], port: int, env: dict[str, str]) -> float:
    """Seconds from spawn until POST /v1/answer is answered 200; the process is stopped afterwards."""
    url = f"http://127.0.0.1:{port}/v1/answer"
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < START_TIMEOUT:
            try:
                response = httpx.post(url, json=PROFILE, timeout=START_TIMEOUT)
            except httpx.TransportError:
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited with status {process.returncode} before answering") from None
                time.sleep(POLL)
                continue
            if response.status_code != 200:
                raise SystemExit(f"{name}: POST /v1/answer answered {response.status_code}")
            return time.perf_counter() - start
        raise SystemExit(f"{name} did not answer within {START_TIMEOUT:.0f} s")
    finally:
        stop(process)


def serve_once(env: dict[str, str]) -> float:
    port = free_port()
    return first_answer("ivig-cds serve", serve_command(port), port, env)


def bare_serve_once() -> float:
    port = free_port()
    return first_answer("bare FastAPI", uvicorn_command("bench.bare_start:echo_app", port), port, BASE_ENV)


def whole_process(name: str, command: list[str], check: Callable[[str], bool]) -> float:
    """Seconds from spawn to exit of a command that must succeed and print what `check` accepts."""
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=BASE_ENV, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0 or not check(completed.stdout):
        raise SystemExit(f"{name} failed ({completed.returncode}): {completed.stderr[-1000:]}")
    return elapsed


def matched(stdout: str) -> bool:
    return bool(json.loads(stdout).get("status") == "matched")


def runs(serve_env: dict[str, str]) -> dict[str, Callable[[], float]]:
    """Each measured command by its label, the baseline after the commands it is compared with."""
    return {
        "ivig-cds serve -> first 200 POST /v1/answer": lambda: serve_once(serve_env),
        "bare FastAPI under uvicorn -> first 200": bare_serve_once,
        "ivig-cds ask --format json": lambda: whole_process(
            "ivig-cds ask", [IVIG_CDS, "ask", *FLAGS, "--format", "json"], matched
        ),
        "ivig-cds ask --format text": lambda: whole_process(
            "ivig-cds ask", [IVIG_CDS, "ask", *FLAGS, "--format", "text"], bool
        ),
        "bare CLI (argparse + PatientProfile)": lambda: whole_process(
            "bare CLI", [PYTHON, "-m", "bench.bare_start", *FLAGS], bool
        ),
    }


@dataclass
class Starts:
    """One stdio server's starts: seconds to initialize, seconds to the first tools/call, tools/list bytes."""

    inits: list[float] = field(default_factory=list)
    calls: list[float] = field(default_factory=list)
    listed: int = 0


def row(name: str, samples: list[float], beside: str = "") -> str:
    return f"  {name:56} {statistics.median(samples):7.3f} {max(samples):7.3f}   {beside}".rstrip()


def compared(ours: list[float], bare: list[float], bare_name: str, target: float) -> str:
    """Ours over the baseline (medians), the difference, and the verdict on ours' median against the target."""
    median, base = statistics.median(ours), statistics.median(bare)
    verdict = "meets" if median < target else "MISSES"
    return f"{median / base:.2f}x {bare_name} (+{median - base:.3f} s); target < {target:.1f} s: {verdict}"


def mcp_rows(mcp: dict[str, Starts]) -> list[str]:
    """Each stdio server's initialize and first tools/call; ours beside the baseline that initialized faster."""
    bare = min((name for name in mcp if name != OURS_MCP), key=lambda name: statistics.median(mcp[name].inits))
    lines = []
    for server, starts in mcp.items():
        beside = compared(starts.inits, mcp[bare].inits, bare, MCP_TARGET) if server == OURS_MCP else ""
        lines.append(row(f"{server} (stdio) -> initialize result", starts.inits, beside))
        lines.append(
            row(f"{server} (stdio) -> first tools/call result", starts.calls, f"tools/list {starts.listed:,} B")
        )
    return lines


def main() -> None:
    mcp = {server: Starts() for server in mcp_start.SERVERS}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as name:
        commands = runs(service_env(Path(name)))  # one database, upgraded once, for every start of serve
        samples: dict[str, list[float]] = {label: [] for label in commands}
        for _ in range(ROUNDS):
            for label, run in commands.items():
                samples[label].append(run())
            for server, (command, tool, arguments) in mcp_start.SERVERS.items():
                initialized, first_call, listed = mcp_start.one_start(command, tool, arguments)
                mcp[server].inits.append(initialized)
                mcp[server].calls.append(first_call)
                mcp[server].listed = listed
    serve, bare_serve, ask_json, ask_text, bare_cli = samples.values()
    labels = list(samples)
    print(f"cold start, {ROUNDS} fresh processes each, interleaved (seconds from spawn to the first answer):")  # noqa: T201
    print(f"  {'':56} {'median':>7} {'max':>7}   beside the baseline (medians)")  # noqa: T201
    lines = [
        row(labels[0], serve, compared(serve, bare_serve, "bare FastAPI", SERVE_TARGET)),
        row(labels[1], bare_serve),
        row(labels[2], ask_json, compared(ask_json, bare_cli, "bare CLI", ASK_TARGET)),
        row(labels[3], ask_text, compared(ask_text, bare_cli, "bare CLI", ASK_TARGET)),
        row(labels[4], bare_cli),
        *mcp_rows(mcp),
    ]
    print("\n".join(lines))  # noqa: T201


if __name__ == "__main__":
    main()
