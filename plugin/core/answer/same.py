"""Keys that compare shared objects by identity: an address, not a deep hash.

Estimate views, the records beside an answer and the summary of findings are made once and shared by every answer
that shows them, so what is made from them (a rendered piece, an encoded field) is kept under their identity.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Same:
    """A tuple that stands in a key for itself by the identity of its items (which the key keeps alive, so no other
    object can take their addresses; two live objects at one address are one object): equal values made apart only
    cost making it once more. Compared by the addresses alone, hashed once."""

    __slots__ = ("_hash", "addresses", "items")

    def __init__(self, items: tuple[object, ...]) -> None:
        self.items = items
        self.addresses = tuple(map(id, items))
        self._hash = hash(self.addresses)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.addresses == self.addresses


def held(value: object) -> tuple[object, ...]:
    """A shared field's objects: the items of a tuple, or the one object (None included)."""
    return value if isinstance(value, tuple) else (value,)


class Kept(Generic[V]):
    """Values made once per key, where the key holds shared objects by identity (`Same`, which keeps them alive)
    beside plain values; at most `size` of them (all are forgotten when full: they are cheap to make again)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: dict[tuple[Same, Hashable], V] = {}

    def made(self, shared: tuple[object, ...], plain: Hashable, make: Callable[[], V]) -> V:
        """What `make` gives, kept under `shared` and `plain`: together they must name everything it reads."""
        key = (Same(shared), plain)
        try:
            return self._items[key]
        except KeyError:
            pass
        value = make()
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[key] = value
        return value

    def __len__(self) -> int:
        return len(self._items)
