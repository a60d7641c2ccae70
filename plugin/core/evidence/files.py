"""Reading one TOML data file of the store: a syntax error, or a file that is not UTF-8, becomes the caller's
load error naming the file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from plugin.errors import EvidenceError, PluginError


def read_toml(path: Path, error: type[PluginError] = EvidenceError) -> dict[str, Any]:
    """Parse a TOML file, turning a syntax error into the caller's load error naming the file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise error(str(exc), code=f"{error.code.partition('.')[0]}.toml_syntax", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise error(
            f"{path.name} is not UTF-8 (byte {exc.start} cannot be read): save it as UTF-8",
            code=f"{error.code.partition('.')[0]}.encoding",
            file=str(path),
        ) from exc
