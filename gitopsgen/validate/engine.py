"""The validator's pipeline: load → CRDs → per-cluster builds and Helm renders → schemas → rules → findings.

Each selected cluster's outcome (build, Helm, schema and per-cluster rule findings) is looked up in the
result cache under the digest of everything it reads (:mod:`.clustercache`); only the clusters not
found there are built, in parallel threads (the work is kustomize subprocesses and Helm renders), and
their outcomes stored. Every object goes through the schema stage once per distinct content
(:mod:`.schemastage`). The repository-wide work follows: files no cluster reaches, and the rules that
read the repository's files (drift, secrets, image markers). Findings are then filtered by the
settings (disabled rules, severity overrides, ignored paths, inline ``# gitopsgen: ignore=ID``
comments) and identical findings of several clusters are merged (:mod:`.finish`). A configuration
naming a rule the catalogue lacks is refused before anything runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import catalogue
from .clustercache import KIND as CLUSTER_KIND
from .clustercache import ClusterOutcome, cacheable, chart_cache_listing, cluster_key, image_summary
from .config import Settings
from .coverage import entry_lines, standalone, unreached
from .findings import Finding, Severity
from .fingerprint import Fingerprints
from .finish import finish
from .inputs import Inputs, cluster_inputs
from .kustomize import RUNS as kustomize_runs
from .load import load_repository
from .model import Context, Manifest
from .negcache import NegativeCache
from .parsecache import ParseCache
from .rawfile import Limits
from .resultcache import ResultCache, tool_digest
from .rules import CLUSTER, REPOSITORY
from .runner import run_rules
from .schemas import normalise_kubernetes_version
from .schemastage import SchemaChecks
from .scope import narrow
from .workspace import Rendered, Workspace, schema_store, select_clusters


@dataclass
class Result:
    findings: list[Finding]
    clusters: list[str]
    stats: dict[str, Any] = field(default_factory=dict)
    entries: list[str] = field(default_factory=list)  # where each cluster starts, or how the run checked files

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def exit_code(self) -> int:
        return 1 if self.count(Severity.ERROR) else 0


STAGE_WORDS = {
    "load": "reading the repository",
    "crds": "loading schemas and CRDs",
    "cache": "finding clusters and cached results",
    "builds": "building clusters (kustomize, Flux, Helm)",
    "schemas": "checking objects against schemas",
    "rules": "running the rules",
    "repository": "running the repository rules",
}


class Timings(dict[str, float]):
    """Seconds per pipeline stage (the JSON report's ``stats.stages``); ``progress`` is told each stage as it
    starts (the command line shows it on a terminal)."""

    def __init__(self, progress: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.progress = progress

    @contextmanager
    def overlapped(self, outer: str, *inner: str) -> Iterator[Callable[[str], AbstractContextManager[None]]]:
        """Stage ``outer``, within which the ``inner`` stages are timed as they occur (each given to the
        caller's ``spent(name)``); ``outer`` gets its own time less theirs, so the stages still add up."""
        if self.progress is not None:
            self.progress(STAGE_WORDS.get(outer, outer))
        started = time.perf_counter()
        self[outer] = self.get(outer, 0.0)
        before = {n: self.setdefault(n, 0.0) for n in inner}

        @contextmanager
        def spent(name: str) -> Iterator[None]:
            t = time.perf_counter()
            try:
                yield
            finally:
                self[name] = self.get(name, 0.0) + time.perf_counter() - t

        try:
            yield spent
        finally:
            inside = sum(self.get(n, 0.0) - before[n] for n in inner)
            self[outer] = self.get(outer, 0.0) + time.perf_counter() - started - inside

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress is not None:
            self.progress(STAGE_WORDS.get(name, name))
        started = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - started


def validate(root: Path, settings: Settings, progress: Callable[[str], None] | None = None) -> Result:
    started = time.perf_counter()
    runs = kustomize_runs.value
    catalogue.check_rule_ids(settings)
    root = root.resolve()
    timings = Timings(progress)
    cache = ResultCache.open(settings.cache)
    with timings.stage("load"):
        parses = ParseCache(cache, Limits()) if cache.enabled else None
        loaded = load_repository(root, settings.ignore, parses=parses)
    with timings.stage("crds"):
        refused: list[Finding] = []
        store = schema_store(root, settings, loaded.documents, cache, refused)
        stores = {store.kubernetes_version: store}  # one per Kubernetes version the clusters run
        for _, version in settings.kubernetes_versions:
            if normalise_kubernetes_version(version) not in stores:
                other = schema_store(root, settings.for_cluster_version(version), loaded.documents, cache)
                stores[other.kubernetes_version] = other
    workspace = Workspace.open(root, settings, loaded)
    if cache.enabled and not settings.offline:
        workspace.helm.fetcher.negative = NegativeCache(cache)
    texts = {f: lf.text for f, lf in loaded.files.items()}

    with timings.stage("cache"):
        names = select_clusters(workspace.repo, settings)
        inputs: dict[str, Inputs] = {}
        if settings.shard is not None or settings.changed_since is not None or cache.enabled:
            inputs = {n: cluster_inputs(workspace.repo, n) for n in names}
        scope = narrow(workspace, names, inputs)
        digests = {v: (st.digest() if cache.enabled else "") for v, st in stores.items()}
        outcomes, keys = cached_outcomes(workspace, digests, cache, scope.names, inputs)
    checks = {v: SchemaChecks(st, cache, digests[v]) for v, st in stores.items()}
    schemas = checks[store.kubernetes_version]
    negative = workspace.helm.fetcher.negative
    # each cluster's schema checks and rules run as soon as it is built, while the next ones build; "builds"
    # is then the time spent waiting for builds, "schemas" and "rules" the time spent on them
    with timings.overlapped("builds", "schemas", "rules") as spent:
        for r in workspace.render_each([n for n in scope.names if n not in outcomes]):
            name = r.build.cluster.name
            of_cluster = checks[normalise_kubernetes_version(settings.version_of(name))]
            with spent("schemas"):
                outcome = outcomes[name] = built_outcome(r, of_cluster, workspace.repo.entries[name].operator)
            with spent("rules"):
                outcome.findings += run_rules(
                    catalogue.checks(CLUSTER), Context(root, [], {}, [r.build.cluster]), outcome.name
                )
                if negative is not None and any(f.rule == "H007" for f in outcome.findings):
                    outcome.until = negative.expires  # holds only while the failed fetch is remembered
                if outcome.name in keys and cacheable(outcome, settings.offline, outcome.until is not None):
                    cache.put(CLUSTER_KIND, keys[outcome.name], outcome.to_json())

    done = [outcomes[n] for n in scope.names]
    findings = [*loaded.findings, *refused, *(f for o in done for f in o.findings)]
    checked = sum(o.objects for o in done)
    if scope.repository:
        with timings.stage("repository"):
            reached = set().union(scope.reached, *(o.reached for o in done))
            referenced = set().union(scope.files, *(o.files for o in done))
            applied = set().union(*(o.manifest_files for o in done))
            if workspace.repo.entries:
                extra: list[Manifest] = []
                more = unreached(workspace.repo, applied, reached, referenced)
            else:
                extra, more = standalone(workspace.repo, applied, reached, referenced)
            count, schema_findings = schemas.check(extra)
            checked += count
            findings += more + schema_findings
    if scope.owner:
        with timings.stage("rules"):
            images = [i for o in done for i in o.images]
            ctx = Context(root, loaded.documents, texts, [], images, cache, scope.changed)
            findings += run_rules(catalogue.checks(REPOSITORY), ctx)
    for c in checks.values():
        c.save()
    cache.prune()

    findings = [f for f in findings if f.cluster or scope.keeps(f.file)]
    stats: dict[str, Any] = {
        "files": len(loaded.files),
        "documents": len(loaded.documents),
        "clusters": len(done),
        "kustomizations": sum(o.kustomizations for o in done),
        "helm_releases": sum(o.releases for o in done),
        "objects": checked,
        "kustomize_runs": kustomize_runs.value - runs,  # processes started (of this run alone when runs do not overlap)
        "seconds": round(time.perf_counter() - started, 3),
        "stages": {k: round(v, 3) for k, v in timings.items()},
    }
    if cache.enabled:
        stats["clusters_cached"] = sum(o.cached for o in done)
    if scope.narrowed:
        stats["clusters_selected_of"] = scope.total
    return Result(
        finish(findings, settings, texts, catalogue.RULES),
        [o.name for o in done],
        stats,
        entry_lines(workspace.repo, names),
    )


def built_outcome(r: Rendered, schemas: SchemaChecks, operator: bool = False) -> ClusterOutcome:
    """The outcome of a cluster built in this run, with its objects through the schema stage."""
    cluster = r.build.cluster
    outcome = ClusterOutcome(
        cluster.name,
        r.findings,
        kustomizations=r.build.kustomizations,
        releases=r.releases,
        reached=r.build.reached,
        files=r.build.files,
        manifest_files={m.file for m in cluster.manifests},
        images=image_summary(cluster.manifests),
        volatile=r.build.volatile,
        floating=r.floating,
    )
    if r.crds:  # the CRDs its charts install are known in this cluster only
        schemas = SchemaChecks(schemas.store.with_crds(r.crds, "a chart's crds/"))
    outcome.objects, more = schemas.check(cluster.manifests, operator)
    outcome.findings += more
    return outcome


def cached_outcomes(
    ws: Workspace, schemas: dict[str, str], cache: ResultCache, names: list[str], inputs: dict[str, Inputs]
) -> tuple[dict[str, ClusterOutcome], dict[str, str]]:
    """The outcomes the cache holds for ``names`` (``schemas``: each Kubernetes version's schema store
    digest), and every cluster's key (none without a cache)."""
    if not cache.enabled:
        return {}, {}
    tool = tool_digest(ws.repo.command)
    prints = Fingerprints(ws.root)
    # offline, Helm reads only the chart cache: its listing is an input (see clustercache)
    charts = None
    if ws.settings.offline:  # and the mirror directories it may read instead
        local = [Path(m) for _, m in ws.settings.helm_mirrors if "://" not in m]
        charts = [chart_cache_listing(d) for d in (ws.helm.fetcher.cache_dir, *local)]
    keys = {
        n: cluster_key(
            tool,
            ws.settings.for_cluster(n),
            schemas[normalise_kubernetes_version(ws.settings.version_of(n))],
            ws.repo.repo_sources,
            ws.repo.git_urls,
            n,
            prints.of_inputs(inputs[n]) + repr(ws.repo.entries[n]) + repr(sorted(ws.repo.sources.artifacts.items())),
            charts,
        )
        for n in names
    }
    found: dict[str, ClusterOutcome] = {}
    for n in names:
        outcome = ClusterOutcome.from_json(cache.get(CLUSTER_KIND, keys[n]), n)
        if outcome is not None and not outcome.expired(time.time()):
            found[n] = outcome
    return found, keys
