"""Load a network spec from YAML and turn validation failures into one-line errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from biosynapse_verify.errors import BadInputError
from biosynapse_verify.spec.schema import NetworkSpec

__all__ = ["SpecError", "load_spec", "parse_spec", "spec_hash"]


class SpecError(BadInputError):
    """A spec that cannot be read or is invalid; the message is one line."""


def load_spec(path: str | Path) -> NetworkSpec:
    """Read and validate the YAML network spec at ``path``.

    Raises
    ------
    SpecError
        If the file is missing, is not YAML, or violates the schema. The
        message names the field's path, the value found and what is allowed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found; give the path of a network YAML")
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: cannot be read as a UTF-8 text file ({err})")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid syntax"
        raise SpecError(f"{path}: invalid YAML{where}: {problem}")
    return parse_spec(data, origin=str(path))


def parse_spec(data: Any, origin: str = "<spec>") -> NetworkSpec:
    """Validate an already-parsed mapping as a :class:`NetworkSpec`."""
    if not isinstance(data, dict):
        raise SpecError(
            f"{origin}: the top level must be a mapping with keys name, inputs, "
            f"populations, projections and simulation, got {type(data).__name__}"
        )
    try:
        return NetworkSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(f"{origin}: {_first_error(err)}") from None


def _first_error(err: ValidationError) -> str:
    """Format the first pydantic error as 'field.path: message (got value)'."""
    first = err.errors(include_url=False)[0]
    # Union members add their tag (e.g. "poisson") to the location; keep it so
    # the path says which variant was being checked.
    location = ".".join(str(part) for part in first["loc"])
    message = first["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    value = first.get("input")
    shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
    more = len(err.errors()) - 1
    suffix = f"; {more} more error{'s' if more > 1 else ''}" if more else ""
    return f"{location or 'spec'}: {message}{shown}{suffix}"


def spec_hash(spec: NetworkSpec) -> str:
    """Return the SHA-256 of the spec's canonical JSON form (SI units)."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
