"""YAML shared by both halves: deterministic, diff-friendly output for generated files, and the safety bounds
(no aliases, a depth limit) of gitopsgen's own input files.

Objects are plain dicts and lists built by the renderers, in the key order they were built.
Two wrappers carry layout: :class:`Marked` puts an end-of-line comment after a scalar (the Flux
image-automation setter markers), :class:`Block` writes a multi-line string as a literal block.
"""

from __future__ import annotations

import io
import json
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from .errors import InputError

_RESOLVER = pyyaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"


def _needs_quotes(text: str) -> bool:
    """True if a YAML 1.1 reader (Kubernetes, PyYAML) would not read ``text`` back as a string."""
    tag: str = _RESOLVER.resolve(pyyaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]  # types-PyYAML leaves resolve() unannotated
    return tag != _STR_TAG


class Marked(str):
    """A string scalar followed by an end-of-line comment, e.g. an image policy setter marker."""

    comment: str

    def __new__(cls, value: str, comment: str) -> Marked:
        obj = super().__new__(cls, value)
        obj.comment = comment
        return obj


class Block(str):
    """A multi-line string written as a YAML literal block (``|``)."""


def setter_marker(policy_namespace: str, policy_name: str, field: str | None = None) -> str:
    """The Flux setter marker comment for an ImagePolicy (field: None, 'tag' or 'name')."""
    ref = f"{policy_namespace}:{policy_name}" + (f":{field}" if field else "")
    return json.dumps({"$imagepolicy": ref}, separators=(", ", ": "))


def _convert(value: Any) -> Any:
    if isinstance(value, dict):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _convert(item)
            if isinstance(item, Marked):
                out.yaml_add_eol_comment(f"# {item.comment}", key)
        return out
    if isinstance(value, list):
        seq = CommentedSeq()
        for index, item in enumerate(value):
            seq.append(_convert(item))
            if isinstance(item, Marked):
                seq.yaml_add_eol_comment(f"# {item.comment}", index)
        return seq
    if isinstance(value, Block):
        return LiteralScalarString(str(value) if value.endswith("\n") else str(value) + "\n")
    if isinstance(value, Marked):
        return DoubleQuotedScalarString(str(value))
    if isinstance(value, str) and _needs_quotes(value):
        return SingleQuotedScalarString(value)
    return value


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.default_flow_style = False
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    y.explicit_start = False
    return y


def dump_documents(docs: list[Any], header: str | None = None) -> str:
    """Serialize documents to one YAML stream, separated by ``---``."""
    y = _yaml()
    parts: list[str] = []
    if header:
        parts.append("".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()))
    for index, doc in enumerate(docs):
        buf = io.StringIO()
        y.dump(_convert(doc), buf)
        if index > 0 or (header and len(docs) > 1):
            parts.append("---\n")
        parts.append(buf.getvalue())
    return "".join(parts)


MAX_YAML_DEPTH = 100
# PyYAML >= 6.0.3 bounds nesting in its scanner (which reads ahead of the events) with this message: the same fact
# as gitopsgen's own depth bound, reported as such
PYYAML_NESTING_LIMIT = "exceeded maximum nesting depth"

# the one loader setting for PyYAML: libyaml's safe loader (C, fast) where PyYAML was built with it, else the
# pure-Python one; the validator's loader and gitopsgen's own files both read YAML through it
SAFE_LOADER: type[pyyaml.SafeLoader] = getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)


def no_yaml_aliases(text: str, file: str) -> None:
    """Refuse YAML aliases and nesting deeper than ``MAX_YAML_DEPTH`` in gitopsgen's own files (intent,
    settings, encrypted pull secrets): never needed there, while an alias bomb or a 50,000-deep list would make
    the code that walks the loaded data run for ever or overflow the stack. Syntax errors are left to the loader."""
    depth = 0
    try:
        for event in pyyaml.parse(text, Loader=SAFE_LOADER):
            line = event.start_mark.line + 1 if event.start_mark else None
            if isinstance(event, pyyaml.AliasEvent):
                raise InputError("YAML aliases (*name) are not supported in this file", file=file, line=line)
            if isinstance(event, pyyaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise InputError(f"nested deeper than {MAX_YAML_DEPTH} levels", file=file, line=line)
            elif isinstance(event, pyyaml.CollectionEndEvent):
                depth -= 1
    except pyyaml.YAMLError as exc:
        if PYYAML_NESTING_LIMIT in str(exc):
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            raise InputError(f"nested deeper than {MAX_YAML_DEPTH} levels", file=file, line=line) from None
        return
