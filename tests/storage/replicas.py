"""Several `ivig-cds serve` processes on one database, as a load balancer would see them, and the EHR's tokens."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from joserfc import jws
from joserfc.jwk import ECKey, KeySet

from tests.cds_hooks.support import ROOT, SERVICE_URL, chart, hook_request
from tests.storage.postgres import free_port

ISSUER = "https://ehr.example.org"
BASE = "https://cds.example.org"
KEY = ECKey.generate_key("P-256", parameters={"kid": "ehr-1"})


def token(path: str = SERVICE_URL) -> str:
    """A fresh client JWT for the service at `path` (its own jti, as an EHR signs one per request)."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": f"{BASE}{path}", "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return jws.serialize_compact({"alg": "ES256", "typ": "JWT", "kid": KEY.kid}, json.dumps(claims), KEY)


def bearer(path: str = SERVICE_URL) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(path)}"}


def replica_env(folder: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of every replica: one database, one issuer (its JWK Set in a file), one public URL."""
    jwks = folder / "ehr-jwks.json"
    jwks.write_text(json.dumps(KeySet([KEY]).as_dict(private=False)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVIG_CDS_")}
    return env | {
        "IVIG_CDS_EVIDENCE_DIR": str(ROOT / "evidence"),
        "IVIG_CDS_TEMPLATES_DIR": str(ROOT / "templates"),
        "IVIG_CDS_DATABASE_URL": database_url,
        "IVIG_CDS_PUBLIC_BASE_URL": BASE,
        "IVIG_CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: str(jwks)}),
        "IVIG_CDS_LOG_LEVEL": "WARNING",
        **extra,
    }


def command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("ivig-cds")), *args]


@dataclass
class Replica:
    """One `ivig-cds serve` on a free port; its output goes to a file beside the test's data."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, nothing finished that was not already committed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start(folder: Path, env: dict[str, str], *names: str) -> list[Replica]:
    """Start one replica per name (all at once: each spends its first seconds loading the evidence) and wait until
    every one answers /healthz."""
    replicas = []
    for name in names:
        port, log = free_port(), folder / f"{name}.log"
        with log.open("wb") as out:
            serve = command("serve", "--host", "127.0.0.1", "--port", str(port))
            process = subprocess.Popen(serve, env=env, stdout=out, stderr=out)
        replicas.append(Replica(process, f"http://127.0.0.1:{port}", log))
    deadline = time.monotonic() + 60  # generous: a shared CI machine under coverage is slow to import
    waiting = list(replicas)
    while waiting and time.monotonic() < deadline:
        replica = waiting[0]
        if replica.process.poll() is not None:
            for other in replicas:
                other.stop()
            raise AssertionError(f"a replica exited with {replica.process.returncode}: {replica.log.read_text()}")
        try:
            if replica.client.get("/healthz", timeout=1).status_code == 200:
                waiting.pop(0)
        except httpx.TransportError:
            time.sleep(0.1)
    if waiting:
        for other in replicas:
            other.stop()
        raise AssertionError("a replica did not answer /healthz within 60 s")
    return replicas


def patient_view(hook_instance: str) -> dict[str, Any]:
    """A patient-view call that gets one card (RPL on the problem list, NK 18 %, three losses)."""
    body = hook_request(chart(nkCells="nk-percent.json", obstetricHistory="obstetric-3-losses.json"))
    return body | {"hookInstance": hook_instance}


def feedback_on(card: str, n: int = 0) -> dict[str, Any]:
    return {
        "feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": f"2026-03-02T10:00:{n % 60:02d}Z"}]
    }
