"""Server subprocesses for the benchmarks: a free port, a start that waits until the server answers, a stop that
always happens, and the resident memory the kernel reports for the process.

Every server runs as its own process, as in production, so the load generator and the bench never share its
interpreter; the `served` context manager stops it even when the bench fails half-way.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
IVIG_CDS = str(Path(sys.executable).with_name("ivig-cds"))
# The checkout's evidence and templates, as bench/mcp_start.py and the tests use them.
BASE_ENV = {
    **os.environ,
    "IVIG_CDS_EVIDENCE_DIR": str(ROOT / "evidence"),
    "IVIG_CDS_TEMPLATES_DIR": str(ROOT / "templates"),
}
START_TIMEOUT = 90.0  # seconds: a loaded 2-core machine has taken over 30 s to start the service under coverage


def free_port() -> int:
    """A port nothing listens on now: the kernel picks it for a socket bound to port 0."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(folder: Path) -> dict[str, str]:
    """The environment `ivig-cds serve` runs with here: a fresh SQLite database in `folder`, upgraded as
    `ivig-cds db upgrade` does, and CDS Hooks calls accepted without a client JWT (loopback only)."""
    env = {
        **BASE_ENV,
        "IVIG_CDS_DATABASE_URL": f"sqlite:///{folder / 'ivig-cds.sqlite3'}",
        "IVIG_CDS_ALLOW_UNAUTHENTICATED": "1",
    }
    subprocess.run([IVIG_CDS, "db", "upgrade"], env=env, check=True, capture_output=True)
    return env


def uvicorn_command(factory: str, port: int) -> list[str]:
    """A bare app from bench.bare_apps under uvicorn's own CLI: one worker, no access log."""
    return [
        PYTHON,
        *("-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port)),
        *("--log-level", "warning", "--no-access-log"),
    ]


def serve_command(port: int) -> list[str]:
    return [IVIG_CDS, "serve", "--host", "127.0.0.1", "--port", str(port)]


@dataclass
class Served:
    name: str
    url: str
    process: subprocess.Popen[bytes]


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn shuts down gracefully), then SIGKILL if it has not exited within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_serving(served: Served, path: str, timeout: float = START_TIMEOUT) -> None:
    """Poll `path` until the server answers anything at all over HTTP (a bare app's 404 counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise SystemExit(f"{served.name} exited with status {served.process.returncode} before serving")
        try:
            httpx.get(served.url + path, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"{served.name} did not answer {path} within {timeout:.0f} s")


@contextmanager
def served(
    name: str,
    command: Sequence[str],
    port: int,
    env: dict[str, str] | None = None,
    log: IO[bytes] | None = None,
    ready_path: str = "/",
) -> Iterator[Served]:
    """Run `command` (listening on `port`) until the block ends; its output goes to `log` (or nowhere)."""
    process = subprocess.Popen(
        list(command),
        cwd=ROOT,
        env=env or BASE_ENV,
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )
    try:
        running = Served(name=name, url=f"http://127.0.0.1:{port}", process=process)
        wait_until_serving(running, ready_path)
        yield running
    finally:
        stop(process)


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB from /proc/<pid>/status: resident now, and the peak resident so far."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]
