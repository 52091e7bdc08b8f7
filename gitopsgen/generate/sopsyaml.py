"""YAML of SOPS files, read the way sops and kyaml read it (go-yaml v3, YAML 1.2 typing: ``yes``/``no`` and
timestamps stay strings) and written so that both they and YAML 1.1 readers get the same strings back, which
keeps the MAC valid. Comments are not kept by :func:`load`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import yaml

from .agekeys import SopsError

_TAG = "tag:yaml.org,2002:"
_GO_INT_RE = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_GO_SPECIAL: dict[str, Any] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_INT64 = (-(2**63), 2**64 - 1)


def _go_int(text: str) -> int | None:
    """Go ``strconv.ParseInt``/``ParseUint`` with base 0 (underscores already removed), else None."""
    if not _GO_INT_RE.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    prefix = body[:2].lower()
    if prefix in ("0x", "0o", "0b"):
        value = int(body[2:], {"0x": 16, "0o": 8, "0b": 2}[prefix])
    elif len(body) > 1 and body.startswith("0"):
        value = int(body, 8)
    else:
        value = int(body, 10)
    value *= sign
    return value if _INT64[0] <= value <= _INT64[1] else None


def _go_resolve(text: str) -> tuple[str, Any]:
    """go-yaml v3 ``resolve`` for a plain scalar decoded into ``interface{}``: (tag, value)."""
    if text in _GO_SPECIAL:
        value = _GO_SPECIAL[text]
        tag = "null" if value is None else "bool" if isinstance(value, bool) else "float"
        return tag, value
    hint = text[:1]
    if hint == ".":
        if _GO_FLOAT_RE.fullmatch(text):
            return "float", float(text)
    elif hint and hint in "+-0123456789":
        plain = text.replace("_", "")
        number = _go_int(plain)
        if number is not None:
            return "int", number
        if _GO_FLOAT_RE.fullmatch(plain):
            return "float", float(plain)
    return "str", text


class _Loader(yaml.SafeLoader):
    """PyYAML typed like go-yaml v3 (what sops and kyaml use): YAML 1.2 core schema, no 1.1 extras."""

    def resolve(self, kind: type, value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0] and value is not None:
            if value == "<<":
                return _TAG + "merge"
            return _TAG + _go_resolve(value)[0]
        tag: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]  # types-PyYAML leaves resolve() unannotated
        return tag

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _TAG + "merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"mapping key {key!r} already defined", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _construct_number(loader: _Loader, node: yaml.ScalarNode) -> Any:
    tag, value = _go_resolve(loader.construct_scalar(node))
    want = node.tag.removeprefix(_TAG)
    if tag == want or (want == "float" and tag == "int"):
        return float(value) if want == "float" else value
    raise yaml.constructor.ConstructorError(None, None, f"cannot decode {value!r} as !!{want}", node.start_mark)


def _construct_bool(loader: _Loader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    if text in ("true", "True", "TRUE", "false", "False", "FALSE"):
        return text.lower() == "true"
    raise yaml.constructor.ConstructorError(None, None, f"cannot decode {text!r} as !!bool", node.start_mark)


_Loader.add_constructor(_TAG + "int", _construct_number)
_Loader.add_constructor(_TAG + "float", _construct_number)
_Loader.add_constructor(_TAG + "bool", _construct_bool)


def _construct_str(loader: _Loader, node: yaml.ScalarNode) -> str:
    """A timestamp stays the string it is written as (go-yaml v3 types no timestamps)."""
    return str(loader.construct_scalar(node))


_Loader.add_constructor(_TAG + "timestamp", _construct_str)


class _Dumper(yaml.SafeDumper):
    """Block YAML with 2-space indent, sequences indented under their key, as sops writes it.

    A string is written plain only if both a YAML 1.1 reader (PyYAML, kubectl) and go-yaml v3 (sops, kyaml,
    Flux) read it back as that same string; otherwise it is quoted.
    """

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def resolve(self, kind: type, value: str | None, implicit: tuple[bool, bool]) -> str:
        tag: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]  # types-PyYAML leaves resolve() unannotated
        if kind is yaml.ScalarNode and implicit[0] and value is not None and tag == _TAG + "str":
            go_tag = _go_resolve(value)[0] if value != "<<" else "merge"
            return _TAG + go_tag
        return tag


def _represent_str(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    """Multi-line strings as literal blocks; strings that cannot stay plain double-quoted, as go-yaml writes."""
    value = str(value)
    style: str | None = None
    if "\n" in value:
        style = "|"
    elif (
        dumper.resolve(yaml.ScalarNode, value, (True, False)) != _TAG + "str"
        or not dumper.analyze_scalar(value).allow_block_plain
    ):
        style = '"'
    return dumper.represent_scalar(_TAG + "str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _plain(value: Any) -> Any:
    """A copy made of plain dict/list/str/int/float/bool/None/bytes (str subclasses become str)."""
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes):
        return bytes(value)
    return value


def dump(obj: Mapping[str, Any]) -> str:
    """One YAML document (no ``---``) that sops and Flux read back to the same values."""
    return yaml.dump(
        _plain(obj),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        indent=2,
        width=1 << 30,
    )


def load(text: str) -> list[dict[str, Any]]:
    """The mapping documents of a YAML text, typed as go-yaml v3 types them; empty documents are skipped."""
    try:
        docs = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:  # the message only: PyYAML's snippet of the line could hold a secret
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SopsError(f"not valid YAML{where}: {getattr(exc, 'problem', None) or type(exc).__name__}") from None
    except RecursionError:
        raise SopsError("not valid YAML: nested too deeply") from None
    out: list[dict[str, Any]] = []
    for number, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise SopsError(f"YAML document {number} is a {type(doc).__name__}, not a mapping")
        out.append(doc)
    return out
