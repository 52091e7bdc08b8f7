"""Flux's postBuild variable substitution, with kustomize-controller v2.9's strict semantics.

Only ``${name}`` forms are substituted (a bare ``$name`` is left alone), ``$${name}`` is an escape
for a literal ``${name}``, and the bash-like operators drone/envsubst understands are applied:
defaults (``:-``, ``:=``, ``-``, ``=``), alternates (``:+``, ``+``), case (``^ ^^ , ,,``), prefix and
suffix removal (``# ## % %%``), replacement (``/ //``) and substrings (``:offset:length``). Strict
mode: a variable that is neither defined nor given a default fails the whole Kustomization. Objects
labelled or annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled`` are skipped. The
substitution runs on each object's YAML text, as Flux does, so ``replicas: ${n}`` becomes a number.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

import yaml

_EXPR = re.compile(r"\$\$\{[^}]*\}|\$\{([^}]*)\}")
_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
DISABLED = "kustomize.toolkit.fluxcd.io/substitute"


@dataclass
class Outcome:
    text: str
    undefined: list[str]
    invalid: list[str]


def _pattern_strip(value: str, pattern: str, longest: bool, prefix: bool) -> str:
    sizes = range(len(value), -1, -1) if longest else range(len(value) + 1)
    for size in sizes:
        part = value[:size] if prefix else value[len(value) - size :]
        if fnmatch.fnmatchcase(part, pattern):
            return value[size:] if prefix else value[: len(value) - size]
    return value


def _apply(value: str | None, op: str) -> tuple[str | None, bool]:
    """(result, ok) of one operator on a variable's value (None: undefined)."""
    for default_op in (":-", ":=", "-", "="):
        if op.startswith(default_op):
            default = op[len(default_op) :]
            if value is None or (default_op.startswith(":") and value == ""):
                return default, True
            return value, True
    for alt_op in (":+", "+"):
        if op.startswith(alt_op):
            return (op[len(alt_op) :] if value else ""), True
    if value is None:
        return None, True
    if op == "":
        return value, True
    if op == "^^":
        return value.upper(), True
    if op == ",,":
        return value.lower(), True
    if op == "^":
        return value[:1].upper() + value[1:], True
    if op == ",":
        return value[:1].lower() + value[1:], True
    for strip_op, longest, prefix in (("##", True, True), ("#", False, True), ("%%", True, False), ("%", False, False)):
        if op.startswith(strip_op):
            return _pattern_strip(value, op[len(strip_op) :], longest, prefix), True
    for repl_op, count in (("//", 0), ("/", 1)):
        if op.startswith(repl_op):
            old, _, new = op[len(repl_op) :].partition("/")
            return (value.replace(old, new) if count == 0 else value.replace(old, new, 1)), True
    m = re.fullmatch(r":(\d+)(?::(\d+))?", op)
    if m:
        start = int(m.group(1))
        return (value[start : start + int(m.group(2))] if m.group(2) else value[start:]), True
    return value, False


def substitute_text(text: str, variables: dict[str, str]) -> Outcome:
    undefined: list[str] = []
    invalid: list[str] = []

    def one(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole.startswith("$$"):
            return whole[1:]
        inner = m.group(1)
        name = _NAME.match(inner)
        if name is None:
            invalid.append(whole)
            return whole
        result, ok = _apply(variables.get(name.group(0)), inner[name.end() :])
        if not ok:
            invalid.append(whole)
            return whole
        if result is None:
            undefined.append(name.group(0))
            return whole
        return result

    out = _EXPR.sub(one, text)
    return Outcome(out, sorted(set(undefined)), sorted(set(invalid)))


def disabled(obj: dict[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    for table in (meta.get("annotations") or {}, meta.get("labels") or {}):
        if str(table.get(DISABLED, "")).lower() == "disabled":
            return True
    return False


def substitute_object(obj: dict[str, Any], variables: dict[str, str]) -> tuple[dict[str, Any], Outcome]:
    """``obj`` after substitution (unchanged when disabled or when the result does not parse)."""
    if disabled(obj):
        return obj, Outcome("", [], [])
    text = yaml.dump(obj, Dumper=yaml.CSafeDumper, sort_keys=False, width=1 << 20, allow_unicode=True)
    if "${" not in text:
        return obj, Outcome(text, [], [])
    outcome = substitute_text(text, variables)
    if outcome.undefined or outcome.invalid:
        return obj, outcome
    try:
        new = yaml.load(outcome.text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        outcome.invalid.append(f"the substituted object is not valid YAML ({str(exc).splitlines()[0]})")
        return obj, outcome
    return (new if isinstance(new, dict) else obj), outcome
