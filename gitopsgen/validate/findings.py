"""Findings and rules: the vocabulary every validator stage speaks.

A :class:`Rule` is declared once, next to the code that emits it (a constant named by its ID in a
stage module, ``RULE`` in a module of :mod:`.rules`), with a stable ID, a default severity and a
one-paragraph doc; :mod:`.catalogue` lists every one of them (what ``gitopsgen rules`` prints).
A :class:`Finding` is one problem at one place: file (relative to the repository root, POSIX
separators), 1-based line and column (0 where unknown), the object it concerns (``Kind
namespace/name``) and the cluster whose build found it.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from enum import StrEnum

from .fields import mapping_at


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    stage: str
    severity: Severity
    summary: str
    doc: str


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    rule: str
    message: str
    severity: Severity = Severity.ERROR
    column: int = 0
    object: str = ""
    cluster: str = ""
    extra: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def to_json(self) -> list[builtins.object]:  # ``object`` is a field of this class
        """The finding as the result cache stores it (``extra`` is not kept)."""
        return [
            self.file,
            self.line,
            self.rule,
            self.message,
            self.severity.value,
            self.column,
            self.object,
            self.cluster,
        ]

    @classmethod
    def from_json(cls, value: builtins.object) -> Finding:
        """The finding a :meth:`to_json` list holds; ValueError or TypeError when it does not have that shape."""
        if not isinstance(value, list | tuple) or len(value) != 8:
            raise ValueError("finding shape")
        file, line, rule, message, severity, column, obj, cluster = value
        if not all(isinstance(s, str) for s in (file, rule, message, obj, cluster)):
            raise ValueError("finding fields")
        if type(line) is not int or type(column) is not int:
            raise ValueError("finding lines")
        return cls(file, line, rule, message, Severity(severity), column, obj, cluster)

    def as_dict(self) -> dict[str, builtins.object]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "object": self.object,
            "cluster": self.cluster,
        }


def object_name(obj: object) -> str:
    """``Kind namespace/name`` (or ``Kind name`` for cluster-scoped objects) of a manifest."""
    if not isinstance(obj, dict):
        return ""
    meta = mapping_at(obj, "metadata")
    kind = str(obj.get("kind", "?"))
    name = str(meta.get("name", "?"))
    ns = meta.get("namespace")
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"
