"""A FHIR response is read within its size limits, as received and once inflated, and parsed no later than asked."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from plugin.fhir.chart import DeadlinePassedError, parse_all
from plugin.fhir.search import BundleError, FhirLimits, ResponseTooLargeError, limited_body, read_page

LIMITS = FhirLimits(max_bytes=1000, max_decompressed=4000)
PAGE = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": []}).encode()


class Unread(httpx.AsyncByteStream):
    """A body that must never be read."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover


def body(content: bytes, **headers: str) -> bytes:
    response = httpx.Response(200, headers=headers, stream=httpx.ByteStream(content))
    return asyncio.run(limited_body(response, LIMITS))


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("", lambda data: data), ("gzip", gzip.compress), ("deflate", zlib.compress)],
)
def test_a_page_within_the_limits_is_read_whole_in_each_encoding(encoding: str, compress: object) -> None:
    assert callable(compress)
    assert body(compress(PAGE), **{"content-encoding": encoding}) == PAGE


def test_more_bytes_than_the_limit_are_cut_as_received() -> None:
    with pytest.raises(ResponseTooLargeError) as cut:
        body(b" " * 1001)
    assert (cut.value.setting, str(cut.value)) == (
        "max_fhir_response_bytes",
        "past IVIG_CDS_MAX_FHIR_RESPONSE_BYTES (1000 bytes)",
    )


def test_an_announced_length_past_the_limit_is_refused_unread() -> None:
    response = httpx.Response(200, headers={"content-length": "1001"}, stream=Unread())
    with pytest.raises(ResponseTooLargeError):
        asyncio.run(limited_body(response, LIMITS))


def test_a_small_gzip_reply_that_inflates_past_the_limit_is_cut() -> None:
    bomb = gzip.compress(b" " * 200_000)
    assert len(bomb) < LIMITS.max_bytes
    with pytest.raises(ResponseTooLargeError) as cut:
        body(bomb, **{"content-encoding": "gzip"})
    assert cut.value.setting == "max_fhir_decompressed_bytes"


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip"])
def test_an_encoding_not_asked_for_is_a_failed_read(encoding: str) -> None:
    with pytest.raises(BundleError, match="unsupported Content-Encoding"):
        body(PAGE, **{"content-encoding": encoding})


def test_a_corrupt_gzip_body_is_a_failed_read() -> None:
    with pytest.raises(BundleError, match="corrupt compressed body"):
        body(b"not gzip at all", **{"content-encoding": "gzip"})


def test_parsing_stops_once_the_deadline_has_passed() -> None:
    condition = {"resourceType": "Condition", "code": {"text": "x"}, "subject": {"reference": "Patient/p"}}
    assert len(parse_all([condition], time.monotonic() + 60).models) == 1
    with pytest.raises(DeadlinePassedError):
        parse_all([condition], time.monotonic() - 1)
    with pytest.raises(DeadlinePassedError):
        read_page(json.dumps({"resourceType": "Bundle", "entry": [{"resource": condition}]}).encode(), 0.0)
