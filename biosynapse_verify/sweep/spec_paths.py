"""Read and set values in a spec mapping by dotted path.

A path names a field of the spec's YAML form, one key per dot. List items
are named by their ``name`` field or by their index, so
``projections.feedforward.plasticity.mu`` and ``projections.0.plasticity.mu``
name the same value in a spec whose first projection is ``feedforward``.
Setting a value changes the mapping only; the sweep validates the result with
:func:`biosynapse_verify.spec.parse_spec` afterwards.
"""

from __future__ import annotations

from typing import Any

from biosynapse_verify.errors import BadInputError

__all__ = ["SpecPathError", "get_path", "set_path"]


class SpecPathError(BadInputError):
    """A dotted path that does not name a field of the spec."""


def _split(path: str) -> list[str]:
    parts = path.split(".")
    if not path or any(not part for part in parts):
        raise SpecPathError(
            f"invalid spec path {path!r}; write keys separated by single dots, "
            "for example projections.feedforward.plasticity.mu"
        )
    return parts


def _list_item(items: list, key: str, path: str) -> Any:
    """Return the item of ``items`` named ``key`` (its name field, or an index)."""
    for item in items:
        if isinstance(item, dict) and item.get("name") == key:
            return item
    if key.isdigit() and int(key) < len(items):
        return items[int(key)]
    names = [item.get("name") for item in items if isinstance(item, dict)]
    raise SpecPathError(
        f"spec path {path!r}: no list item named {key!r}; use one of "
        f"{', '.join(map(str, names)) or 'none'} or an index below {len(items)}"
    )


def _child(node: Any, key: str, path: str) -> Any:
    if isinstance(node, list):
        return _list_item(node, key, path)
    if isinstance(node, dict):
        if key not in node:
            raise SpecPathError(
                f"spec path {path!r}: key {key!r} not found; keys here are "
                f"{', '.join(map(str, node)) or 'none'}"
            )
        return node[key]
    raise SpecPathError(
        f"spec path {path!r}: {key!r} goes below the value {node!r}, which has no fields"
    )


def get_path(data: dict, path: str) -> Any:
    """Return the value at ``path`` in the spec mapping ``data``.

    Raises
    ------
    SpecPathError
        If a key or list item along the path is missing.
    """
    node: Any = data
    for key in _split(path):
        node = _child(node, key, path)
    return node


def set_path(data: dict, path: str, value: Any) -> None:
    """Set the value at ``path`` in ``data``, in place.

    Every key but the last must exist. The last key may be new in a mapping,
    so optional fields such as ``plasticity.mu`` can be set when the YAML
    omits them; within a list it must name an existing item.

    Raises
    ------
    SpecPathError
        If the parent of the last key is missing or is not a mapping or list.
    """
    keys = _split(path)
    parent: Any = data
    for key in keys[:-1]:
        parent = _child(parent, key, path)
    last = keys[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        item = _list_item(parent, last, path)
        parent[parent.index(item)] = value
    else:
        raise SpecPathError(
            f"spec path {path!r}: cannot set {last!r} below the value {parent!r}"
        )
