"""The session keys: the first seals, every one opens, a retired key is named as such, a sealed value opens only on
its own row; and a key that cannot be one stops the start, naming the variable and never the value."""

from __future__ import annotations

import base64
import json
import os

import pytest

from plugin.config import ConfigError, settings_from
from plugin.web.sealing import RetiredKeyError, Sealer, UnreadableError

OLD, NEW = os.urandom(32), os.urandom(32)
ROW = b"chart-session\x00row-1"


def test_a_new_key_first_reads_what_the_previous_one_sealed_and_seals_with_the_new_one() -> None:
    sealed = Sealer([OLD]).seal(b"her chart", ROW)
    rotated = Sealer([NEW, OLD])
    assert rotated.open(sealed, ROW) == b"her chart"
    resealed = rotated.seal(b"her chart", ROW)
    assert Sealer([NEW]).open(resealed, ROW) == b"her chart"
    with pytest.raises(RetiredKeyError):
        Sealer([NEW]).open(sealed, ROW)  # the old key retired


def test_a_value_opens_only_on_its_own_row_and_unaltered() -> None:
    sealer = Sealer([NEW])
    sealed = sealer.seal(b"her chart", ROW)
    assert b"her chart" not in sealed and sealed != sealer.seal(b"her chart", ROW)  # a fresh nonce each time
    with pytest.raises(UnreadableError):
        sealer.open(sealed, b"chart-session\x00row-2")
    altered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(UnreadableError):
        sealer.open(altered, ROW)
    with pytest.raises(UnreadableError):
        sealer.open(b"", ROW)


def test_the_cookie_secrets_follow_the_keys_and_are_not_the_keys() -> None:
    secrets = Sealer([NEW, OLD]).cookie_secrets()
    assert len(secrets) == 2 and NEW not in secrets and OLD not in secrets
    assert secrets[-1] == Sealer([NEW]).cookie_secrets()[0]  # itsdangerous signs with the last


@pytest.mark.parametrize(
    "value",
    [
        json.dumps(["c2hvcnQta2V5LXRoYXQtaXMtc2VjcmV0"]),
        json.dumps(["not base64 at all, but secret!!"]),
        "a-bare-secret-string-not-a-list",
        json.dumps([base64.b64encode(NEW).decode(), base64.b64encode(NEW).decode()]),
    ],
    ids=["short", "not-base64", "not-json", "twice"],
)
def test_a_session_key_that_cannot_be_one_stops_the_start_naming_the_variable_not_the_value(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVIG_CDS_SESSION_KEYS", value)
    with pytest.raises(ConfigError) as refused:
        settings_from({"IVIG_CDS_SESSION_KEYS": value})
    message = str(refused.value)
    assert message.startswith("IVIG_CDS_SESSION_KEYS")
    assert value not in message and "secret" not in message.replace("secret strings", "")


def test_standard_and_url_safe_base64_keys_are_both_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    key = bytes([0xFB, 0xFF] * 16)
    for text in (base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode().rstrip("=")):
        monkeypatch.setenv("IVIG_CDS_SESSION_KEYS", json.dumps([text]))
        settings = settings_from({"IVIG_CDS_SESSION_KEYS": json.dumps([text])})
        assert [k.get_secret_value() for k in settings.session_keys] == [text]
