"""The base every loaded or answered model shares: frozen, and strict about unknown keys."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Slug = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
Text = Annotated[str, Field(min_length=1)]


class Frozen(BaseModel):
    """Loaded evidence cannot be changed, and an unknown key (a typo such as `wher`) fails the load."""

    model_config = ConfigDict(frozen=True, extra="forbid")
