"""Proofs already done: a decision table proven on its whole grid need not be proven again at the next start.

A proof is remembered under the SHA-256 of everything it depends on: the table file's bytes, the outputs it may
name, and the source of the code that compiles and proves it. Change any of them and the table is proven afresh.
The remembered proofs are empty files in one directory; when it cannot be written, every start proves again.
`ivig-cds evidence check` never reads them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from plugin.core.evidence import model
from plugin.core.rules import profile, table

# The modules whose code decides whether a table is sound (this file's caller, loading.py, adds itself).
PROVING_CODE = (table, profile, model)


def code_digest(*modules: object) -> str:
    """The SHA-256 of the given modules' source files, so a new checker invalidates every old proof."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(str(getattr(module, "__file__", ""))).read_bytes())
    return digest.hexdigest()


def proof_key(code: str, table_file: bytes, outputs: Iterable[str]) -> str:
    digest = hashlib.sha256(code.encode())
    digest.update(b"\0" + table_file + b"\0")
    digest.update("\n".join(sorted(outputs)).encode())
    return digest.hexdigest()


class ProofDirectory:
    """Remembered proofs, one empty file per key."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __contains__(self, key: str) -> bool:
        return (self.directory / key).is_file()

    def add(self, key: str) -> None:
        """Remember a proof; a directory that cannot be written only means the next start proves again."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".proof-")
            os.close(handle)
            os.replace(temporary, self.directory / key)
        except OSError:
            return
