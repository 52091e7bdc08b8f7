"""CRD schemas made strict the way the API server treats them: unknown fields refused (unless
``x-kubernetes-preserve-unknown-fields``), ``nullable`` honoured, metadata left loose, bad patterns dropped.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ..fields import mapping_at
from .rules import STATS

# ---------------------------------------------------------------- CRD schemas made strict

_LOOSE_METADATA: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": ["string", "null"]},
        "labels": {"type": ["object", "null"], "additionalProperties": {"type": ["string", "null"]}},
        "annotations": {"type": ["object", "null"], "additionalProperties": {"type": ["string", "null"]}},
    },
}


def _with_null(schema: dict[str, Any]) -> None:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        schema["type"] = [*kind, "null"]
    if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]


def _valid_pattern(pattern: Any) -> bool:
    try:
        re.compile(pattern)
    except (re.error, TypeError):
        return False
    return True


def _strict(schema: Any, *, property_of_object: bool = False) -> Any:
    """A structural CRD schema as the API server applies it, for jsonschema (Draft 4 keywords)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: _strict(v, property_of_object=True) for k, v in value.items()}
        elif key == "additionalProperties" and isinstance(value, dict):
            out[key] = _strict(value, property_of_object=True)  # map values: pruned when null, like fields
        elif key in ("items", "not") and isinstance(value, dict):
            out[key] = _strict(value)
        elif key in ("allOf", "anyOf", "oneOf", "items") and isinstance(value, list):
            out[key] = [_strict(v) for v in value]
        elif key == "pattern" and not _valid_pattern(value):
            STATS["patterns_dropped"] += 1  # Go RE2 syntax Python cannot compile: not checked
        else:
            out[key] = value
    if out.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    preserve = bool(out.get("x-kubernetes-preserve-unknown-fields"))
    if out.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", _LOOSE_METADATA)
    if out.get("type") == "object" and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False  # undeclared fields are unknown fields
    if out.get("nullable") or property_of_object:
        # nullable: null is a value; otherwise the API server prunes a null field before validating it
        _with_null(out)
    return out


def _strict_root(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = _strict(schema)
    props = out.get("properties")
    if isinstance(props, dict):
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        declared = mapping_at(props, "metadata")
        metadata = copy.deepcopy(_LOOSE_METADATA)
        for name in ("name", "generateName"):  # the only metadata constraints a CRD may declare
            extra = declared.get("properties", {}).get(name) if isinstance(declared.get("properties"), dict) else None
            if isinstance(extra, dict):
                metadata["properties"][name] = {**extra, "type": "string"}
        props["metadata"] = metadata
    return out
