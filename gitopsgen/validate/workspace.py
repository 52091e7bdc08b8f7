"""A repository opened for building: its files loaded, its clusters found (:func:`select_clusters`), the
schema store of its Kubernetes version and CRDs (:func:`schema_store`), and each cluster built as Flux
would apply it, Helm renders included (:class:`Workspace`, :class:`Rendered`). The validator's engine,
``gitopsgen diff`` and ``gitopsgen build`` all start here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .build import ClusterBuild, ClusterBuilder
from .charts import ChartFetcher, default_cache_dir
from .config import Settings
from .crdcatalog import catalog_crds, is_catalog
from .findings import Finding, object_name
from .helmstage import HelmStage
from .hosts import HostPolicy
from .kustomize import kustomize_command
from .load import Loaded, load_repository
from .parsecache import YamlFiles
from .repository import Repository
from .resultcache import ResultCache
from .schemas import SchemaStore, crd_cache_dir


def schema_store(
    root: Path,
    settings: Settings,
    documents: list[Any],
    cache: ResultCache | None = None,
    refused: list[Finding] | None = None,
) -> SchemaStore:
    """Kubernetes schemas of the chosen version + CRDs from the cache, the given paths and the repository
    (``cache``: where the parsed --crds files are kept by content, so a run does not parse them again).
    A repository CRD that redefines a built-in kind or conflicts with a --crds one is not used; its
    finding (K006, K007, at its spec.group) is appended to ``refused``."""
    try:
        store = SchemaStore(settings.kubernetes_version)
    except ValueError as exc:
        raise InputError(f"--kubernetes-version: {exc}") from None
    crd_dir = crd_cache_dir()
    if crd_dir.is_dir():
        store.add_cache(crd_dir)
    read = YamlFiles(cache).documents if cache is not None and cache.enabled else None
    for path in settings.crds:
        if is_catalog(path):  # group/kind_version.json schemas (the CRDs-catalog layout)
            kinds = {str(d.data.get("kind")) for d in documents if d.is_object}
            try:
                for crd in catalog_crds(path, kinds):
                    store.add_given_crd(crd, str(path))
            except ValueError as exc:
                raise InputError(f"--crds {path}: {exc}") from None
            continue
        try:
            try:
                store.add_crds_from(path, read)
            except ValueError:
                if read is None:
                    raise
                store.add_crds_from(path)  # the cached parse may be what is broken: parse the file itself
        except ValueError as exc:
            raise InputError(f"--crds {path}: {exc}") from None
    if settings.crds:
        store.save_to_cache(crd_dir)
    for d in documents:
        if d.is_object and d.data.get("kind") == "CustomResourceDefinition":
            try:
                conflict = store.add_crd(d.data, d.file)
            except ValueError:
                continue  # a broken CRD in the repository is reported by the schema stage (K001), not used
            if conflict is not None and refused is not None:
                rule, message = conflict
                refused.append(Finding(d.file, d.line_of("spec", "group"), rule, message, object=object_name(d.data)))
    return store


def select_clusters(repo: Repository, settings: Settings) -> list[str]:
    """The repository's clusters (:mod:`.entries`), or those ``settings.clusters`` names (unknown ones: an error)."""
    if repo.bad_entries:
        raise InputError(
            f"--entry {repo.bad_entries[0]}: neither a directory nor a file with a Flux Kustomization or FluxInstance"
        )
    names = repo.cluster_names()
    if settings.clusters:
        unknown = sorted(set(settings.clusters) - set(names))
        if unknown:
            known = ", ".join(names) or "none"
            raise InputError(f"--cluster {unknown[0]}: no such cluster (clusters: {known})")
        names = [n for n in names if n in settings.clusters]
    return names


@dataclass
class Workspace:
    """One loaded repository with what building its clusters needs: kustomize, the chart fetcher, Helm."""

    root: Path
    settings: Settings
    loaded: Loaded
    repo: Repository
    helm: HelmStage

    @classmethod
    def open(cls, root: Path, settings: Settings, loaded: Loaded | None = None) -> Workspace:
        root = root.resolve()
        loaded = loaded if loaded is not None else load_repository(root, settings.ignore)
        try:
            command = kustomize_command()
        except FileNotFoundError as exc:
            raise InputError(str(exc)) from None
        fetcher = ChartFetcher(
            settings.chart_cache or default_cache_dir(),
            dict(settings.helm_mirrors),
            settings.offline,
            hosts=HostPolicy.from_environment(),  # the repository's URLs: loopback and link-local refused
        )
        return cls(
            root,
            settings,
            loaded,
            Repository(root, loaded, command, settings.clusters_dir, settings.entries),
            HelmStage(root, fetcher, settings.kubernetes_version, command),
        )

    def render_one(self, name: str, pool: Executor) -> Rendered:
        """One cluster as Flux would apply it: its Kustomizations built (their kustomize runs in ``pool``),
        its HelmReleases rendered."""
        result = ClusterBuilder(self.repo, name).run(pool)
        version = self.settings.version_of(name)
        helm = self.helm
        if version != helm.kubernetes_version:  # a cluster on another Kubernetes version (kubernetes-versions)
            helm = HelmStage(self.root, helm.fetcher, version, helm.kustomize)
        outcome = helm.run(result.cluster, self.repo.repo_sources)
        result.cluster.manifests += outcome.manifests
        return Rendered(result, outcome.findings, outcome.releases, outcome.crds, outcome.floating)

    def render(self, names: list[str]) -> list[Rendered]:
        """Several clusters, in parallel threads, in the order of ``names`` (see :meth:`render_each`)."""
        done = {r.build.cluster.name: r for r in self.render_each(names)}
        return [done[n] for n in names]

    def render_each(self, names: list[str]) -> Iterator[Rendered]:
        """Several clusters, in parallel threads, each as soon as it is rendered: the caller's work on one
        (schemas, rules) overlaps the kustomize runs and Helm renders of the next. The kustomize runs of all
        of them share one pool sized to the cores, so one cluster alone still builds its Kustomizations
        side by side."""
        if not names:
            return
        cores = os.cpu_count() or 2
        workers = max(2, min(len(names), cores * 2))
        with ThreadPoolExecutor(max_workers=cores + 1) as builds, ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self.render_one, n, builds) for n in names]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                for future in futures:
                    future.cancel()


@dataclass
class Rendered:
    build: ClusterBuild
    helm_findings: list[Finding]
    releases: int
    crds: list[dict[str, Any]] = field(default_factory=list)  # of the charts rendered (crds/): used for this cluster
    floating: bool = False  # a chart of a floating version was rendered

    @property
    def findings(self) -> list[Finding]:
        return self.build.findings + self.helm_findings


# what a person watching a long run is told at the start of each stage
