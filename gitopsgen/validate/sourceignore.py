"""Which files of the repository are in the artifact source-controller makes of it.

source-controller leaves files out of a GitRepository's artifact (fluxcd/pkg ``sourceignore``): its
default patterns — version control (``.git/``, ``.gitignore``, ``.gitmodules``, ``.gitattributes``),
archives and images (``*.jpg``, ``*.jpeg``, ``*.gif``, ``*.png``, ``*.wmv``, ``*.flv``, ``*.tar.gz``,
``*.zip``), CI files (``.github/``, ``.circleci/``, ``.travis.yml``, ``.gitlab-ci.yml``, ``appveyor.yml``,
``.drone.yml``, ``cloudbuild.yaml``, ``codeship-services.yml``, ``codeship-steps.yml``) and
``**/.goreleaser.yml``, ``**/.sops.yaml``, ``**/.flux.yaml`` — then the patterns of every ``.sourceignore``
file (scoped to its directory), then the GitRepository's ``spec.ignore``. Patterns follow gitignore as
go-git implements it (the last pattern that matches decides; ``!`` re-includes; a trailing ``/`` matches
directories only; a pattern with a ``/`` is anchored to its directory; ``**`` spans directories), and the
archive walk skips an excluded directory whole. kustomize-controller then builds from that artifact: an
ignored file is not in Flux's generated kustomization, and a kustomization.yaml that names one fails.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

IGNORE_FILE = ".sourceignore"
DEFAULTS = (
    ".git/,.gitignore,.gitmodules,.gitattributes",
    "*.jpg,*.jpeg,*.gif,*.png,*.wmv,*.flv,*.tar.gz,*.zip",
    ".github/,.circleci/,.travis.yml,.gitlab-ci.yml,appveyor.yml,.drone.yml,cloudbuild.yaml,"
    "codeship-services.yml,codeship-steps.yml",
    "**/.goreleaser.yml,**/.sops.yaml,**/.flux.yaml",
)


@lru_cache(maxsize=512)
def _glob(pattern: str) -> re.Pattern[str] | None:
    """Go's filepath.Match as a regular expression for one path element (None: a malformed pattern)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                return None
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z")
    except re.error:
        return None


def _match(pattern: str, name: str) -> bool:
    compiled = _glob(pattern)
    return compiled is not None and compiled.match(name) is not None


@dataclass(frozen=True)
class Pattern:
    """One gitignore pattern of a directory (``domain``: its path elements)."""

    domain: tuple[str, ...]
    parts: tuple[str, ...]
    inclusion: bool
    dir_only: bool
    anchored: bool

    @classmethod
    def parse(cls, text: str, domain: tuple[str, ...] = ()) -> Pattern:
        inclusion = text.startswith("!")
        if inclusion:
            text = text[1:]
        if not text.endswith("\\ "):
            text = text.rstrip(" ")
        dir_only = text.endswith("/")
        if dir_only:
            text = text[:-1]
        return cls(domain, tuple(text.split("/")), inclusion, dir_only, "/" in text)

    def match(self, path: tuple[str, ...], is_dir: bool) -> bool | None:
        """True: excluded, False: included again, None: the pattern does not speak about ``path``."""
        n = len(self.domain)
        if len(path) <= n or path[:n] != self.domain:
            return None
        rest = path[n:]
        hit = self._glob_match(rest, is_dir) if self.anchored else self._name_match(rest, is_dir)
        return None if not hit else not self.inclusion

    def _name_match(self, path: tuple[str, ...], is_dir: bool) -> bool:
        for i, name in enumerate(path):
            if _match(self.parts[0], name):
                return not (self.dir_only and not is_dir and i == len(path) - 1)
        return False

    def _glob_match(self, path: tuple[str, ...], is_dir: bool) -> bool:
        matched = traverse = False
        rest = list(path)
        for i, part in enumerate(self.parts):
            if part == "":
                traverse = False
                continue
            if part == "**":
                if i == len(self.parts) - 1:
                    break
                traverse = True
                continue
            if "**" in part or not rest:
                return False
            if traverse:
                traverse = False
                while rest:
                    element = rest.pop(0)
                    if _match(part, element):
                        matched = True
                        break
                    if not rest:
                        matched = False
            else:
                if not _match(part, rest[0]):
                    return False
                matched = True
                rest.pop(0)
        return not (matched and self.dir_only and not is_dir and not rest) and matched


class SourceIgnore:
    """The ignore rules of one source directory (the repository root)."""

    def __init__(self, patterns: list[Pattern]) -> None:
        self.patterns = patterns
        self._verdicts: dict[tuple[tuple[str, ...], bool], bool] = {}  # a directory is asked about once

    @classmethod
    def of(cls, root: Path, spec_ignore: str | None = None) -> SourceIgnore:
        patterns = list(_defaults())
        patterns += _load(root, ())
        if spec_ignore:
            patterns += _read(spec_ignore, ())
        return cls(patterns)

    def _excluded(self, path: tuple[str, ...], is_dir: bool) -> bool:
        known = self._verdicts.get((path, is_dir))
        if known is None:
            known = False
            for p in reversed(self.patterns):
                verdict = p.match(path, is_dir)
                if verdict is not None:
                    known = verdict
                    break
            self._verdicts[(path, is_dir)] = known
        return known

    def ignored(self, rel: str, is_dir: bool = False) -> bool:
        """Whether ``rel`` (repository-relative, POSIX) is left out of the artifact: it, or a directory above
        it, is excluded."""
        if rel in ("", "."):
            return False
        parts = tuple(rel.split("/"))
        for end in range(1, len(parts)):
            if self._excluded(parts[:end], True):
                return True
        return self._excluded(parts, is_dir)


@lru_cache(maxsize=1)
def _defaults() -> tuple[Pattern, ...]:
    return tuple(Pattern.parse(p) for group in DEFAULTS for p in group.split(","))


def _read(text: str, domain: tuple[str, ...]) -> list[Pattern]:
    return [Pattern.parse(line, domain) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _load(directory: Path, domain: tuple[str, ...]) -> list[Pattern]:
    """The ``.sourceignore`` patterns of ``directory`` and, recursively, its subdirectories (not ``.git``)."""
    patterns: list[Pattern] = []
    ignore_file = directory / IGNORE_FILE
    if ignore_file.is_file() and not ignore_file.is_symlink():
        try:
            patterns += _read(ignore_file.read_text(errors="replace"), domain)
        except OSError:
            pass
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return patterns
    for entry in entries:
        if entry.is_dir(follow_symlinks=False) and entry.name != ".git":
            patterns += _load(Path(entry.path), (*domain, entry.name))
    return patterns
