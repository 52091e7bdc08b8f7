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

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .build import is_flux_kustomization
from .kustomize import Scanner, kustomization_file, rel
from .load import YAML_SUFFIXES, inside, parse_documents
from .repository import Repository

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


def cluster_inputs(repo: Repository, name: str) -> Inputs:
    """The inputs of cluster ``name``: its entry, its directory and everything its Flux Kustomizations reach."""
    root = repo.root
    scanner = repo.scanner
    entry = repo.entries[name]
    home = entry.directory
    out = Inputs(trees={home})  # the root Kustomization may be in any file below the cluster's directory
    if entry.file:
        out.files.add(entry.file)
    queue: list[str] = [home]
    seen: set[str] = set()
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        target = (root / path).resolve()
        if not inside(root, target) or not target.is_dir():
            continue  # F001 in the build; nothing of the repository is read
        reach = _reach(root, scanner, target, out)
        out.dirs |= reach.dirs
        out.files |= reach.files
        why = _redirected(repo, reach)
        if why:
            return _everything(out, why)
        for d in (d for f in sorted(reach.files) for d in repo.by_file.get(f, [])):
            if not d.is_object:
                continue
            if is_flux_kustomization(d.data) and _from_this_repository(repo, d.data):
                spec = _spec(d.data)
                namespace = str((d.data.get("metadata") or {}).get("namespace") or "")
                follows = repo.sources.directories(d.data, namespace)
                if follows is None:
                    return _everything(out, f"{d.file}:{d.line}: spec.path is not a plain path")
                if any(_redirects(p.get("patch") if isinstance(p, dict) else None) for p in spec.get("patches") or []):
                    return _everything(out, f"{d.file}:{d.line}: spec.patches change a path or a chart")
                for follow in follows:
                    queue.append(follow)
                    for c in spec.get("components") or []:
                        if not isinstance(c, str) or "$" in c:
                            return _everything(out, f"{d.file}:{d.line}: a component is not a plain path")
                        queue.append(posixpath.normpath(f"{follow}/{c}"))
                why = _named_sources(repo, out, (spec.get("postBuild") or {}).get("substituteFrom"))
                if why:
                    return _everything(out, f"{d.file}:{d.line}: {why}")
            elif d.data.get("kind") == "HelmRelease" and _group(d.data) == HELM_GROUP:
                chart = _local_chart(d.data)
                if chart:
                    out.trees.add(chart)
                why = _named_sources(repo, out, _spec(d.data).get("valuesFrom"))
                if why:
                    return _everything(out, f"{d.file}:{d.line}: {why}")
    return out


def _everything(out: Inputs, why: str) -> Inputs:
    out.everything, out.why = True, why
    return out


def _named_sources(repo: Repository, out: Inputs, refs: Any) -> str:
    """ConfigMaps and Secrets named by substituteFrom/valuesFrom: every document of that kind and name counts
    (the build looks them up among the cluster's objects first, then in the whole repository; a document
    added anywhere later is a new input then). Returns why the names cannot be told (a variable), or ""."""
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, dict) and ref.get("kind") in ("ConfigMap", "Secret"):
            name = str(ref.get("name", ""))
            if "$" in name:
                return f"{ref['kind']} name {name} is only known after substitution"
            out.files |= {d.file for d in repo.documents_named(str(ref["kind"]), name)}
    return ""


@dataclass
class _Reach:
    dirs: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    patches: set[str] = field(default_factory=set)  # patch files among ``files``
    kustomizations: list[Any] = field(default_factory=list)  # the kustomization documents' data
    inline_patches: list[Any] = field(default_factory=list)  # patches builtin plugin configs carry inline
    unknown: str = ""  # why a read cannot be told statically


def _reach(root: Path, scanner: Scanner, target: Path, out: Inputs) -> _Reach:
    """What building ``target`` reads."""
    found = _Reach()
    if kustomization_file(target):
        scans = [scanner.scan(target)]
    else:
        # Flux generates a kustomization for a plain directory: every manifest below it, and the
        # kustomizations of its subdirectories
        out.trees.add(rel(root, target))
        scans = []
        for path in sorted(target.rglob("*")):
            if path.is_dir() and kustomization_file(path) and inside(root, path):
                scans.append(scanner.scan(path))
            elif path.is_file() and path.name.endswith(YAML_SUFFIXES) and inside(root, path):
                found.files.add(rel(root, path))
    for scan in scans:
        found.dirs |= scan.reached
        found.files |= scan.files | set(scan.documents)
        found.patches |= scan.patches
        found.kustomizations += [d.data for d in scan.documents.values()]
        found.inline_patches += scan.inline_patches
        found.unknown = found.unknown or scan.unknown
    return found


# a patch that sets one of these decides what a Flux Kustomization builds or which chart a HelmRelease renders,
# or which ConfigMaps and Secrets they read
_REDIRECTING = (
    ("spec", "path"),
    ("spec", "components"),
    ("spec", "sourceRef"),
    ("spec", "postBuild", "substituteFrom"),
    ("spec", "valuesFrom"),
    ("spec", "chart", "spec", "chart"),
    ("spec", "chart", "spec", "sourceRef"),
    ("spec", "chartRef"),
)


def _redirects(patch: Any) -> bool:
    """Whether a patch (a strategic-merge document, JSON 6902 operations, or either as YAML text) sets a
    path or a chart source of a Flux Kustomization or HelmRelease."""
    if isinstance(patch, str):
        docs, problems = parse_documents(patch, "inline patch")  # bounded: an alias bomb is not expanded
        if problems or not docs:
            return False
        patch = docs[0].data
    if isinstance(patch, list):  # JSON 6902: an operation on a redirecting path, inside it or above it
        ops = [str(op.get("path", "")).rstrip("/") for op in patch if isinstance(op, dict)]
        targets = ["/" + "/".join(p) for p in _REDIRECTING]
        return any(t in op or t.startswith(op + "/") for op in ops if op for t in targets)
    if not isinstance(patch, dict) or patch.get("kind") not in ("Kustomization", "HelmRelease"):
        return False
    for path in _REDIRECTING:
        node: Any = patch
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return True
    return False


def _redirected(repo: Repository, reach: _Reach) -> str:
    """Why the static answer cannot be trusted (a patch or replacement redirects a path or chart, a plugin
    config's reads are only known when built), or ""."""
    if reach.unknown:
        return reach.unknown
    if any(_redirects(p) for p in reach.inline_patches):
        return "an inline patch of a kustomize plugin config changes a Flux path or a chart source"
    for file in sorted(reach.patches):
        for d in repo.by_file.get(file, []):
            if _redirects(d.data):
                return f"{d.file}:{d.line}: a patch changes a Flux path or a chart source"
    for k in reach.kustomizations:
        if not isinstance(k, dict):
            continue
        inline = [p.get("patch") for p in k.get("patches") or [] if isinstance(p, dict)]
        inline += [p for p in k.get("patchesStrategicMerge") or [] if isinstance(p, str) and "\n" in p]
        inline += [p.get("patch") for p in k.get("patchesJson6902") or [] if isinstance(p, dict)]
        if any(_redirects(p) for p in inline):
            return "an inline kustomize patch changes a Flux path or a chart source"
        redirecting = tuple(".".join(p) for p in _REDIRECTING)
        for r in k.get("replacements") or []:
            targets = r.get("targets") if isinstance(r, dict) else None
            for t in targets if isinstance(targets, list) else []:
                paths = t.get("fieldPaths") if isinstance(t, dict) else None
                if any(str(fp).startswith(redirecting) for fp in (paths if isinstance(paths, list) else [])):
                    return "a kustomize replacement changes a Flux path or a chart source"
    return ""


def _from_this_repository(repo: Repository, data: dict[str, Any]) -> bool:
    """Whether a Flux Kustomization may build from this repository: a source of this repository (or an
    ExternalArtifact made from it) of that kind and name in any namespace (the namespace the build sees can
    differ from the one written: kustomize's ``namespace:``)."""
    source = _spec(data).get("sourceRef")
    source = source if isinstance(source, dict) else {}
    kind, name = str(source.get("kind", "GitRepository")), str(source.get("name", ""))
    if kind == "ExternalArtifact":
        return any(n == name for _, n in repo.sources.artifacts)
    return any(k == kind and n == name for k, _, n in repo.sources.repo)


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
