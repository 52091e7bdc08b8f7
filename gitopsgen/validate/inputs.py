"""Which files of the repository a cluster's build reads, found without building it.

From ``clusters/<name>/`` the Flux Kustomizations are followed statically: every kustomization a
path reaches is pre-scanned (the same :class:`~.kustomize.Scanner` the builds use), the Flux
Kustomizations and HelmReleases among the documents it names are read as written, and their
``spec.path`` and in-repository chart directories are followed in turn. No kustomize process runs,
no chart is fetched: a 100-cluster repository is mapped in well under a second.

The answer is conservative. A directory of plain manifests (a Flux path without a kustomization)
counts as a whole, with everything below it; a kustomization directory counts with the files
directly in it; a path that only a postBuild variable or a patch decides (``${VAR}`` in a path, a
path the file does not give) makes the cluster depend on every file. ``rendered diff`` and
``--changed-since`` skip a cluster only when no changed file is among its inputs on either side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .build import Repository, is_flux_kustomization
from .kustomize import Scanner, kustomization_file, rel
from .load import YAML_SUFFIXES, inside

HELM_GROUP = "helm.toolkit.fluxcd.io"


@dataclass
class Inputs:
    """What one cluster's build reads (repository-relative POSIX paths)."""

    files: set[str] = field(default_factory=set)  # files named by the cluster's kustomizations, and its own
    dirs: set[str] = field(default_factory=set)  # kustomization directories: any file directly in them
    trees: set[str] = field(default_factory=set)  # plain-manifest and chart directories: any file below them
    everything: bool = False  # a path could not be told statically: every change counts
    why: str = ""  # why ``everything`` is set

    def touched_by(self, changed: Iterable[str]) -> list[str]:
        """The changed paths among these inputs (all of them when ``everything``)."""
        changed = sorted(changed)
        if self.everything:
            return changed
        hits = []
        for path in changed:
            parent = path.rpartition("/")[0] or "."
            if (
                path in self.files
                or parent in self.dirs
                or any(t == "." or path == t or path.startswith(t + "/") for t in self.trees)
            ):
                hits.append(path)
        return hits


def _spec(data: dict[str, Any]) -> dict[str, Any]:
    spec = data.get("spec")
    return spec if isinstance(spec, dict) else {}


def _group(data: dict[str, Any]) -> str:
    return str(data.get("apiVersion", "")).partition("/")[0]


def cluster_inputs(repo: Repository, name: str, clusters_dir: str) -> Inputs:
    """The inputs of cluster ``name``: its directory and everything its Flux Kustomizations reach."""
    root = repo.root
    scanner = Scanner(root, repo.by_file)
    out = Inputs()
    queue: list[str] = [f"{clusters_dir}/{name}"]
    seen: set[str] = set()
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        target = (root / path).resolve()
        if not inside(root, target) or not target.is_dir():
            continue  # F001 in the build; nothing of the repository is read
        dirs, files = _reach(root, scanner, target, out)
        out.dirs |= dirs
        out.files |= files
        documents = [d for f in sorted(files) for d in repo.by_file.get(f, [])]
        for d in documents:
            if not d.is_object:
                continue
            if is_flux_kustomization(d.data) and _from_this_repository(repo, d.data):
                follow = _flux_path(d.data)
                if follow is None:
                    out.everything, out.why = True, f"{d.file}:{d.line}: spec.path is not a plain path"
                    return out
                queue.append(follow)
            elif d.data.get("kind") == "HelmRelease" and _group(d.data) == HELM_GROUP:
                chart = _local_chart(d.data)
                if chart:
                    out.trees.add(chart)
    return out


def _reach(root: Path, scanner: Scanner, target: Path, out: Inputs) -> tuple[set[str], set[str]]:
    """(kustomization directories, files) that building ``target`` reads."""
    if kustomization_file(target):
        scan = scanner.scan(target)
        return scan.reached, scan.files | set(scan.documents)
    # Flux generates a kustomization for a plain directory: every manifest below it, and the
    # kustomizations of its subdirectories
    out.trees.add(rel(root, target))
    dirs: set[str] = set()
    files: set[str] = set()
    for path in sorted(target.rglob("*")):
        if path.is_dir() and kustomization_file(path) and inside(root, path):
            scan = scanner.scan(path)
            dirs |= scan.reached
            files |= scan.files | set(scan.documents)
        elif path.is_file() and path.name.endswith(YAML_SUFFIXES) and inside(root, path):
            files.add(rel(root, path))
    return dirs, files


def _from_this_repository(repo: Repository, data: dict[str, Any]) -> bool:
    source = _spec(data).get("sourceRef")
    source = source if isinstance(source, dict) else {}
    namespace = str(source.get("namespace") or (data.get("metadata") or {}).get("namespace") or "flux-system")
    return source.get("kind", "GitRepository") == "GitRepository" and (
        (namespace, str(source.get("name", ""))) in repo.repo_sources
    )


def _flux_path(data: dict[str, Any]) -> str | None:
    raw = _spec(data).get("path", "./")
    if not isinstance(raw, str) or "$" in raw:
        return None
    path = raw.strip().lstrip("/")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "/".join(parts) or "."


def _local_chart(data: dict[str, Any]) -> str | None:
    """The repository directory of a HelmRelease's chart when it comes from a GitRepository."""
    template = _spec(data).get("chart")
    spec = template.get("spec") if isinstance(template, dict) else None
    if not isinstance(spec, dict):
        return None
    source = spec.get("sourceRef")
    if not isinstance(source, dict) or source.get("kind") != "GitRepository":
        return None
    chart = spec.get("chart")
    if not isinstance(chart, str) or "$" in chart:
        return None
    parts = [p for p in chart.strip().lstrip("/").split("/") if p not in ("", ".")]
    return "/".join(parts) or "."
