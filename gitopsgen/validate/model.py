"""What the rules see: source documents with their lines, and per cluster every object Flux applies.

A :class:`Document` is one YAML document of one repository file, as written, with a map from each
JSON path inside it to its line. A :class:`Manifest` is one object as Flux would apply it to a
cluster (after kustomize, Flux's transforms, postBuild substitution and Helm rendering), carrying the
place a finding about it should point at: the source document it came from when there is one, else
the HelmRelease or kustomization that produced it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .findings import object_name

JsonPath = tuple[str | int, ...]


def line_in(lines: dict[JsonPath, int], path: JsonPath, default: int) -> int:
    """Line of the deepest prefix of ``path`` present in ``lines``."""
    for end in range(len(path), -1, -1):
        found = lines.get(tuple(path[:end]))
        if found is not None:
            return found
    return default


@dataclass
class Document:
    """One YAML document of a repository file."""

    file: str  # relative to the repository root, POSIX separators
    index: int  # 0-based position in its file
    line: int  # 1-based line where the document's content starts
    data: Any
    lines: dict[JsonPath, int] = field(default_factory=dict, repr=False)

    def line_of(self, *path: str | int) -> int:
        return line_in(self.lines, path, self.line)

    @property
    def is_object(self) -> bool:
        return isinstance(self.data, dict) and "apiVersion" in self.data and "kind" in self.data


@dataclass
class Manifest:
    """One object as Flux would apply it in one cluster, with where findings about it point."""

    data: dict[str, Any]
    cluster: str
    file: str
    line: int
    lines: dict[JsonPath, int] = field(default_factory=dict, repr=False)
    via: str = ""  # "" when applied as written; else e.g. "HelmRelease prefect/prefect-server"
    # paths an overlay's patch sets → (patch file, line): findings on them point at the patch
    overrides: dict[JsonPath, tuple[str, int]] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def api_group(self) -> str:
        api = str(self.data.get("apiVersion", ""))
        return api.split("/")[0] if "/" in api else ""

    @property
    def name(self) -> str:
        return str(self.meta.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.meta.get("namespace", "") or "")

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.data.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def ref(self) -> str:
        return object_name(self.data)

    def line_of(self, *path: str | int) -> int:
        return self.where(*path)[1]

    def where(self, *path: str | int) -> tuple[str, int]:
        """(file, line) of the deepest part of ``path`` that a document of the repository writes: an
        overlay patch that sets it, else the object's own document, else the object's line."""
        for end in range(len(path), -1, -1):
            prefix = tuple(path[:end])
            if prefix in self.overrides:
                return self.overrides[prefix]
            if prefix in self.lines:
                return self.file, self.lines[prefix]
        return self.file, self.line


@dataclass
class Cluster:
    """Everything one cluster's Flux would apply, from its root Kustomization down."""

    name: str
    root: str  # repository-relative directory, e.g. clusters/cluster-1
    manifests: list[Manifest] = field(default_factory=list)
    # sources that exist without a manifest of their own: (kind, namespace, name) — the sync source of the
    # cluster's entry, the ExternalArtifacts of its ArtifactGenerators
    sources: set[tuple[str, str, str]] = field(default_factory=set)

    def of_kind(self, kind: str, group: str | None = None) -> Iterator[Manifest]:
        for m in self.manifests:
            if m.kind == kind and (group is None or m.api_group == group):
                yield m

    def find(self, kind: str, namespace: str, name: str) -> Manifest | None:
        for m in self.manifests:
            if m.kind == kind and m.name == name and (m.namespace == namespace or not namespace):
                return m
        return None


@dataclass
class Context:
    """Input of the semantic rules: the repository's documents and its clusters' builds."""

    root: Path
    documents: list[Document]
    texts: dict[str, str]  # repository-relative file → text, for comment-level rules (markers)
    clusters: list[Cluster]
    # image-automation objects of the clusters validated in this run (repository rules see no clusters)
    images: list[dict[str, Any]] = field(default_factory=list)
    cache: Any = None  # the run's ResultCache, for rules that cache their own work (None: no cache)
    # --changed-since: the changed files, the only ones findings of no cluster are reported for (None: all)
    changed: set[str] | None = None

    def manifests(self) -> Iterable[Manifest]:
        for c in self.clusters:
            yield from c.manifests
