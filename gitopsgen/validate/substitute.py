"""Flux's postBuild variable substitution, as kustomize-controller v2.9 runs it (fluxcd/pkg/envsubst,
a fork of drone/envsubst, in strict mode).

The grammar and the functions follow that library exactly:

- ``$$`` is a literal ``$`` (so ``$${name}`` writes ``${name}``); a bare ``$name`` is left alone.
- ``${name}``; defaults ``${name:=word}``, ``${name:-word}``, ``${name:+word}``, ``${name:?word}`` and
  ``${name=word}`` all give *word* when the variable is unset or empty (the library's ``toDefault``; there
  is no bash-style alternate value), and ``${name-word}``/``${name+word}`` without the colon do not parse;
  the word may hold nested expressions (``${A:=${B:-x}}``), which are evaluated first, like every argument;
- case ``^ ^^ , ,,``, length ``${#name}``, prefix/suffix removal ``# ## % %%``, replacement
  ``/ // /# /%`` and substrings ``${name:offset[:length]}``; inside arguments a backslash escapes ``/`` and itself.
- Strict mode: an unset variable fails the whole Kustomization unless its operator is a default one; an
  expression that does not parse fails it too.

Objects labelled or annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled`` are skipped. The
substitution runs on each object's YAML text, as Flux does, so ``replicas: ${n}`` becomes a number.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .load import KubeLoader

DISABLED = "kustomize.toolkit.fluxcd.io/substitute"
_DEFAULT_OPS = (":=", ":-", ":?", ":+", "=")


@dataclass
class Outcome:
    text: str
    undefined: list[str]
    invalid: list[str]


class _Invalid(Exception):
    """An expression the library does not parse."""


@dataclass
class _State:
    variables: dict[str, str]
    undefined: list[str] = field(default_factory=list)


def _pattern_strip(value: str, pattern: str, longest: bool, prefix: bool) -> str:
    sizes = range(len(value), -1, -1) if longest else range(len(value) + 1)
    for size in sizes:
        part = value[:size] if prefix else value[len(value) - size :]
        if fnmatch.fnmatchcase(part, pattern):
            return value[size:] if prefix else value[: len(value) - size]
    return value


def _closing(text: str, start: int) -> int:
    """Index of the ``}`` closing the expression whose body starts at ``start`` (nested ``${`` counted)."""
    depth = 0
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "/\\":
            i += 2
            continue
        if c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise _Invalid(text[start - 2 : start + 40])


def _text(text: str, state: _State, top: bool) -> str:
    """``text`` with its expressions evaluated (``top``: the document itself, where ``$$`` escapes ``$``;
    inside an argument a backslash escapes ``/`` and itself)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("${", i):
            end = _closing(text, i + 2)
            out.append(_expression(text[i + 2 : end], state))
            i = end + 1
        elif text.startswith("$$", i):
            out.append("$")
            i += 2
        elif not top and text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "/\\":
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


_IDENT = re.compile(r"\w+")


def _expression(body: str, state: _State) -> str:
    """The value of one ``${body}``."""
    if body.startswith("#"):  # ${#name}: the length
        name = body[1:]
        if not _IDENT.fullmatch(name):
            raise _Invalid("${" + body + "}")
        return str(len(_value(name, "#", state)))
    m = _IDENT.match(body)
    if m is None:
        raise _Invalid("${" + body + "}")
    name, rest = m.group(0), body[m.end() :]
    if rest == "":
        return _value(name, "", state)
    op = next((o for o in _DEFAULT_OPS if rest.startswith(o)), None)
    if op is not None:
        word = _text(rest[len(op) :], state, top=False)  # arguments first, as the library does
        value = state.variables.get(name)
        return value if value else word
    for casing, fn in (("^^", str.upper), (",,", str.lower)):
        if rest == casing:
            return fn(_value(name, rest, state))
    if rest == "^":
        v = _value(name, rest, state)
        return v[:1].upper() + v[1:]
    if rest == ",":
        v = _value(name, rest, state)
        return v[:1].lower() + v[1:]
    for strip, longest, prefix in (("##", True, True), ("#", False, True), ("%%", True, False), ("%", False, False)):
        if rest.startswith(strip):
            pattern = _text(rest[len(strip) :], state, top=False)
            return _pattern_strip(_value(name, strip, state), pattern, longest, prefix)
    if rest.startswith("/"):
        return _replace(name, rest, state)
    if rest.startswith(":"):
        return _substring(name, rest[1:], state)
    raise _Invalid("${" + body + "}")


def _value(name: str, op: str, state: _State) -> str:
    """A variable's value for an operator that reads it; strict mode: unset is a failure (recorded)."""
    value = state.variables.get(name)
    if value is None:
        state.undefined.append(name)
        return ""
    return value


def _replace(name: str, rest: str, state: _State) -> str:
    kind = rest[:2] if rest[:2] in ("//", "/#", "/%") else "/"
    raw = rest[len(kind) :]
    cut = _unescaped_slash(raw)
    old = _text(raw[:cut], state, top=False)
    new = _text(raw[cut + 1 :], state, top=False) if cut < len(raw) else ""
    value = _value(name, kind, state)
    if kind == "//":
        return value.replace(old, new) if old else value
    if kind == "/#":
        return new + value[len(old) :] if old and value.startswith(old) else value
    if kind == "/%":
        return value[: len(value) - len(old)] + new if old and value.endswith(old) else value
    return value.replace(old, new, 1) if old else value


def _unescaped_slash(raw: str) -> int:
    """Index of the first ``/`` of ``raw`` that no backslash escapes and no nested expression holds."""
    i = 0
    while i < len(raw):
        if raw.startswith("${", i):
            i = _closing(raw, i + 2) + 1
        elif raw[i] == "\\" and i + 1 < len(raw):
            i += 2
        elif raw[i] == "/":
            return i
        else:
            i += 1
    return len(raw)


def _substring(name: str, rest: str, state: _State) -> str:
    args = _text(rest, state, top=False).split(":")
    value = _value(name, ":", state)
    try:
        start = int(args[0])
    except ValueError:
        return value  # bash returns the string when the position does not parse
    start = max(0, min(len(value), start if start >= 0 else len(value) + start))
    if len(args) < 2:
        return value[start:]
    try:
        length = int(args[1])
    except ValueError:
        return value
    return value[start : start + max(0, length)]


def substitute_text(text: str, variables: dict[str, str]) -> Outcome:
    """``text`` with its ``${…}`` expressions substituted; what is undefined or does not parse (then the
    text is returned unchanged, as Flux fails the Kustomization)."""
    state = _State(variables)
    try:
        out = _text(text, state, top=True)
    except _Invalid as exc:
        return Outcome(text, sorted(set(state.undefined)), [str(exc)])
    if state.undefined:
        return Outcome(text, sorted(set(state.undefined)), [])
    return Outcome(out, [], [])


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
        new = yaml.load(outcome.text, Loader=KubeLoader)
    except yaml.YAMLError as exc:
        outcome.invalid.append(f"the substituted object is not valid YAML ({str(exc).splitlines()[0]})")
        return obj, outcome
    return (new if isinstance(new, dict) else obj), outcome
