"""The CRDs' CEL rules (``x-kubernetes-validations``): compiled once each, evaluated on every object with
the schema's defaults applied, a violation reported at the rule's field path (K003).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jsonschema

from ..fields import mapping_at
from .messages import _has_encrypted, _one_line
from .rules import K003, STATS, JsonPath, SchemaIssue
from .strict import _strict_root

# ---------------------------------------------------------------- CEL


@dataclass(frozen=True)
class _CelRule:
    text: str
    program: Any
    message: str
    message_program: Any | None
    field_path: JsonPath


@dataclass
class _CelNode:
    rules: list[_CelRule] = field(default_factory=list)
    properties: dict[str, _CelNode] = field(default_factory=dict)
    additional: _CelNode | None = None
    items: _CelNode | None = None


@cache
def _cel_env() -> Any:
    """The CEL environment, built on first use (building its parser costs a noticeable part of a warm run)."""
    import celpy  # its import and parser build cost a warm run that checks no CEL rule

    return celpy.Environment()


@cache
def _cel_program(text: str) -> Any | None:
    """The compiled CEL program of a rule, or None when cel-python cannot compile it."""
    try:
        env = _cel_env()
        program = env.program(env.compile(text))
    except Exception:  # cel-python raises assorted errors for syntax it does not support
        STATS["cel_skipped"] += 1
        return None
    STATS["cel_compiled"] += 1
    return program


_FIELD_PATH = re.compile(r"\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]")


def _field_path(text: Any) -> JsonPath:
    """``.spec.items[0]['a.b']`` → ("spec", "items", 0, "a.b"); () when it does not parse."""
    if not isinstance(text, str) or not text:
        return ()
    out: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _FIELD_PATH.match(text, pos)
        if not m:
            return ()
        out.append(m[1] if m[1] is not None else int(m[2]) if m[2] is not None else m[3])
        pos = m.end()
    return tuple(out)


def _cel_rules(schema: dict[str, Any]) -> list[_CelRule]:
    rules: list[_CelRule] = []
    for entry in schema.get("x-kubernetes-validations") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("rule"), str):
            continue
        text = entry["rule"]
        if re.search(r"\b(oldSelf|optionalOldSelf)\b", text):
            STATS["cel_skipped"] += 1  # transition rule: there is no previous object to compare with
            continue
        program = _cel_program(text)
        if program is None:
            continue
        expression = entry.get("messageExpression")
        rules.append(
            _CelRule(
                text=text,
                program=program,
                message=str(entry.get("message") or f"failed rule: {text}"),
                message_program=_cel_program(expression) if isinstance(expression, str) else None,
                field_path=_field_path(entry.get("fieldPath")),
            )
        )
    return rules


def _cel_tree(schema: Any) -> _CelNode | None:
    """The parts of a schema that carry CEL rules, or None when it has none."""
    if not isinstance(schema, dict):
        return None
    node = _CelNode(rules=_cel_rules(schema))
    props = schema.get("properties")
    if isinstance(props, dict):
        for key, sub in props.items():
            child = _cel_tree(sub)
            if child is not None:
                node.properties[key] = child
    node.additional = _cel_tree(schema.get("additionalProperties"))
    node.items = _cel_tree(schema.get("items"))
    if node.rules or node.properties or node.additional or node.items:
        return node
    return None


def _apply_defaults(schema: Any, value: Any) -> Any:
    """The value as the API server validates it: null fields pruned (unless nullable), defaults filled in."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        props = mapping_at(schema, "properties")
        additional = (
            schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else None
        )
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = props.get(key, additional)
            if item is None and not (isinstance(sub, dict) and sub.get("nullable")):
                continue
            out[key] = _apply_defaults(sub, item)
        for key, sub in props.items():
            if key not in out and isinstance(sub, dict) and "default" in sub:
                out[key] = _apply_defaults(sub, copy.deepcopy(sub["default"]))
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_apply_defaults(schema["items"], item) for item in value]
    return value


def _cel_message(rule: _CelRule, activation: dict[str, Any]) -> str:
    if rule.message_program is not None:
        with contextlib.suppress(Exception):
            result = rule.message_program.evaluate(activation)
            if isinstance(result, str) and result.strip():
                return _one_line(result)
    return _one_line(rule.message)


def _cel_issues(node: _CelNode, value: Any, path: JsonPath, sops: bool, out: list[SchemaIssue]) -> None:
    if value is None:
        return
    if node.rules and not (sops and _has_encrypted(value)):
        import celpy.adapter  # imported by _cel_env() already, when the rules were compiled
        import celpy.evaluation

        try:
            activation: dict[str, Any] | None = {"self": celpy.adapter.json_to_cel(value)}
        except Exception:
            activation = None
        for rule in node.rules if activation is not None else ():
            try:
                result = rule.program.evaluate(activation)
            except Exception:  # a missing field, a Kubernetes CEL function cel-python lacks, ...
                STATS["cel_eval_errors"] += 1
                continue
            if isinstance(result, celpy.evaluation.CELEvalError) or not isinstance(
                result, bool | celpy.celtypes.BoolType
            ):
                STATS["cel_eval_errors"] += 1
                continue
            if not bool(result):
                out.append(SchemaIssue(K003.id, path + rule.field_path, _cel_message(rule, activation or {})))
    if isinstance(value, dict):
        for key, child in node.properties.items():
            if key in value:
                _cel_issues(child, value[key], (*path, key), sops, out)
        if node.additional is not None:
            for key, item in value.items():
                _cel_issues(node.additional, item, (*path, key), sops, out)
    elif isinstance(value, list) and node.items is not None:
        for index, item in enumerate(value):
            _cel_issues(node.items, item, (*path, index), sops, out)


@dataclass(frozen=True)
class _CompiledCrd:
    validator: Any
    schema: dict[str, Any]  # strict
    cel: _CelNode | None


_CRD_COMPILED: dict[str, _CompiledCrd] = {}


def _compile_crd_schema(schema: dict[str, Any] | None) -> _CompiledCrd:
    """One compiled validator (and CEL tree) per distinct schema, shared by every store in the process."""
    key = hashlib.sha256(json.dumps(schema, sort_keys=True, default=str).encode()).hexdigest()
    found = _CRD_COMPILED.get(key)
    if found is None:
        STATS["crd_validators"] += 1
        strict = _strict_root(schema) if isinstance(schema, dict) else {}
        found = _CRD_COMPILED[key] = _CompiledCrd(jsonschema.Draft4Validator(strict), strict, _cel_tree(schema))
    return found
