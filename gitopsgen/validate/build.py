"""Per cluster: what Flux would apply, from the cluster's root Kustomization down (stage 3).

A cluster is a directory ``clusters/<name>/``. Its root is the Flux Kustomization that syncs that
directory (``flux-system/gotk-sync.yaml`` after ``flux bootstrap``) or, where the repository does not
hold one, an implicit ``flux-system`` Kustomization of the directory. Each Flux Kustomization is built
like kustomize-controller builds it: its path with kustomize (or, without a kustomization.yaml,
every manifest under it, as Flux generates one), then targetNamespace/patches/images/components,
SOPS decryption, then postBuild substitution (``substitute`` + ``substituteFrom``, strict). The
Kustomizations it applies are built in turn. Sources: the ``flux-system`` GitRepository is this
repository even where bootstrap's files are not committed; other GitRepositories with the same URL
are too; Kustomizations of other sources are applied as objects but not built.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .batchbuild import Job, build_all, confined
from .buildrules import B003, B004, B005, F001, F005
from .entries import normal_path
from .fields import mapping_at
from .findings import Finding, Rule, object_name
from .kustomize import B001, B002, IGNORED_WHY, Built, Transforms, kustomization_file, references, rel
from .load import YAML_SUFFIXES, inside
from .model import Cluster, Document, Manifest
from .repository import Repository, _meta
from .resourceset import expand as expand_resourceset
from .resourceset import is_resourceset
from .secrets import by_operator
from .substitute import substitute_object

MAX_RESOURCESET_DEPTH = 4  # ResourceSets that make ResourceSets: expanded this many levels deep

FLUX_KS_GROUP = "kustomize.toolkit.fluxcd.io"


def is_flux_kustomization(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == "Kustomization" and str(obj.get("apiVersion", "")).startswith(FLUX_KS_GROUP + "/")


def is_sops(obj: dict[str, Any]) -> bool:
    sops = obj.get("sops")
    return isinstance(sops, dict) and ("mac" in sops or "lastmodified" in sops)


@dataclass
class ClusterBuild:
    cluster: Cluster
    findings: list[Finding] = field(default_factory=list)
    reached: set[str] = field(default_factory=set)  # kustomization directories this cluster's builds used
    files: set[str] = field(default_factory=set)  # files those kustomizations name (resources, patches, …)
    kustomizations: int = 0
    volatile: bool = False  # a finding may not recur on the next run (a kustomize time-out): not cached


@dataclass
class _Pending:
    """One Flux Kustomization, checked and ready for kustomize."""

    spec: dict[str, Any]
    target: Path
    targets: list[Path]
    transforms: Transforms
    patches: set[str]
    confined: bool = False  # may share a kustomize run with others (:func:`.batchbuild.confined`)


class ClusterBuilder:
    """Builds one cluster: its Flux Kustomizations, recursively, into Manifests."""

    def __init__(self, repo: Repository, name: str) -> None:
        self.repo = repo
        self.name = name
        self.entry = repo.entries[name]
        self.directory = self.entry.directory
        self.result = ClusterBuild(Cluster(name, self.directory))
        self.result.cluster.sources.add(self.entry.source)
        self._outside: set[tuple[str, str, str]] = set()  # sources of other repositories already reported
        self._artifacts: dict[tuple[str, str], list[tuple[str, str]]] = {}  # of the ArtifactGenerators applied
        self._expanded: set[int] = set()  # the ResourceSets whose objects are made (by id of their Manifest)
        self._patch_files: dict[str, set[str]] = {}  # kustomization file → the patch files it names

    # -------------------------------------------------------------- entry

    def run(self, pool: Executor) -> ClusterBuild:
        """Build the Flux Kustomizations level by level from the root (the order kustomize-controller's
        dependency-free reconciliation reaches them); the kustomize runs of one level go to ``pool`` in
        parallel, while everything order-dependent (postBuild lookups among the objects applied so far,
        the order of the manifests) happens in queue order, as a sequential build would do it."""
        level = [self._root_kustomization()]
        seen: set[tuple[str, str]] = set()
        while level:
            todo: list[Manifest] = []
            for ks in level:
                key = (ks.namespace, ks.name)
                if key not in seen:
                    seen.add(key)
                    todo.append(ks)
            self.result.kustomizations += len(todo)
            prepared = [(ks, p) for ks in todo if (p := self._prepare(ks)) is not None]
            jobs = [Job(tuple(p.targets), p.transforms, p.confined) for _, p in prepared]
            builds = build_all(self.repo.root, jobs, self.repo.command, pool, self.repo.documents_of, self.repo.batch)
            level = []
            for (ks, p), built in zip(prepared, builds, strict=True):
                for manifest in self._complete(ks, p, built):
                    self._apply(manifest, level)
            self._expand_resourcesets(level)
        return self.result

    def _apply(self, manifest: Manifest, level: list[Manifest]) -> None:
        """Add one object the cluster applies; Flux Kustomizations go to the next ``level``."""
        self.result.cluster.manifests.append(manifest)
        if is_flux_kustomization(manifest.data):
            level.append(manifest)
        elif manifest.kind == "ArtifactGenerator":
            made = self.repo.sources.generated(manifest.data)
            self._artifacts.update(made)
            self.result.cluster.sources |= {("ExternalArtifact", ns, n) for ns, n in made}

    def _expand_resourcesets(self, level: list[Manifest]) -> None:
        """The objects of the ResourceSets applied so far and not yet expanded (:mod:`.resourceset`), also
        those a ResourceSet makes, a few levels deep."""
        for _ in range(MAX_RESOURCESET_DEPTH):
            todo = [m for m in self.result.cluster.manifests if is_resourceset(m) and id(m) not in self._expanded]
            if not todo:
                return
            for rs in todo:
                self._expanded.add(id(rs))
                made, findings = expand_resourceset(rs, self.result.cluster.manifests)
                self.result.findings += findings
                for manifest in made:
                    self._apply(manifest, level)

    def _root_kustomization(self) -> Manifest:
        e = self.entry
        via = "" if e.file and e.root.get("kind") == "Kustomization" and e.lines else e.how
        if via:  # made by the operator / implicit: findings about it point at the entry's line
            return Manifest(e.root, self.name, e.file or e.directory, e.line, {}, via=via)
        return Manifest(e.root, self.name, e.file, e.line, e.lines)

    # -------------------------------------------------------------- one Flux Kustomization

    def _finding(self, rule: Rule, ks: Manifest, message: str, *path: str | int) -> None:
        self.result.findings.append(
            Finding(*ks.where(*path), rule.id, message, rule.severity, object=ks.ref, cluster=self.name)
        )

    def _prepare(self, ks: Manifest) -> _Pending | None:
        """What kustomize must build for ``ks`` (None: nothing — another source, or a finding says why)."""
        spec = mapping_at(ks.data, "spec")
        resolved = self.repo.sources.resolve(ks.data, ks.namespace, self._artifacts)
        if resolved.directory is None:
            if resolved.why and resolved.source not in self._outside:
                self._outside.add(resolved.source)
                self._finding(F005, ks, f"not built: {resolved.why}", "spec", "sourceRef", "name")
            return None  # another source: applied as an object, its content is not in this repository
        raw_path = str(spec.get("path") or "./")
        target = (self.repo.root / resolved.directory).resolve()
        if not inside(self.repo.root, target):
            self._finding(F001, ks, f"spec.path {raw_path} leaves the repository", "spec", "path")
            return None
        if not target.is_dir():
            where = "" if resolved.directory == normal_path(raw_path) else f" ({resolved.directory} of this repository)"
            self._finding(F001, ks, f"spec.path {raw_path}{where} is not a directory of its source", "spec", "path")
            return None
        if self.repo.ignore.ignored(resolved.directory, True):
            message = f"spec.path {raw_path} is left out of the source artifact ({IGNORED_WHY})"
            self._finding(F001, ks, message, "spec", "path")
            return None
        targets = self._targets(target)
        if not targets:
            return None
        components: list[Path] = []
        for i, c in enumerate(spec.get("components") or []):
            component = target / str(c)
            if not inside(self.repo.root, component):
                self._finding(B002, ks, f"component {c} leaves the repository", "spec", "components", i)
                return None
            if not component.is_dir():
                self._finding(B001, ks, f"component {c} is not a directory", "spec", "components", i)
                return None
            components.append(component)
        scan = None
        for t in [*targets, *components]:
            scan = self.repo.scanner.scan(t, scan)
        assert scan is not None
        self.result.reached |= scan.reached
        self.result.files |= scan.files
        self.result.findings += [_with(f, ks.ref, self.name) for f in scan.findings]
        if scan.blocked:
            return None
        transforms = Transforms(
            namespace=str(spec.get("targetNamespace") or ""),
            name_prefix=str(spec.get("namePrefix") or ""),
            name_suffix=str(spec.get("nameSuffix") or ""),
            patches=tuple(spec.get("patches") or []),
            images=tuple(spec.get("images") or []),
            components=tuple(components),
        )
        return _Pending(spec, target, targets, transforms, scan.patches, confined(scan.documents.values()))

    def _complete(self, ks: Manifest, pending: _Pending, built: Built) -> list[Manifest]:
        """The objects ``ks`` applies, from kustomize's output: Flux's post-build steps and the lines."""
        if built.error:
            self._build_error(ks, pending.target, built.error)
            self.result.volatile = self.result.volatile or built.transient
            return []
        manifests = self._post_build(ks, pending.spec, built.objects)
        if pending.patches:
            self._patch_lines(manifests, pending.patches, built.patched_by)
        return manifests

    def _patch_files_of(self, kustomization: str) -> set[str]:
        """The patch files a kustomization file names (repository-relative)."""
        found = self._patch_files.get(kustomization)
        if found is None:
            found = set()
            directory = self.repo.root / kustomization
            _, doc, _ = self.repo.scanner.kustomization(directory.parent)
            for field_name, _, value, _ in references(doc.data if doc is not None else {}):
                if field_name in ("patches", "patchesStrategicMerge", "patchesJson6902"):
                    found.add(rel(self.repo.root, Path(os.path.normpath(directory.parent / value))))
            self._patch_files[kustomization] = found
        return found

    def _patch_lines(
        self, manifests: list[Manifest], patch_files: set[str], patched_by: list[frozenset[str]] | None = None
    ) -> None:
        """Point the paths that overlay patches set at the patch's lines (strategic-merge patches by kind/name):
        only the patches of the kustomizations that patched the object (``patched_by``, per manifest, from
        kustomize's transformer annotations), where that is known."""
        patches: dict[tuple[str, str], list[Document]] = {}
        for file in sorted(patch_files):
            for d in self.repo.by_file.get(file, []):
                if isinstance(d.data, dict) and d.data.get("kind"):
                    patches.setdefault((str(d.data["kind"]), str(_meta(d.data).get("name", ""))), []).append(d)
        for i, m in enumerate(manifests):
            doc = self.repo.match_document(m.file, m.data)
            name = str(_meta(doc.data).get("name", "")) if doc else m.name
            by = patched_by[i] if patched_by and i < len(patched_by) else frozenset()
            mine = set().union(*(self._patch_files_of(k) for k in by)) if by else None
            for patch in patches.get((m.kind, name), []):
                if mine is not None and patch.file not in mine:
                    continue  # another kustomization's patch of an object with the same base name
                for path, line in patch.lines.items():
                    if path[:1] not in (("apiVersion",), ("kind",), ("metadata",)) or path[:2] == (
                        "metadata",
                        "labels",
                    ):
                        m.overrides[path] = (patch.file, line)

    def _targets(self, target: Path) -> list[Path]:
        """What kustomize builds for a path: its kustomization, or (Flux's generated one) every manifest."""
        if kustomization_file(target):
            return [target]
        out: list[Path] = []
        for current, dirs, files in os.walk(target):
            here = Path(current)
            if here != target and kustomization_file(here):
                out.append(here)
                dirs[:] = []
                continue
            dirs[:] = sorted(
                d
                for d in dirs
                if not d.startswith(".")
                and not (here / d).is_symlink()
                and not self.repo.ignore.ignored(rel(self.repo.root, here / d), True)
            )
            for f in sorted(files):
                path = here / f
                if self.repo.ignore.ignored(rel(self.repo.root, path)):
                    continue
                if f.endswith(YAML_SUFFIXES) and inside(self.repo.root, path) and self._is_manifest(path):
                    out.append(path)
        return out

    def _is_manifest(self, path: Path) -> bool:
        docs = self.repo.by_file.get(rel(self.repo.root, path))
        return bool(docs) and all(d.is_object for d in docs or [])

    def _build_error(self, ks: Manifest, target: Path, error: str) -> None:
        for file in self.repo.files_longest_first():
            if file in error:
                docs = self.repo.by_file[file]
                line = docs[0].line if docs else 1
                self.result.findings.append(
                    Finding(file, line, B001.id, error, B001.severity, object=ks.ref, cluster=self.name)
                )
                return
        k = kustomization_file(target)
        if k is not None:
            self.result.findings.append(
                Finding(rel(self.repo.root, k), 1, B001.id, error, B001.severity, object=ks.ref, cluster=self.name)
            )
            return
        self._finding(B001, ks, error, "spec", "path")

    def _post_build(
        self, ks: Manifest, spec: dict[str, Any], objects: list[tuple[dict[str, Any], str]]
    ) -> list[Manifest]:
        manifests: list[Manifest] = []
        decrypts = isinstance(spec.get("decryption"), dict)
        post = mapping_at(spec, "postBuild")
        variables, complete = self._variables(ks, post)
        substitutes = bool(post.get("substitute") or post.get("substituteFrom"))
        for obj, origin in objects:
            doc = self.repo.match_document(origin, obj) if origin else None
            file, line = (origin, doc.line if doc else 1) if origin else (ks.file, ks.line)
            m = Manifest(
                obj, self.name, file, line, doc.lines if doc else {}, via=f"Kustomization {ks.namespace}/{ks.name}"
            )
            if is_sops(obj):
                if not decrypts:
                    self.result.findings.append(
                        Finding(
                            file,
                            line,
                            B005.id,
                            f"SOPS-encrypted {object_name(obj)} is applied by {ks.ref}, which has no spec.decryption",
                            B005.severity,
                            object=object_name(obj),
                            cluster=self.name,
                        )
                    )
                obj = {k: v for k, v in obj.items() if k != "sops"}
                m.data = obj
            if substitutes:
                new, outcome = substitute_object(obj, variables)
                problems = [f"undefined variable ${{{v}}}" for v in outcome.undefined if complete]
                problems += [f"invalid expression {e}" for e in outcome.invalid]
                if problems:
                    var_line = _text_line(self.repo.loaded.files.get(file), outcome.undefined + outcome.invalid, line)
                    message = f"{'; '.join(problems)} (postBuild of {ks.ref} fails)"
                    self.result.findings.append(
                        Finding(
                            file, var_line, B003.id, message, B003.severity, object=object_name(obj), cluster=self.name
                        )
                    )
                m.data = new
            manifests.append(m)
        return manifests

    def _variables(self, ks: Manifest, post: dict[str, Any]) -> tuple[dict[str, str], bool]:
        """postBuild variables (substituteFrom in order, then substitute) and whether all sources were found."""
        variables: dict[str, str] = {}
        complete = True
        for i, ref in enumerate(post.get("substituteFrom") or []):
            if not isinstance(ref, dict):
                continue
            kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
            data = self._config_data(kind, name, ks.namespace)
            if data is None and kind == "Secret" and self._by_operator(ks.namespace, name):
                complete = False  # made by a secrets operator: it exists, its keys are not known here
                continue
            if data is None:
                if not ref.get("optional"):
                    complete = False
                    self._finding(
                        B004,
                        ks,
                        f"substituteFrom {kind} {ks.namespace}/{name} not found in the repository",
                        "spec",
                        "postBuild",
                        "substituteFrom",
                        i,
                    )
                continue
            variables.update(data)
        for k, v in (post.get("substitute") or {}).items():
            variables[str(k)] = v if isinstance(v, str) else yaml.safe_dump(v).strip().removesuffix("...").strip()
        return variables, complete

    def _by_operator(self, namespace: str, name: str) -> bool:
        """Whether an ExternalSecret, ClusterExternalSecret or SealedSecret of this cluster (or, not applied
        yet, of the repository) provides Secret ``namespace/name``."""
        if by_operator(self.result.cluster.manifests, namespace, name):
            return True
        documents = (
            Manifest(d.data, self.name, d.file, d.line)
            for kind in ("ExternalSecret", "ClusterExternalSecret", "SealedSecret")
            for d in self.repo.documents_of_kind(kind)
        )
        return by_operator(documents, namespace, name)

    def _config_data(self, kind: str, name: str, namespace: str) -> dict[str, str] | None:
        found = [
            m.data
            for m in self.result.cluster.manifests
            if m.kind == kind and m.name == name and m.namespace == namespace
        ]
        if not found:
            docs = self.repo.documents_named(kind, name)
            found = [d.data for d in docs if (_meta(d.data).get("namespace") or namespace) == namespace] or [
                d.data for d in docs
            ]
        if not found:
            return None
        return config_data(found[0])


def config_data(obj: dict[str, Any], unreadable: str | None = None) -> dict[str, str]:
    """Keys → values of a ConfigMap or Secret as the cluster sees them (Secret data base64-decoded).

    A Secret value that does not decode (SOPS-encrypted, malformed) keeps its key; its value is the
    raw text, or ``unreadable`` where that is given.
    """
    out: dict[str, str] = {}
    data = mapping_at(obj, "data")
    if obj.get("kind") == "Secret":
        for k, v in data.items():
            try:
                out[str(k)] = base64.b64decode(str(v), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                out[str(k)] = str(v) if unreadable is None else unreadable
        string_data = mapping_at(obj, "stringData")
        for k, v in string_data.items():
            out[str(k)] = str(v)
    else:
        out.update({str(k): str(v) for k, v in data.items()})
    return out


def _with(f: Finding, obj: str, cluster: str) -> Finding:
    return Finding(f.file, f.line, f.rule, f.message, f.severity, f.column, f.object or obj, cluster)


def _text_line(lf: Any, needles: Iterable[str], default: int) -> int:
    if lf is None:
        return default
    lines = lf.text.splitlines()
    for needle in needles:
        token = needle if needle.startswith("$") else "${" + needle
        for start in (default - 1, 0):
            for i in range(max(start, 0), len(lines)):
                if token in lines[i]:
                    return i + 1
    return default
