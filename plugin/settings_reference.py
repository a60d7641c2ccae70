"""docs/configuration.md, generated from the settings model: every IVIG_CDS_* variable with its type, default,
example and description, so the reference cannot drift from `plugin/config.py` (a test compares the two).

Run `python -m plugin.settings_reference > docs/configuration.md` after changing a setting.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from annotated_types import Ge, Gt
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from plugin.config import Settings, variable

HEADER = """\
# Configuration reference

<!-- Generated from plugin/config.py by `python -m plugin.settings_reference`; do not edit by hand. -->

Every setting is an environment variable named `IVIG_CDS_` and the field's name in capitals. Lists and mappings are
JSON. A variable starting with `IVIG_CDS_` that is not listed here stops every command at start (exit 2), naming
the closest valid one, and a value a setting cannot take is refused the same way, naming the variable but never
the value.

State lives under `IVIG_CDS_DATA_DIR` (default `./var`, made absolute when the service starts and logged): the
SQLite database and the remembered decision-table proofs, unless their own settings name another place.

| variable | type | default | example | description |
|---|---|---|---|---|
"""
SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path", SecretStr: "string (secret)"}


def type_name(annotation: Any) -> str:
    """A reader's name for a field's type: `JSON list of strings`, `path, or empty`..."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is not None and getattr(origin, "__name__", "") == "Annotated":
        return type_name(args[0])
    if origin in (Union, types.UnionType):
        present = [arg for arg in args if arg is not type(None)]
        return f"{type_name(present[0])}, or empty"
    if origin is tuple:
        return "JSON list of secret strings" if args[0] is SecretStr else f"JSON list of {type_name(args[0])}s"
    if origin is dict:
        value = args[1]
        inner = "objects" if isinstance(value, type) and issubclass(value, BaseModel) else type_name(value) + "s"
        return f"JSON object of {type_name(args[0])}s to {inner}"
    return SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def bounds(field: FieldInfo) -> str:
    parts = [f" ≥ {item.ge}" for item in field.metadata if isinstance(item, Ge)]
    parts += [f" > {item.gt}" for item in field.metadata if isinstance(item, Gt)]
    return "".join(parts)


def shown(value: Any) -> str:
    """A value as it is written in the environment: JSON for lists and mappings, plain text otherwise."""
    if isinstance(value, tuple | list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def cell(text: str) -> str:
    return f"`{text}`".replace("|", "\\|") if text else "(empty)"  # a pipe would end the table cell


def default_of(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "default_text" in extra:
        return str(extra["default_text"])
    if field.default_factory is not None:
        return "computed"
    return cell(shown(field.default))


def row(name: str, field: FieldInfo) -> str:
    example = cell(shown((field.examples or [None])[0]))
    kind = type_name(field.annotation) + bounds(field)
    description = (field.description or "").replace("|", "\\|").replace("\n", " ")
    return f"| `{variable(name)}` | {kind} | {default_of(field)} | {example} | {description} |"


def reference_markdown() -> str:
    return HEADER + "".join(row(name, field) + "\n" for name, field in Settings.model_fields.items())


if __name__ == "__main__":
    sys.stdout.write(reference_markdown())
