"""Runs the real load generator, wrk (Debian's /usr/bin/wrk 4.1), and reads its `--latency` report.

wrk is a separate C process with its own event loop, so it can keep 32 connections busy without the Python
client's overhead hiding the server's; a Lua script gives it the method, headers and body of each request.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.mix import Mix

WRK = "wrk"
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
PERCENTILE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
REQUESTS_PER_SEC = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.M)
SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


@dataclass(frozen=True)
class WrkResult:
    requests_per_sec: float
    requests: int
    p50: float  # seconds
    p99: float
    socket_errors: int  # connect, read, write and timeout errors together
    non_2xx: int


def require_wrk() -> str:
    """The wrk executable's path; exits with a clear message when it is not installed."""
    path = shutil.which(WRK)
    if path is None:
        raise SystemExit("bench: wrk is not installed (the HTTP benchmark needs it): apt-get install wrk")
    return path


def lua_string(text: str) -> str:
    """A Lua long-bracket literal holding `text` unchanged, at a level that does not occur in it."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def lua_script(method: str, headers: Mapping[str, str], body_file: Path | None) -> str:
    """wrk's request: the method and headers set on its global table, the body read once from a file."""
    lines = [f"wrk.method = {lua_string(method)}"]
    # The spaces matter: `t[[[x]]]` would read as a call of `t` with a long string, not an index.
    lines += [f"wrk.headers[ {lua_string(name)} ] = {lua_string(value)}" for name, value in headers.items()]
    if body_file is not None:
        lines += [
            f'local file = assert(io.open({lua_string(str(body_file))}, "rb"))',
            'wrk.body = file:read("*a")',
            "file:close()",
        ]
    return "\n".join(lines) + "\n"


def mix_script(method: str, headers: Mapping[str, str], mix: Mix, rows_file: Path, into: str, seed: int) -> str:
    """wrk's request for a mix: each request takes one row of `rows_file` at random (tab-separated values, a row a
    line) and joins it with the mix's parts, into the body or the path (`into`); the same seed, the same sequence."""
    script = lua_script(method, headers, None)
    script += f"local parts = {{{', '.join(lua_string(part) for part in mix.parts)}}}\n"
    script += f"local into_body = {'true' if into == 'body' else 'false'}\n"
    script += f"local rows = {{}}\nfor line in io.lines({lua_string(str(rows_file))}) do\n"
    script += "  local row = {}\n  for value in (line .. '\\t'):gmatch('(.-)\\t') do row[#row + 1] = value end\n"
    script += "  rows[#rows + 1] = row\nend\n"
    script += f"math.randomseed({seed})\n"
    script += """request = function()
  local row = rows[math.random(#rows)]
  local pieces = {parts[1]}
  for i = 1, #row do
    pieces[#pieces + 1] = row[i]
    pieces[#pieces + 1] = parts[i + 1]
  end
  local text = table.concat(pieces)
  if into_body then
    return wrk.format(nil, nil, nil, text)
  end
  return wrk.format(nil, text, nil, nil)
end
"""
    return script


def write_rows(mix: Mix, path: Path) -> None:
    for row in mix.rows:
        if any("\t" in value or "\n" in value for value in row):
            raise ValueError("a value of the mix holds a tab or a line break")
    path.write_text("".join("\t".join(row) + "\n" for row in mix.rows), encoding="utf-8")


def seconds(value: str, unit: str) -> float:
    return float(value) * UNITS[unit]


def parse(output: str) -> WrkResult:
    """The figures of one `wrk --latency` report; raises ValueError when the report lacks one."""
    percentiles = {int(p): seconds(v, u) for p, v, u in PERCENTILE.findall(output)}
    rate = REQUESTS_PER_SEC.search(output)
    total = TOTAL.search(output)
    if rate is None or total is None or 50 not in percentiles or 99 not in percentiles:
        raise ValueError(f"not a wrk --latency report:\n{output}")
    errors = SOCKET_ERRORS.search(output)
    non_2xx = NON_2XX.search(output)
    return WrkResult(
        requests_per_sec=float(rate.group(1)),
        requests=int(total.group(1)),
        p50=percentiles[50],
        p99=percentiles[99],
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def run(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    duration: str = "5s",
    connections: int = 32,
    threads: int = 1,
    timeout: str = "10s",
    mix: Mix | None = None,
    into: str = "body",
    seed: int = 1,
) -> WrkResult:
    """One wrk run against `url`; a request slower than `timeout` counts as a socket error, not a latency. With
    `mix`, each request is one of the mix's at random (into the body, or the path after `url`'s origin)."""
    wrk = require_wrk()
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        script = Path(folder) / "request.lua"
        if mix is not None:
            rows = Path(folder) / "rows.tsv"
            write_rows(mix, rows)
            script.write_text(mix_script(method, headers or {}, mix, rows, into, seed))
        else:
            body_file = None
            if body is not None:
                body_file = Path(folder) / "body"
                body_file.write_bytes(body)
            script.write_text(lua_script(method, headers or {}, body_file))
        command = [
            wrk,
            *("-t", str(threads), "-c", str(connections), "-d", duration, "--timeout", timeout),
            *("--latency", "-s", str(script), url),
        ]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
    # wrk reports a broken Lua script on stderr and then runs anyway, with its default GET: fail instead.
    if completed.returncode != 0 or completed.stderr.strip():
        raise SystemExit(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    return parse(completed.stdout)
