"""The Flux Operator's ResourceSet templates: Go ``text/template`` with ``<<`` ``>>`` delimiters (the subset
evaluated offline).

flux-operator (``internal/builder/resourceset.go``) executes each resource of a ResourceSet, and its
``resourcesTemplate``, as a Go text template with the delimiters ``<<`` and ``>>``, the slim-sprig function
map plus ``slugify``/``toYaml``, the function ``inputs`` returning one input set, and
``missingkey=error`` (an input the set does not have fails the build). This module evaluates what real
repositories write in actions: ``inputs.a.b`` chains, literals, pipelines through the common functions
(quote, squote, int, default, toYaml, nindent, indent, lower, upper, trim, slugify, get, replace, trunc,
toString, toJson, b64enc, printf with %s/%d/%v) and ``<<-``/``->>`` trimming. Anything else — ``if``,
``range``, ``with``, variables, other functions — raises :class:`Unsupported`, so the caller can say the
ResourceSet was not expanded instead of guessing. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shlex
import unicodedata
from decimal import Decimal
from typing import Any

import yaml

LEFT, RIGHT = "<<", ">>"


class Unsupported(Exception):
    """The template uses something this evaluator does not implement (not an error of the template)."""


class TemplateError(Exception):
    """The template fails as the operator would fail it (a missing input, a bad action)."""


def has_actions(text: str) -> bool:
    return LEFT in text


def go_string(value: Any) -> str:
    """``value`` printed the way Go's fmt prints the JSON-decoded value (text/template's output)."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_string(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    return str(value)


def _go_float(f: float) -> str:
    """fmt's %v of a float64 (strconv 'g' with the shortest digits): %e notation when the decimal exponent is
    below -4 or at least 6, e.g. 1e+06, 1.5, 100000."""
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if math.isnan(f):
        return "NaN"
    if f == 0:
        return "0"
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exp, int)
    text = "".join(map(str, digits))
    sci = len(digits) + exp - 1
    minus = "-" if sign else ""
    if sci < -4 or sci >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if sci < 0 else '+'}{abs(sci):02d}"
    return minus + format(Decimal(text).scaleb(exp), "f")


def _empty(value: Any) -> bool:
    """sprig's notion of empty (``default`` replaces it)."""
    return value is None or value is False or (value == 0 and not isinstance(value, bool)) or value in ("", [], {})


def _indent(n: Any, text: Any) -> str:
    pad = " " * int(n)
    return pad + go_string(text).replace("\n", "\n" + pad)


def _json_numbers(value: Any) -> Any:
    """``value`` as Go's JSON round trip writes it: integral floats are integers."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    return value


def _to_yaml(value: Any) -> str:
    if value is None:
        return "null\n"
    return yaml.safe_dump(_json_numbers(value), default_flow_style=False, sort_keys=True, width=1 << 30)


def slugify(text: Any) -> str:
    """gosimple/slug.Make as the operator configures it: lowercase ASCII words joined by '-', at most 63
    characters, cut at a word boundary."""
    ascii_text = unicodedata.normalize("NFKD", go_string(text)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > 63:
        cut = slug[:64]
        slug = cut[: cut.rfind("-")] if "-" in cut else slug[:63]
        slug = slug.strip("-")
    return slug


def _printf(fmt: Any, *args: Any) -> str:
    values = iter(args)

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "%%":
            return "%"
        value = next(values, None)
        if m.group(1) == "q":
            return json.dumps(go_string(value))
        return go_string(value)

    out = re.sub(r"%%|%([sdvq])", one, str(fmt))
    if re.search(r"%[^%sdvq]", out.replace("%%", "")) and "%" in str(fmt):
        raise Unsupported(f"printf format {fmt!r}")
    return out


def _get(mapping: Any, key: Any) -> Any:
    return mapping.get(str(key), "") if isinstance(mapping, dict) else ""


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            return int(float(str(value).strip()))
        except ValueError:
            return 0


FUNCTIONS: dict[str, Any] = {
    "quote": lambda *a: " ".join(json.dumps(go_string(v), ensure_ascii=False) for v in a if v is not None),
    "squote": lambda *a: " ".join(f"'{go_string(v)}'" for v in a if v is not None),
    "int": _int,
    "int64": _int,
    "toString": go_string,
    "default": lambda d, *given: d if not given or _empty(given[0]) else given[0],
    "toYaml": _to_yaml,
    "mustToYaml": _to_yaml,
    "toJson": lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False),
    "nindent": lambda n, t: "\n" + _indent(n, t),
    "indent": _indent,
    "lower": lambda s: go_string(s).lower(),
    "upper": lambda s: go_string(s).upper(),
    "trim": lambda s: go_string(s).strip(),
    "slugify": slugify,
    "get": _get,
    "replace": lambda old, new, s: go_string(s).replace(go_string(old), go_string(new)),
    "trunc": lambda n, s: go_string(s)[: int(n)] if int(n) >= 0 else go_string(s)[int(n) :],
    "b64enc": lambda s: base64.b64encode(go_string(s).encode()).decode(),
    "printf": _printf,
}

_CONTROL = frozenset({"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"})
_ACTION = re.compile(r"<<(-\s)?(.*?)(\s-)?>>", re.S)


def render(text: str, inputs: dict[str, Any]) -> str:
    """``text`` with every ``<< … >>`` action evaluated against one input set."""
    out: list[str] = []
    pos = 0
    for m in _ACTION.finditer(text):
        before = text[pos : m.start()]
        if m.group(1):
            before = before.rstrip()
        out.append(before)
        out.append(_action(m.group(2).strip(), inputs))
        pos = m.end()
        if m.group(3):
            rest = text[pos:]
            pos += len(rest) - len(rest.lstrip())
    out.append(text[pos:])
    return "".join(out)


def _action(body: str, inputs: dict[str, Any]) -> str:
    if body.startswith("/*") and body.endswith("*/"):
        return ""
    try:
        words = shlex.split(body.replace("|", " | "), posix=False)
    except ValueError as exc:
        raise TemplateError(f"cannot parse action << {body} >>: {exc}") from None
    if not words:
        raise TemplateError("empty action << >>")
    if words[0] in _CONTROL or any(w.startswith("$") or w in (":=", "=") for w in words):
        raise Unsupported(f"<< {body} >>")
    commands: list[list[str]] = [[]]
    for w in words:
        if w == "|":
            commands.append([])
        else:
            commands[-1].append(w)
    value: Any = None
    for i, command in enumerate(commands):
        if not command:
            raise TemplateError(f"missing command in << {body} >>")
        args = [_operand(w, inputs) for w in command[1:]]
        if i > 0:
            args.append(value)
        head = command[0]
        if head in FUNCTIONS:
            try:
                value = FUNCTIONS[head](*args)
            except TypeError:
                raise TemplateError(f"wrong number of arguments for {head} in << {body} >>") from None
        elif not args:
            value = _operand(head, inputs)
        else:
            raise Unsupported(f"function {head} in << {body} >>")
    return go_string(value)


def _operand(word: str, inputs: dict[str, Any]) -> Any:
    if word.startswith('"') and word.endswith('"') and len(word) >= 2:
        return json.loads(word)
    if word.startswith("`") and word.endswith("`"):
        return word[1:-1]
    if re.fullmatch(r"-?\d+", word):
        return int(word)
    if re.fullmatch(r"-?\d+\.\d*", word):
        return float(word)
    if word in ("true", "false"):
        return word == "true"
    if word == "nil":
        return None
    if word == "inputs" or word.startswith("inputs."):
        value: Any = inputs
        path = "inputs"
        for part in word.split(".")[1:]:
            if not isinstance(value, dict):
                raise TemplateError(f"{path} is not a map: cannot read .{part}")
            if part not in value:
                raise TemplateError(f'map has no entry for key "{part}" ({path}.{part})')
            value = value[part]
            path += "." + part
        return value
    if word.startswith("(") or word.startswith("."):
        raise Unsupported(word)
    if word in FUNCTIONS:
        raise Unsupported(f"nested call of {word}")
    raise Unsupported(f"function {word}")
