"""A real server in a subprocess on 127.0.0.1 (`ivig-cds serve`, or a module that serves like it), with its log."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

CONSOLE_SCRIPT = str(Path(sys.executable).with_name("ivig-cds"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A served process on a free port, with every line it logs collected by a reader thread."""

    url: str
    port: int
    log: list[str]
    pid: int

    def log_until(self, marker: str) -> list[str]:
        """The log so far, once a line containing `marker` has arrived (bounded wait for the reader thread)."""
        deadline = time.monotonic() + 10
        while not any(marker in line for line in self.log) and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.log)


def upgraded_database(env: dict[str, str]) -> dict[str, str]:
    """The environment with a database at the current schema, as `make run` prepares it: the given
    IVIG_CDS_DATABASE_URL, or a fresh SQLite file in a temporary directory."""
    if "IVIG_CDS_DATABASE_URL" not in env:
        folder = tempfile.mkdtemp(prefix="ivig-cds-served-")
        env = {**env, "IVIG_CDS_DATABASE_URL": f"sqlite:///{folder}/ivig-cds.sqlite3"}
    subprocess.run([CONSOLE_SCRIPT, "db", "upgrade"], env={**os.environ, **env}, check=True, capture_output=True)
    return env


@contextmanager
def served(command: Sequence[str] = (), env: dict[str, str] | None = None) -> Iterator[Server]:
    """Run `command` (default `ivig-cds serve`) with `--port` appended, on an upgraded database; wait for /healthz
    (90 s at most: under coverage on a busy machine, importing and proving the decision tables can take half a
    minute)."""
    port = free_port()
    argv = [*(command or [CONSOLE_SCRIPT, "serve", "--host", "127.0.0.1"]), "--port", str(port)]
    environment = {**os.environ, **upgraded_database(env or {})}
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    assert process.stdout is not None
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    running = Server(url=f"http://127.0.0.1:{port}", port=port, log=log, pid=process.pid)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{running.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)  # the server is still importing and loading the evidence
        else:
            pytest.fail(f"{argv[0]} did not answer /healthz within 90 s: {''.join(log)[-2000:]}")
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)
        process.stdout.close()
