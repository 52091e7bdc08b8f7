"""Typed access to the fields of untyped YAML objects: a field that must be a mapping (or a list), or an
empty one when it is absent or of another type — what the stages and rules do with every object, so
that a wrong type in the repository is never a crash."""

from __future__ import annotations

from typing import Any


def mapping_at(data: Any, key: str) -> dict[str, Any]:
    """``data[key]`` when it is a mapping, else an empty one (``data``: a mapping, e.g. an object)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def list_at(data: Any, key: str) -> list[Any]:
    """``data[key]`` when it is a list, else an empty one (``data``: a mapping, e.g. an object)."""
    value = data.get(key)
    return value if isinstance(value, list) else []
