"""What validating one cluster leaves behind, and the key it is cached under.

A cluster's findings (build, Helm, schema and the per-cluster rules) and the little the rest of the
run needs from its build — object and release counts, the files and directories it reached (so files
no cluster reaches are still checked on their own), and its image-automation objects (for markers in
other files) — are one :class:`ClusterOutcome`, stored as JSON in the result cache.

Its key (:func:`cluster_key`) covers: the tool (:func:`~.resultcache.tool_digest`), the settings that
change a build (Kubernetes version, clusters directory, ignored paths, chart mirrors, offline), the
schemas (:meth:`~.schemas.SchemaStore.digest`), which GitRepositories are this repository, the
cluster's name and the content of every file it reads (:mod:`.fingerprint`). Outcomes that depend on
something outside those — a chart that could not be fetched, a chart version that is a range, a rule
that crashed, a kustomize that timed out or was killed — are not stored (:func:`cacheable`). Offline,
what Helm finds depends only on the chart cache, so its listing (names, sizes, times) is part of the key
(:func:`chart_cache_listing`) and outcomes with unfetchable or floating charts are stored too: a warm
offline run of a repository whose charts cannot be fetched rebuilds nothing. Online, a failed fetch is
remembered for a while (:mod:`.negcache`) and an outcome whose only volatile findings are those (H007)
is stored with that expiry (``until``), after which it is a miss.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Settings
from .findings import Finding
from .model import Manifest
from .resultcache import digest

KIND = "cluster"
# findings whose cause is not among the key's inputs: chart download (H001), unpinned charts (H005),
# crashes (R001), a render bound exceeded (H006: a time-out depends on the machine's load), an unfetchable chart
# (H007)
_VOLATILE = frozenset({"H001", "H005", "H006", "H007", "R001"})
# offline, the chart findings depend only on the chart cache, which the key then covers
_VOLATILE_OFFLINE = frozenset({"H006", "R001"})
_IMAGE_GROUP = "image.toolkit.fluxcd.io/"


@dataclass
class ClusterOutcome:
    name: str
    findings: list[Finding] = field(default_factory=list)
    objects: int = 0  # objects schema-checked
    kustomizations: int = 0
    releases: int = 0
    reached: set[str] = field(default_factory=set)  # kustomization directories its builds used
    files: set[str] = field(default_factory=set)  # files those kustomizations name
    manifest_files: set[str] = field(default_factory=set)  # files its objects came from
    images: list[dict[str, Any]] = field(default_factory=list)  # ImagePolicy/ImageRepository summaries
    cached: bool = False
    volatile: bool = False  # something in it may not recur (see :func:`cacheable`)
    until: float | None = None  # valid until then (epoch seconds): it holds a remembered fetch failure
    floating: bool = False  # a chart of a floating version was rendered (not stored: only decides storing)

    def expired(self, now: float) -> bool:
        return self.until is not None and self.until <= now

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "findings": [f.to_json() for f in self.findings],
            "objects": self.objects,
            "kustomizations": self.kustomizations,
            "releases": self.releases,
            "reached": sorted(self.reached),
            "files": sorted(self.files),
            "manifest_files": sorted(self.manifest_files),
            "images": self.images,
            **({"until": self.until} if self.until is not None else {}),
        }

    @classmethod
    def from_json(cls, value: Any, name: str) -> ClusterOutcome | None:
        """The outcome a cache entry holds, or None when the entry does not have the expected shape."""
        try:
            if not isinstance(value, dict) or value["name"] != name:
                return None
            findings = [Finding.from_json(f) for f in value["findings"]]
            counts = [value["objects"], value["kustomizations"], value["releases"]]
            sets = [value["reached"], value["files"], value["manifest_files"]]
            images = value["images"]
            until = value.get("until")
            if until is not None and type(until) not in (int, float):
                return None
            if not all(type(c) is int for c in counts) or not all(
                isinstance(s, list) and all(isinstance(p, str) for p in s) for s in sets
            ):
                return None
            if not isinstance(images, list) or not all(isinstance(i, dict) for i in images):
                return None
        except (KeyError, TypeError, ValueError):
            return None
        objects, kustomizations, releases = counts
        reached, files, manifest_files = (set(s) for s in sets)
        return cls(
            name,
            findings,
            objects=objects,
            kustomizations=kustomizations,
            releases=releases,
            reached=reached,
            files=files,
            manifest_files=manifest_files,
            images=images,
            cached=True,
            until=until,
        )


def image_summary(manifests: list[Manifest]) -> list[dict[str, Any]]:
    """The ImageRepositories and ImagePolicies among ``manifests``, reduced to what marker checks read."""
    out = []
    for m in manifests:
        api = str(m.data.get("apiVersion", ""))
        if not api.startswith(_IMAGE_GROUP) or m.kind not in ("ImagePolicy", "ImageRepository"):
            continue
        summary: dict[str, Any] = {"apiVersion": api, "kind": m.kind, "metadata": {}}
        for key in ("name", "namespace"):
            if key in m.meta:
                summary["metadata"][key] = m.meta[key]
        spec = m.data.get("spec")
        if m.kind == "ImagePolicy" and isinstance(spec, dict) and "imageRepositoryRef" in spec:
            summary["spec"] = {"imageRepositoryRef": spec["imageRepositoryRef"]}
        out.append(summary)
    return out


def cacheable(outcome: ClusterOutcome, offline: bool = False, remembered: bool = False) -> bool:
    """Whether the outcome depends only on what its key covers (no download failure, unpinned chart, crash,
    kustomize time-out; ``offline``: the chart findings depend on the chart cache, which the key covers;
    ``remembered``: unfetchable charts (H007) are remembered by :mod:`.negcache`, so an outcome whose only
    volatile findings they are — and H005 of charts that were not fetched — holds until its ``until``)."""
    volatile = _VOLATILE_OFFLINE if offline else _VOLATILE
    if remembered and not offline:  # H005 too when no floating chart was rendered: nothing was resolved
        volatile = volatile - {"H007"} - (set() if outcome.floating else {"H005"})
    return not outcome.volatile and not any(f.rule in volatile for f in outcome.findings)


def chart_cache_listing(directory: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime in ns) of every file of the chart cache: what an offline run can read."""
    out: list[tuple[str, int, int]] = []
    if not directory.is_dir():
        return out
    for current, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(current) / name
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((path.relative_to(directory).as_posix(), st.st_size, st.st_mtime_ns))
    return out


def cluster_key(
    tool: str,
    settings: Settings,
    schemas: str,
    repo_sources: set[tuple[str, str]],
    git_urls: set[str],
    name: str,
    inputs: str,
    charts: object = None,
) -> str:
    """The cache key of one cluster's outcome (see the module docstring for what it covers)."""
    return digest(
        KIND,
        tool,
        settings.kubernetes_version,
        settings.clusters_dir,
        sorted(settings.ignore),
        sorted(settings.helm_mirrors),
        settings.offline,
        charts,
        schemas,
        sorted(repo_sources),
        sorted(git_urls),
        name,
        inputs,
    )
