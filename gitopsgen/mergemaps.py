"""Merging Helm values, the two ways Helm and Flux do it (one implementation each, shared by the generator
and the validator).

- :func:`merge_maps`: helm-controller's layering of ``valuesFrom`` and ``values`` (fluxcd/pkg chartutil
  ``MergeMaps``), also how the generator lays the intent's values over an overlay: mappings merge key by
  key, anything else replaces, and a ``null`` is kept as a value.
- :func:`coalesce`: Helm's coalescing of a release's values over the chart's defaults: the same, except
  that a ``null`` deletes the key.

Neither changes its arguments; values taken from ``over`` are deep copies.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def merge_maps(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid over ``base``: mappings merged recursively, anything else (``null`` too) replaces."""
    out = dict(base)
    for key, value in over.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            out[key] = merge_maps(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def coalesce(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing: mappings merged recursively, anything else replaces, ``null`` deletes the key."""
    out: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = coalesce(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
