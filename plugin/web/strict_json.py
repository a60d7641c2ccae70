"""Strict JSON: what `json.loads` lets through but no door should ever see, refused naming where it is.

NaN, Infinity, -Infinity and numbers that overflow to infinity (1e309), integers longer than any count the
service reads, duplicate keys (which would silently take the last), lone surrogates (which cannot be encoded
back), control characters other than tab, newline and carriage return, and nesting deeper than the limit.
Offending values are replaced by markers while parsing, then found in one walk, so the refusal names the field's
path (`prefetch.x`, `feedback[2].card`) and never its value. The walk runs only when the parse saw something to
refuse, the text could hold a refused character, or the nesting may be too deep: a body a door may parse costs
the parse and a count of its containers' depth, not a walk building every path.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Longer than any integer the service reads (FHIR integers are 32-bit), far below Python's 4,300-digit limit.
MAX_INTEGER_DIGITS = 20
FORBIDDEN_CHARACTERS = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Refusal(Exception):
    """A request refused before any door parses it: the status, a stable code, and the field it is about."""

    def __init__(self, status: int, code: str, message: str, field: str) -> None:
        super().__init__(f"{field} {message}")
        self.status = status
        self.code = code
        self.message = f"{field} {message}"
        self.field = field


class Marker:
    """Stands in for a refused value until the walk finds where it was."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason


class DuplicateKeys(dict[str, Any]):
    """An object that named `key` more than once."""

    def __init__(self, pairs: list[tuple[str, Any]], key: str) -> None:
        super().__init__(pairs)
        self.key = key


NON_FINITE = Marker("request.non_finite_number", "must be a finite number (no NaN, Infinity or overflow)")
LONG_INTEGER = Marker("request.number_too_long", f"must be an integer of at most {MAX_INTEGER_DIGITS} digits")


class Parse:
    """The parser's hooks for one body: each puts a marker in place of what it refuses and remembers that it did."""

    def __init__(self) -> None:
        self.refused = False

    def constant(self, _: str) -> Marker:
        self.refused = True
        return NON_FINITE

    def finite(self, text: str) -> float | Marker:
        number = float(text)
        if math.isfinite(number):
            return number
        self.refused = True
        return NON_FINITE

    def short_integer(self, text: str) -> int | Marker:
        if len(text.lstrip("-")) <= MAX_INTEGER_DIGITS:
            return int(text)
        self.refused = True
        return LONG_INTEGER

    def no_duplicates(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                self.refused = True
                return DuplicateKeys(pairs, key)
            seen.add(key)
        return dict(pairs)


def may_hold_a_refused_character(text: str) -> bool:
    """Lone surrogates and control characters reach a parsed string only through a \\u escape (raw ones are not valid
    JSON, or not UTF-8); DEL may also come raw."""
    return "\\u" in text or "\x7f" in text


def deeper_than(document: Any, max_depth: int) -> bool:
    """Whether any object or array sits more than `max_depth` levels deep (the walk then says where)."""
    stack: list[tuple[Any, int]] = [(document, 1)] if isinstance(document, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            return True
        items = value.values() if isinstance(value, dict) else value
        stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return False


def child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]" if path else f"[{key}]"
    return f"{path}.{key}" if path else key


def invalid(code: str, reason: str, path: str) -> Refusal:
    return Refusal(422, code, reason, path or "body")


def walk(document: Any, max_depth: int) -> None:
    """Find the first refused value, key or nesting level, depth first, without recursion."""
    stack: list[tuple[Any, str, int]] = [(document, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, Marker):
            raise invalid(value.code, value.reason, path)
        if isinstance(value, str):
            if FORBIDDEN_CHARACTERS.search(value):
                raise invalid("request.bad_character", "holds a lone surrogate or a control character", path)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > max_depth:
            raise invalid("request.too_deep", f"is nested more than {max_depth} levels deep", path)
        if isinstance(value, DuplicateKeys):
            raise invalid("request.duplicate_key", "is given more than once", child(path, value.key))
        if isinstance(value, dict):
            for key in value:
                if FORBIDDEN_CHARACTERS.search(key):
                    raise invalid(
                        "request.bad_character", "has a key with a lone surrogate or a control character", path
                    )
            stack.extend((item, child(path, key), depth + 1) for key, item in reversed(value.items()))
        else:
            stack.extend((item, child(path, index), depth + 1) for index, item in reversed(list(enumerate(value))))


def check_json(body: bytes, max_depth: int) -> None:
    """Raise `Refusal` (422) for a body that is not strict JSON; return quietly for one a door may parse.

    Raises:
        Refusal: not UTF-8, not JSON, or holding any value the module docstring lists.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("request.invalid_json", "is not UTF-8", "") from None
    parse = Parse()
    try:
        document = json.loads(
            text,
            parse_constant=parse.constant,
            parse_float=parse.finite,
            parse_int=parse.short_integer,
            object_pairs_hook=parse.no_duplicates,
        )
    except RecursionError:
        raise invalid("request.too_deep", f"is nested more than {max_depth} levels deep", "") from None
    except ValueError:
        raise invalid("request.invalid_json", "is not valid JSON", "") from None
    if parse.refused or may_hold_a_refused_character(text) or deeper_than(document, max_depth):
        walk(document, max_depth)
