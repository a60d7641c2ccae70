"""Release labels (`2026.12`, `2026.12.1`): numbered parts that compare as versions, not as text."""

from __future__ import annotations


def label_key(label: str) -> tuple[int, ...]:
    """`2026.12.1` as (2026, 12, 1), so that 2026.9 < 2026.12 < 2026.12.1 < 2027.01.

    Raises:
        ValueError: a part is not a number.
    """
    return tuple(int(part) for part in label.split("."))


def newer(label: str, than: str) -> bool:
    """Whether release `label` comes after release `than`."""
    return label_key(label) > label_key(than)
