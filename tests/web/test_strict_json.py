"""The strict-JSON check walks a body only when it may hold something to refuse: it refuses exactly what walking
every body refuses, naming the same field, over random documents with every kind of refused value in them."""

from __future__ import annotations

import json
import string
from typing import Any
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.web import strict_json
from plugin.web.strict_json import Refusal, check_json

MAX_DEPTH = 6
keys = st.text(alphabet=string.ascii_lowercase + "\x01\x7f\ud800é", min_size=1, max_size=3)
leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(10**25), 10**25)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=string.ascii_letters + "\x00\x1f\x7f\ud83d\t\n é", max_size=6)
)
documents = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3), max_leaves=25
)
# Text the encoder cannot write: a duplicate key, NaN and an overflowing number, spliced into an encoded object.
splices = st.sampled_from(['"a": 1, "a": 2', '"n": NaN', '"n": 1e999', '"n": -Infinity', '"n": 1.5', '"d": 1'])


def refusal(body: bytes, always_walk: bool = False) -> tuple[str, str] | None:
    """The code and field check_json refuses the body with, or None; `always_walk` walks whatever the parse saw."""
    try:
        if always_walk:
            with patch.object(strict_json, "deeper_than", return_value=True):
                check_json(body, MAX_DEPTH)
        else:
            check_json(body, MAX_DEPTH)
    except Refusal as exc:
        return exc.code, exc.field
    return None


@settings(max_examples=400, deadline=None, derandomize=True)
@given(document=documents, splice=splices, where=st.integers(0, 2))
def test_the_check_refuses_what_walking_every_body_refuses(document: Any, splice: str, where: int) -> None:
    wrapped = {"x": document, "y": [document]}
    encoded = json.dumps(wrapped, ensure_ascii=where == 0)
    body = (encoded[:-1] + ", " + splice + "}") if where == 2 else encoded
    assert refusal(body.encode("utf-8", "surrogatepass"), False) == refusal(body.encode("utf-8", "surrogatepass"), True)


def test_a_plain_body_is_not_walked_and_a_deep_one_is_refused_where_it_is_too_deep() -> None:
    with patch.object(strict_json, "walk") as walked:
        check_json(json.dumps({"a": [1, 2.5, "é", {"b": None}]}, ensure_ascii=False).encode(), MAX_DEPTH)
    assert not walked.called
    deep: Any = 1
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert refusal(json.dumps({"a": deep}).encode()) == ("request.too_deep", "a" + "[0]" * (MAX_DEPTH - 1))
