"""Where Flux starts: the clusters of a repository and the root Flux Kustomization of each.

A cluster is found where Flux itself starts reconciling, wherever that lives in the repository:

- the ``flux-system`` source + Kustomization pair that ``flux bootstrap`` commits (``gotk-sync.yaml``;
  a GitRepository or OCIRepository named ``flux-system``, synced by a Kustomization of that name);
- a Flux Operator ``FluxInstance`` with ``spec.sync`` (its source and Kustomization are created by the
  operator), also as the ``instance`` values of a HelmRelease of the ``flux-instance`` chart;
- a directory under ``clusters-dir`` (``clusters/<name>/``) that none of the above syncs: an implicit
  ``flux-system`` Kustomization of it (a repository this project generated commits no bootstrap files);
- or an entry the user names (``--entry PATH`` / ``entries:`` in the config), which replaces discovery:
  a file holding a Flux Kustomization or FluxInstance, or a directory (an implicit Kustomization of it).

Each cluster is named after the directory its root Kustomization syncs (its last part; the whole path,
``/`` as ``-``, where two clusters would share a name). This module only reads documents: no I/O.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fields import mapping_at
from .model import Document

FLUX_KS_API = "kustomize.toolkit.fluxcd.io/v1"
SYNC_NAME = "flux-system"
SYNC_KINDS = ("GitRepository", "OCIRepository")
IMPLICIT = "no flux-system sync file: an implicit flux-system Kustomization"


@dataclass
class Entry:
    """One cluster: the Flux Kustomization Flux starts from, and where that was found."""

    name: str
    directory: str  # repository-relative directory the root Kustomization syncs ("." for the root)
    root: dict[str, Any]  # the root Flux Kustomization (as written, or as Flux/the operator creates it)
    file: str = ""  # the document that defines the entry ("" for an implicit one)
    line: int = 0
    lines: dict[Any, int] = field(default_factory=dict, repr=False)
    how: str = ""  # e.g. "flux-system Kustomization", "FluxInstance flux-system/flux"
    source: tuple[str, str, str] = ("GitRepository", SYNC_NAME, SYNC_NAME)  # (kind, namespace, name) synced
    url: str = ""  # the synced source's URL where the entry says it

    @property
    def implicit(self) -> bool:
        return not self.file

    @property
    def operator(self) -> bool:
        """Whether the Flux Operator installs this cluster's Flux (and so patches Flux's notification CRDs)."""
        return self.how.startswith(("FluxInstance", "flux-instance", "named entry, FluxInstance", "named entry, flux-"))

    def describe(self) -> str:
        """``name: file:line (how, path ./dir)``, or ``name: dir/ (how)`` for an implicit entry."""
        if not self.file:
            return f"{self.name}: {self.directory}/ ({self.how})"
        path = "./" if self.directory == "." else f"./{self.directory}"
        return f"{self.name}: {self.file}:{self.line} ({self.how}, path {path})"


# The kinds the Flux Operator adds to the notification CRDs it installs (Alert spec.eventSources[].kind,
# Receiver spec.resources[].kind): controlplaneio-fluxcd/flux-operator's notification profile.
OPERATOR_EVENT_KINDS = frozenset({"FluxInstance", "ResourceSet", "ResourceSetInputProvider"})


def operator_accepts(obj: dict[str, Any], rule: str, path: tuple[str | int, ...]) -> bool:
    """Whether a schema issue of ``obj`` at ``path`` is one the Flux Operator's CRD patches make valid."""
    if rule != "K002" or obj.get("kind") not in ("Alert", "Receiver"):
        return False
    if not str(obj.get("apiVersion", "")).startswith("notification.toolkit.fluxcd.io/"):
        return False
    if len(path) != 4 or path[:2] not in (("spec", "eventSources"), ("spec", "resources")) or path[3] != "kind":
        return False
    items = _spec(obj).get(str(path[1]))
    index = path[2]
    if not isinstance(items, list) or not isinstance(index, int) or not 0 <= index < len(items):
        return False
    item = items[index]
    return isinstance(item, dict) and item.get("kind") in OPERATOR_EVENT_KINDS


def normal_path(raw: Any) -> str | None:
    """A Flux ``spec.path`` as a repository-relative POSIX path ("." for the root); None when it is not a
    plain path (a ``${VAR}``, not a string) or leaves the root."""
    if not isinstance(raw, str) or "$" in raw:
        return None
    path = posixpath.normpath(raw.strip() or ".").lstrip("/") or "."
    return None if path == ".." or path.startswith("../") else path


def _spec(data: Any) -> dict[str, Any]:
    spec = data.get("spec") if isinstance(data, dict) else None
    return spec if isinstance(spec, dict) else {}


def _meta(data: dict[str, Any]) -> dict[str, Any]:
    meta = data.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _group(data: dict[str, Any]) -> str:
    return str(data.get("apiVersion", "")).partition("/")[0]


def implicit_root(
    directory: str, source: tuple[str, str, str] = ("GitRepository", SYNC_NAME, SYNC_NAME)
) -> dict[str, Any]:
    """The Flux Kustomization that syncs ``directory`` from ``source`` as bootstrap/the operator writes it."""
    kind, namespace, name = source
    return {
        "apiVersion": FLUX_KS_API,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m",
            "path": "./" if directory == "." else f"./{directory}",
            "prune": True,
            "sourceRef": {"kind": kind, "name": name},
        },
    }


def _bootstrap_entry(d: Document) -> Entry | None:
    """The flux-system Kustomization of a ``flux bootstrap`` sync file (or one written like it)."""
    data = d.data
    if data.get("kind") != "Kustomization" or _group(data) != "kustomize.toolkit.fluxcd.io":
        return None
    if _meta(data).get("name") != SYNC_NAME:
        return None
    source = _spec(data).get("sourceRef")
    if not isinstance(source, dict) or source.get("name") != SYNC_NAME:
        return None
    kind = str(source.get("kind") or "GitRepository")
    directory = normal_path(_spec(data).get("path", "./"))
    if kind not in SYNC_KINDS or directory is None:
        return None
    namespace = str(_meta(data).get("namespace") or SYNC_NAME)
    source_ns = str(source.get("namespace") or namespace)
    return Entry(
        "", directory, data, d.file, d.line, d.lines, f"{SYNC_NAME} Kustomization", (kind, source_ns, SYNC_NAME)
    )


def _sync_entry(d: Document, sync: Any, how: str, namespace: str) -> Entry | None:
    """The Kustomization a Flux Operator ``sync`` block makes the operator create."""
    if not isinstance(sync, dict):
        return None
    kind = str(sync.get("kind") or "GitRepository")
    directory = normal_path(sync.get("path", "./"))
    if kind not in SYNC_KINDS or directory is None:
        return None
    name = str(sync.get("name") or namespace)
    source = (kind, namespace, name)
    return Entry(
        "",
        directory,
        implicit_root(directory, source),
        d.file,
        d.line,
        d.lines,
        how,
        source,
        str(sync.get("url") or ""),
    )


def _operator_entry(d: Document) -> Entry | None:
    data = d.data
    namespace = str(_meta(data).get("namespace") or SYNC_NAME)
    if data.get("kind") == "FluxInstance" and _group(data) == "fluxcd.controlplane.io":
        entry = _sync_entry(
            d, _spec(data).get("sync"), f"FluxInstance {namespace}/{_meta(data).get('name', '')}", namespace
        )
        if entry:
            entry.line = d.line_of("spec", "sync", "path")
        return entry
    if data.get("kind") == "HelmRelease" and _group(data) == "helm.toolkit.fluxcd.io":
        values = _spec(data).get("values")
        instance = values.get("instance") if isinstance(values, dict) else None
        sync = instance.get("sync") if isinstance(instance, dict) else None
        ns = str(_spec(data).get("targetNamespace") or namespace)
        entry = _sync_entry(d, sync, f"flux-instance HelmRelease {namespace}/{_meta(data).get('name', '')}", ns)
        if entry:
            entry.line = d.line_of("spec", "values", "instance", "sync", "path")
        return entry
    return None


def _explicit(root: Path, path: str, by_file: dict[str, list[Document]]) -> Entry | None:
    """An entry the user named: a directory, or a file with a Flux Kustomization or FluxInstance."""
    target = (root / path).resolve()
    try:
        relative = target.relative_to(root.resolve()).as_posix() or "."
    except ValueError:
        return None
    if target.is_dir():
        return Entry("", relative, implicit_root(relative), "", 0, {}, "named entry directory")
    for d in by_file.get(relative, []):
        if not d.is_object:
            continue
        entry = _operator_entry(d)
        if entry is None and d.data.get("kind") == "Kustomization" and _group(d.data) == "kustomize.toolkit.fluxcd.io":
            directory = normal_path(_spec(d.data).get("path", "./"))
            if directory is None:
                continue
            source = mapping_at(_spec(d.data), "sourceRef")
            ns = str(_meta(d.data).get("namespace") or SYNC_NAME)
            key = (
                str(source.get("kind") or "GitRepository"),
                str(source.get("namespace") or ns),
                str(source.get("name") or SYNC_NAME),
            )
            entry = Entry("", directory, d.data, d.file, d.line, d.lines, "named entry Kustomization", key)
        if entry is not None:
            entry.how = entry.how if entry.how.startswith("named") else f"named entry, {entry.how}"
            return entry
    return None


def discover(
    root: Path,
    documents: Iterable[Document],
    clusters_dir: str = "clusters",
    named: tuple[str, ...] = (),
) -> tuple[list[Entry], list[str]]:
    """The clusters of the repository at ``root``, sorted by name, and the named entries that are not one
    (``named``: the user's ``--entry`` paths, which replace discovery)."""
    docs = [d for d in documents if d.is_object]
    found: list[Entry] = []
    bad: list[str] = []
    if named:
        by_file: dict[str, list[Document]] = {}
        for d in docs:
            by_file.setdefault(d.file, []).append(d)
        for path in named:
            entry = _explicit(root, path, by_file)
            if entry is None:
                bad.append(path)
            else:
                found.append(entry)
        return _named(found), bad
    seen: set[str] = set()
    for d in sorted(docs, key=lambda d: (d.file, d.index)):
        entry = _bootstrap_entry(d) or _operator_entry(d)
        if entry is not None and entry.directory not in seen and (root / entry.directory).is_dir():
            seen.add(entry.directory)
            found.append(entry)
    base = root / clusters_dir
    if base.is_dir() and not base.is_symlink():
        for p in sorted(base.iterdir()):
            if not p.is_dir() or p.is_symlink() or p.name.startswith("."):
                continue
            directory = f"{clusters_dir}/{p.name}"
            if any(directory == s or directory.startswith(s + "/") or s.startswith(directory + "/") for s in seen):
                continue  # synced by an entry found above (or it holds one)
            found.append(Entry("", directory, implicit_root(directory), "", 0, {}, IMPLICIT))
    return _named(found), bad


def _named(entries: list[Entry]) -> list[Entry]:
    """Name each entry after its directory (the whole path where the last part is not unique)."""

    def last(e: Entry) -> str:
        return posixpath.basename(e.directory) if e.directory != "." else "root"

    counts: dict[str, int] = {}
    for e in entries:
        counts[last(e)] = counts.get(last(e), 0) + 1
    for e in entries:
        e.name = last(e) if counts[last(e)] == 1 else e.directory.replace("/", "-")
    taken: dict[str, int] = {}
    for e in entries:  # two entries of one directory (e.g. a FluxInstance and a bootstrap file): number them
        n = taken.get(e.name, 0)
        taken[e.name] = n + 1
        if n:
            e.name = f"{e.name}-{n + 1}"
    return sorted(entries, key=lambda e: e.name)
