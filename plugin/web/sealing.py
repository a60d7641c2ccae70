"""What the service keeps about her between requests, sealed at rest: AES-256-GCM (the `cryptography` package) under
the keys of IVIG_CDS_SESSION_KEYS, the first sealing and every one opening, so keys rotate without ending a session.

A sealed value is a version byte, the id of the key that sealed it (8 bytes of a digest of the key: it names the key
without revealing it), a random 96-bit nonce, and the ciphertext with its tag. The id tells a value sealed with a key
no longer configured (`RetiredKeyError`) from one altered or sealed elsewhere (`UnreadableError`). The associated
data binds each value to its row (its kind, its key and the columns kept beside it in clear), so a sealed value
copied onto another launch's row, or given another expiry, does not open.

The same keys sign the browser cookies when IVIG_CDS_SESSION_SECRET is not set (a secret derived from each, so the
signing and the sealing never share a key), which is why one setting is all several replicas need to share.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from plugin.config import SESSION_KEY_BYTES, decode_key
from plugin.web.metrics import MULTIPROCESS_ENV

log = logging.getLogger(__name__)

VERSION = b"\x01"
KEY_ID_BYTES = 8
NONCE_BYTES = 12
HEADER_BYTES = len(VERSION) + KEY_ID_BYTES + NONCE_BYTES


class RetiredKeyError(ValueError):
    """The value was sealed with a key that is not configured any more (retired, or a per-process key of an earlier
    start): it can never be opened here."""


class UnreadableError(ValueError):
    """The value is not one this service sealed for this row, or it was altered."""


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"ivig-cds session key id\x00" + key).digest()[:KEY_ID_BYTES]


class Sealer:
    """Seals with the first key, opens with any; `configured` is False for a random key made at start-up."""

    def __init__(self, keys: Sequence[bytes], *, configured: bool = True) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self.configured = configured
        self._keys = [(key_id(key), AESGCM(key)) for key in keys]
        self._by_id = dict(self._keys)
        self._cookie_secrets = [hmac.new(key, b"ivig-cds cookie signing", hashlib.sha256).digest() for key in keys]

    def seal(self, data: bytes, context: bytes) -> bytes:
        ident, cipher = self._keys[0]
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + ident + nonce + cipher.encrypt(nonce, data, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """Raises:
        RetiredKeyError: sealed with a key not configured here.
        UnreadableError: altered, truncated, or sealed for another row.
        """
        if len(sealed) <= HEADER_BYTES or sealed[:1] != VERSION:
            raise UnreadableError("not a sealed value")
        ident = sealed[1 : 1 + KEY_ID_BYTES]
        nonce = sealed[1 + KEY_ID_BYTES : HEADER_BYTES]
        cipher = self._by_id.get(ident)
        if cipher is None:
            raise RetiredKeyError("sealed with a key that is not configured")
        try:
            return cipher.decrypt(nonce, sealed[HEADER_BYTES:], context)
        except InvalidTag:
            raise UnreadableError("altered, or sealed for another row") from None

    def cookie_secrets(self) -> list[bytes]:
        """Secrets for itsdangerous, derived from the keys: it signs with the last and accepts any."""
        return list(reversed(self._cookie_secrets))


def sealer_from(configured: Sequence[str]) -> Sealer:
    """The configured keys (already checked by the settings), or one random key for this process, announced: what it
    seals cannot be opened by another worker or replica, nor after a restart."""
    if configured:
        return Sealer([decode_key(key) for key in configured])
    log.warning(
        "IVIG_CDS_SESSION_KEYS is not set: SMART launches and chart sessions are sealed with a random key made at "
        "start-up, so another worker or replica cannot open them and a restart ends them. Set it for a deployment."
    )
    return Sealer([os.urandom(SESSION_KEY_BYTES)], configured=False)


def several_processes(database_url: str) -> bool:
    """Whether this process may share its SMART launches with others: a database other than SQLite (PostgreSQL is
    the one replicas on several machines share), or workers (`serve --workers N` sets the multiprocess metrics
    directory for them, as any server running several worker processes must)."""
    return not database_url.startswith("sqlite") or bool(os.environ.get(MULTIPROCESS_ENV))
