"""One-line messages of schema issues: jsonschema errors described at the path they concern, secrets'
values never shown, SOPS-encrypted values recognised.
"""

from __future__ import annotations

import base64
import datetime
import difflib
import json
import re
from collections.abc import Iterable
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from ..fields import mapping_at
from .rules import _MAX_MESSAGE, JsonPath, SchemaIssue

# ---------------------------------------------------------------- messages


def _one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _short(value: Any, limit: int = 50) -> str:
    if isinstance(value, dict):
        return f"{{…{len(value)} fields}}"
    if isinstance(value, list):
        return f"[…{len(value)} items]"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 2] + "…" + text[-1]


def _expected(types: Any) -> list[str]:
    names = [types] if isinstance(types, str) else [t for t in types if isinstance(t, str)]
    return [t for t in names if t != "null"] or names


def _type_message(types: Iterable[str], instance: Any, hide: bool = False) -> str:
    got = _json_type(instance)
    shown = "" if hide or isinstance(instance, dict | list) or instance is None else f" {_short(instance)}"
    return f"expected {' or '.join(dict.fromkeys(types))}, got {got}{shown}"


def _is_encrypted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("ENC[") and value.endswith("]")


def _has_encrypted(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_encrypted(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_encrypted(v) for v in value)
    return _is_encrypted(value)


_REQUIRED = re.compile(r"^(.*) is a required property$")


def _describe(rule: str, error: ValidationError, sops: bool, hide: bool = False) -> list[SchemaIssue]:
    """Short one-line issues for one jsonschema error (several for several unknown fields); ``hide``: never
    show the offending value (a Secret's)."""
    if hide:
        return [SchemaIssue(i.rule, i.path, _hidden(i.message, error.instance)) for i in _describe(rule, error, sops)]
    path: JsonPath = tuple(error.absolute_path)
    instance = error.instance
    if sops and _is_encrypted(instance):
        return []  # a SOPS-encrypted value: a string standing for a value of any type
    validator = error.validator
    if validator in ("oneOf", "anyOf"):
        if instance is None:
            return []  # null is pruned by the API server; several nullable branches accept it
        context = [e for e in error.context or () if not (sops and _is_encrypted(e.instance))]
        if context and all(e.validator == "type" and tuple(e.absolute_path) == path for e in context):
            types = [t for e in context for t in _expected(e.validator_value)]
            return [SchemaIssue(rule, path, _type_message(types, instance))]
        if context:
            return _describe(rule, best_match(context), sops)
    if validator == "type":
        return [SchemaIssue(rule, path, _type_message(_expected(error.validator_value), instance))]
    if validator == "additionalProperties" and isinstance(instance, dict) and isinstance(error.schema, dict):
        props = mapping_at(error.schema, "properties")
        patterns = error.schema.get("patternProperties") or {}
        issues = []
        for key in instance:
            if key in props or any(re.search(p, str(key)) for p in patterns):
                continue
            close = difflib.get_close_matches(str(key), [str(p) for p in props], n=1, cutoff=0.75)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            issues.append(SchemaIssue(rule, (*path, key), _one_line(f'unknown field "{key}"{hint}')))
        if issues:
            return issues
    if validator == "required":
        m = _REQUIRED.match(error.message)
        name = m[1].strip("'\"") if m else "?"
        return [SchemaIssue(rule, path, _one_line(f'missing required field "{name}"'))]
    if validator == "enum" and isinstance(error.validator_value, list):
        allowed = [v for v in error.validator_value if v is not None]
        shown = ", ".join(_short(v, 30) for v in allowed[:8]) + (", …" if len(allowed) > 8 else "")
        return [SchemaIssue(rule, path, _one_line(f"{_short(instance)} is not one of: {shown}"))]
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message.replace(repr(instance), _short(instance))
    return [SchemaIssue(rule, path, _one_line(message))]


def _in_secret_values(error: ValidationError) -> bool:
    """Whether a Secret's error is about anything but its identity (apiVersion, kind, metadata)."""
    path = tuple(error.absolute_path)
    return not path or path[0] not in ("apiVersion", "kind", "metadata")


def _hidden(message: str, instance: Any) -> str:
    """``message`` without the value it is about (every way it may be spelt: JSON, repr, str, shortened)."""
    if isinstance(instance, dict | list) or instance is None:
        return message
    for shown in {_short(instance), _short(instance, 30), repr(instance), json.dumps(instance, default=str)}:
        message = message.replace(shown, "<value hidden>")
    text = str(instance)
    return message.replace(text, "<value hidden>") if len(text) >= 3 else message


def _dedupe(issues: Iterable[SchemaIssue]) -> list[SchemaIssue]:
    return list(dict.fromkeys(issues))


# ---------------------------------------------------------------- input normalisation


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


def _plain(value: Any) -> Any:
    """JSON-compatible copy of YAML data: string keys, timestamps as RFC 3339 strings, binary as base64."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if value.tzinfo else text + "Z"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value
