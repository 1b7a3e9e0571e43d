"""Plain JSON values as read from state, params and metrics files, and lenient readers
for the ``from_dict`` of the diff's values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A value read from a params, metrics or state file.
JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]
JSONDoc = dict[str, JSONValue]


def as_list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    return list(value) if isinstance(value, (list, tuple)) else []


def as_map(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, Mapping) else {}
