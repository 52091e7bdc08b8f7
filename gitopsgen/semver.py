"""Masterminds semver (the syntax of Helm chart versions and Flux ImagePolicy ranges): versions and constraints.

A shared leaf: the validator resolves chart versions with it, the generator checks that a tag image
automation wrote still satisfies its policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_VERSION_RE = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


@dataclass(frozen=True)
class Version:
    """A semantic version as Masterminds/semver (Helm, Flux) parses it: ``v`` prefix and missing parts allowed."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""
    metadata: str = ""

    @classmethod
    def parse(cls, text: str) -> Version | None:
        m = _VERSION_RE.match(text.strip())
        if not m:
            return None
        return cls(int(m[1]), int(m[2] or 0), int(m[3] or 0), m[4] or "", m[5] or "")

    @property
    def key(self) -> tuple[Any, ...]:
        """Sort key: semver precedence (metadata ignored; a release sorts after its pre-releases)."""
        if not self.prerelease:
            pre: tuple[Any, ...] = (1,)
        else:
            pre = (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease.split(".")))
        return (self.major, self.minor, self.patch, pre)

    def __lt__(self, other: Version) -> bool:
        return self.key < other.key


_CV = (
    r"v?([0-9xX*]+)(\.[0-9xX*]+)?(\.[0-9xX*]+)?"
    r"(-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_CV_NOGROUP = re.sub(r"\((?!\?)", "(?:", _CV)
_OPS = r"=|!=|>|<|>=|=>|<=|=<|~|~>|\^|"  # "" last: Python's alternation is ordered, so try operators first
_TERM_RE = re.compile(rf"^\s*({_OPS})\s*({_CV})\s*$")
_FIND_RE = re.compile(rf"(?:{_OPS})\s*{_CV_NOGROUP}")
_VALID_RE = re.compile(rf"^(\s*(?:{_OPS})\s*{_CV_NOGROUP}\s*)((?:\s+|,\s*)(?:{_OPS})\s*{_CV_NOGROUP}\s*)*$")
_RANGE_RE = re.compile(rf"\s*({_CV_NOGROUP})\s+-\s+({_CV_NOGROUP})\s*")


def _is_x(part: str) -> bool:
    return part in ("x", "X", "*")


@dataclass(frozen=True)
class _Term:
    op: str
    con: Version
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool

    @classmethod
    def parse(cls, text: str) -> _Term:
        m = _TERM_RE.match(text)
        if not m:
            raise ValueError(f"improper constraint: {text.strip()}")
        op, major, minor, patch, pre = m[1], m[3], (m[4] or "")[1:], (m[5] or "")[1:], m[7] or ""
        dirty = minor_dirty = patch_dirty = False
        if _is_x(major):
            con, dirty = Version(0, 0, 0, pre), True
        elif _is_x(minor) or not minor:
            con, dirty, minor_dirty = Version(int(major), 0, 0, pre), True, True
        elif _is_x(patch) or not patch:
            con, dirty, patch_dirty = Version(int(major), int(minor), 0, pre), True, True
        else:
            con = Version(int(major), int(minor), int(patch), pre)
        return cls(op, con, dirty, minor_dirty, patch_dirty)

    def check(self, v: Version) -> bool:
        c = self.con
        if self.op == "!=":
            return self._not_equal(v)
        if v.prerelease and not c.prerelease:
            return False  # pre-releases only satisfy constraints that name one
        if self.op in ("", "="):
            return self._tilde(v) if self.dirty else v.key == c.key
        if self.op in ("~", "~>"):
            return self._tilde(v)
        if self.op == "^":
            return self._caret(v)
        if self.op == ">":
            if not self.dirty:
                return v.key > c.key
            if v.major != c.major:
                return v.major > c.major
            if self.minor_dirty:
                return False
            if self.patch_dirty:
                return v.minor > c.minor
            return v.key > c.key
        if self.op == "<":
            return v.key < c.key
        if self.op in (">=", "=>"):
            return v.key >= c.key
        # "<=", "=<"
        if not self.dirty:
            return v.key <= c.key
        if v.major > c.major:
            return False
        return not (v.major == c.major and v.minor > c.minor and not self.minor_dirty)

    def _not_equal(self, v: Version) -> bool:
        c = self.con
        if self.dirty:
            if v.prerelease and not c.prerelease:
                return False
            if c.major != v.major:
                return True
            if c.minor != v.minor and not self.minor_dirty:
                return True
            if self.minor_dirty:
                return False
            if c.patch != v.patch and not self.patch_dirty:
                return True
            if self.patch_dirty:
                return (v.prerelease or c.prerelease) != "" and v.prerelease != c.prerelease
        return v.key != c.key

    def _tilde(self, v: Version) -> bool:
        c = self.con
        if v < c:
            return False
        if (c.major, c.minor, c.patch) == (0, 0, 0) and not self.minor_dirty and not self.patch_dirty:
            return True
        if v.major != c.major:
            return False
        return v.minor == c.minor or self.minor_dirty

    def _caret(self, v: Version) -> bool:
        c = self.con
        if v < c:
            return False
        if c.major > 0 or self.minor_dirty:
            return v.major == c.major
        if v.major > 0:
            return False
        if c.minor > 0 or self.patch_dirty:
            return v.minor == c.minor
        if v.minor > 0:
            return False
        return v.patch == c.patch


class Constraint:
    """A Masterminds/semver constraint: ``||`` = OR, ``,`` or whitespace = AND; ``=``, ``!=``, ``>``, ``<``,
    ``>=``, ``<=``, ``~``, ``~>``, ``^``, ``x``/``X``/``*`` wildcards and hyphen ranges ``1.2 - 1.4``.

    Raises ``ValueError`` on a malformed constraint.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        rewritten = _RANGE_RE.sub(lambda m: f" >= {m[1]}, <= {m[2]} ", text)
        self.alternatives: list[list[_Term]] = []
        for part in rewritten.split("||"):
            if not part.strip():
                self.alternatives.append([_Term.parse("*")])
                continue
            if not _VALID_RE.match(part):
                raise ValueError(f"improper constraint: {part.strip()}")
            self.alternatives.append([_Term.parse(t) for t in _FIND_RE.findall(part)])

    def allows(self, version: Version) -> bool:
        """Masterminds' check, plus: an alternative without any pre-release term never admits a pre-release
        (Masterminds lets ``!=1.2.3`` through to ``2.0.0-rc.1``; Helm users expect releases only)."""
        return any(
            all(t.check(version) for t in terms) and (not version.prerelease or any(t.con.prerelease for t in terms))
            for terms in self.alternatives
        )

    def __repr__(self) -> str:
        return f"Constraint({self.text!r})"
