"""The validator's pipeline: load → CRDs → per-cluster builds and Helm renders → schemas → rules → findings.

Each selected cluster's outcome (build, Helm, schema and per-cluster rule findings) is looked up in the
result cache under the digest of everything it reads (:mod:`.clustercache`); only the clusters not
found there are built, in parallel threads (the work is kustomize subprocesses and Helm renders), and
their outcomes stored. Every object goes through the schema stage once per distinct content
(:mod:`.schemastage`). The repository-wide work follows: files no cluster reaches, and the rules that
read the repository's files (drift, secrets, image markers). Findings are then filtered by the
settings (disabled rules, severity overrides, ignored paths, inline ``# gitopsgen: ignore=ID``
comments) and identical findings of several clusters are merged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import rules
from .build import ClusterBuild, ClusterBuilder, Repository, cluster_names
from .charts import ChartFetcher, default_cache_dir
from .clustercache import KIND as CLUSTER_KIND
from .clustercache import ClusterOutcome, cacheable, cluster_key, image_summary
from .config import Settings
from .findings import Finding, Rule, Severity, object_name, register
from .fingerprint import Fingerprints
from .helmstage import HelmStage
from .hosts import HostPolicy
from .inputs import Inputs, cluster_inputs
from .kustomize import B001, build, kustomization_file, kustomize_command, rel
from .load import Limits, Loaded, inline_ignores, is_ignored, load_repository
from .model import Context, Manifest
from .parsecache import ParseCache, YamlFiles
from .resultcache import ResultCache, tool_digest
from .schemas import SchemaStore, crd_cache_dir
from .schemastage import SchemaChecks

R001 = register(
    Rule(
        "R001",
        "rule-crashed",
        "engine",
        Severity.ERROR,
        "A rule of the validator raised an exception on this repository.",
        "Rules must never crash on any input; when one does, the rest of the validation still runs and the crash "
        "is reported as a finding naming the rule and the exception, so the pipeline neither passes silently nor "
        "stops with a traceback. Please report it as a bug of gitopsgen, with the repository if you can.",
    )
)


@dataclass
class Result:
    findings: list[Finding]
    clusters: list[str]
    stats: dict[str, Any] = field(default_factory=dict)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def exit_code(self) -> int:
        return 1 if self.count(Severity.ERROR) else 0


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


def select_clusters(root: Path, settings: Settings) -> list[str]:
    """The clusters under the clusters directory, or those ``settings.clusters`` names (unknown ones: an error)."""
    names = cluster_names(root, settings.clusters_dir)
    if settings.clusters:
        unknown = sorted(set(settings.clusters) - set(names))
        if unknown:
            known = ", ".join(names) or "none"
            raise InputError(f"--cluster {unknown[0]}: no {settings.clusters_dir}/{unknown[0]}/ (clusters: {known})")
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
            Repository(root, loaded, command),
            HelmStage(root, fetcher, settings.kubernetes_version, command),
        )

    def render_one(self, name: str, pool: Executor) -> Rendered:
        """One cluster as Flux would apply it: its Kustomizations built (their kustomize runs in ``pool``),
        its HelmReleases rendered."""
        result = ClusterBuilder(self.repo, name, self.settings.clusters_dir).run(pool)
        outcome = self.helm.run(result.cluster, self.repo.repo_sources)
        result.cluster.manifests += outcome.manifests
        return Rendered(result, outcome.findings, outcome.releases)

    def render(self, names: list[str]) -> list[Rendered]:
        """Several clusters, in parallel threads; the kustomize runs of all of them share one pool sized to
        the cores, so one cluster alone still builds its Kustomizations side by side."""
        if not names:
            return []
        cores = os.cpu_count() or 2
        workers = max(2, min(len(names), cores * 2))
        with ThreadPoolExecutor(max_workers=cores + 1) as builds, ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda n: self.render_one(n, builds), names))


@dataclass
class Rendered:
    build: ClusterBuild
    helm_findings: list[Finding]
    releases: int

    @property
    def findings(self) -> list[Finding]:
        return self.build.findings + self.helm_findings


class Timings(dict[str, float]):
    """Seconds per pipeline stage (the JSON report's ``stats.stages``)."""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - started


def validate(root: Path, settings: Settings) -> Result:
    started = time.perf_counter()
    root = root.resolve()
    timings = Timings()
    cache = ResultCache.open(settings.cache)
    with timings.stage("load"):
        parses = ParseCache(cache, Limits()) if cache.enabled else None
        loaded = load_repository(root, settings.ignore, parses=parses)
    with timings.stage("crds"):
        refused: list[Finding] = []
        store = schema_store(root, settings, loaded.documents, cache, refused)
    workspace = Workspace.open(root, settings, loaded)
    texts = {f: lf.text for f, lf in loaded.files.items()}

    with timings.stage("cache"):
        names = select_clusters(root, settings)
        inputs: dict[str, Inputs] = {}
        if settings.shard is not None or settings.changed_since is not None or cache.enabled:
            inputs = {n: cluster_inputs(workspace.repo, n, settings.clusters_dir) for n in names}
        scope = narrow(workspace, names, inputs)
        schemas_digest = store.digest() if cache.enabled else ""
        outcomes, keys = cached_outcomes(workspace, schemas_digest, cache, scope.names, inputs)
    with timings.stage("builds"):
        builds = workspace.render([n for n in scope.names if n not in outcomes])
    schemas = SchemaChecks(store, cache, schemas_digest)
    with timings.stage("schemas"):
        for r in builds:
            outcomes[r.build.cluster.name] = built_outcome(r, schemas)
    with timings.stage("rules"):
        for r in builds:
            outcome = outcomes[r.build.cluster.name]
            outcome.findings += run_rules(rules.CLUSTER, Context(root, [], {}, [r.build.cluster]), outcome.name)
            if outcome.name in keys and cacheable(outcome):
                cache.put(CLUSTER_KIND, keys[outcome.name], outcome.to_json())

    done = [outcomes[n] for n in scope.names]
    findings = [*loaded.findings, *refused, *(f for o in done for f in o.findings)]
    checked = sum(o.objects for o in done)
    if scope.repository:
        with timings.stage("repository"):
            reached = set().union(scope.reached, *(o.reached for o in done))
            referenced = set().union(scope.files, *(o.files for o in done))
            applied = set().union(*(o.manifest_files for o in done))
            extra, more = standalone(workspace.repo, applied, reached, referenced)
            count, schema_findings = schemas.check(extra)
            checked += count
            findings += more + schema_findings
    if scope.owner:
        with timings.stage("rules"):
            images = [i for o in done for i in o.images]
            ctx = Context(root, loaded.documents, texts, [], images, cache, scope.changed)
            findings += run_rules(rules.REPOSITORY, ctx)
    schemas.save()
    cache.prune()

    findings = [f for f in findings if f.cluster or scope.keeps(f.file)]
    stats: dict[str, Any] = {
        "files": len(loaded.files),
        "documents": len(loaded.documents),
        "clusters": len(done),
        "kustomizations": sum(o.kustomizations for o in done),
        "helm_releases": sum(o.releases for o in done),
        "objects": checked,
        "seconds": round(time.perf_counter() - started, 3),
        "stages": {k: round(v, 3) for k, v in timings.items()},
    }
    if cache.enabled:
        stats["clusters_cached"] = sum(o.cached for o in done)
    if scope.narrowed:
        stats["clusters_selected_of"] = scope.total
    return Result(finish(findings, settings, texts), [o.name for o in done], stats)


def built_outcome(r: Rendered, schemas: SchemaChecks) -> ClusterOutcome:
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
    )
    outcome.objects, more = schemas.check(cluster.manifests)
    outcome.findings += more
    return outcome


def cached_outcomes(
    ws: Workspace, schemas: str, cache: ResultCache, names: list[str], inputs: dict[str, Inputs]
) -> tuple[dict[str, ClusterOutcome], dict[str, str]]:
    """The outcomes the cache holds for ``names`` (``schemas``: the schema store's digest), and every
    cluster's key (none without a cache)."""
    if not cache.enabled:
        return {}, {}
    tool = tool_digest(ws.repo.command)
    prints = Fingerprints(ws.root)
    keys = {
        n: cluster_key(
            tool, ws.settings, schemas, ws.repo.repo_sources, ws.repo.git_urls, n, prints.of_inputs(inputs[n])
        )
        for n in names
    }
    found: dict[str, ClusterOutcome] = {}
    for n in names:
        outcome = ClusterOutcome.from_json(cache.get(CLUSTER_KIND, keys[n]), n)
        if outcome is not None:
            found[n] = outcome
    return found, keys


def run_rules(scope: str, ctx: Context, cluster: str = "") -> list[Finding]:
    """The semantic rules of ``scope`` on ``ctx`` (``cluster``: the one it holds); a crashing rule is a
    finding (R001), not the end of the run."""
    out: list[Finding] = []
    for rule, check in rules.checks(scope):
        try:
            out += list(check(ctx))
        except Exception as exc:  # a crashing rule is a bug to report, not a reason to stop the validation
            message = f"rule {rule.id} crashed: {type(exc).__name__}: {exc}"
            out.append(Finding("", 0, R001.id, message, R001.severity, cluster=cluster))
    return out


@dataclass
class Scope:
    """Which clusters this run validates, and whether it also does the repository-wide work (files no
    cluster reaches, findings that belong to no cluster) — exactly one shard does it, and a
    ``--changed-since`` run only when a changed file is outside every cluster."""

    names: list[str]
    total: int
    repository: bool = True
    owner: bool = True  # this run reports the findings of no cluster (not --cluster; shard 1 of N)
    narrowed: bool = False
    changed: set[str] | None = None  # --changed-since: the changed files
    reached: set[str] = field(default_factory=set)  # directories some cluster reads (also unselected ones)
    files: set[str] = field(default_factory=set)  # files some cluster reads

    def keeps(self, file: str) -> bool:
        """Whether a finding of no cluster, about ``file``, belongs to this run: only one run of a sharded
        validation reports them, and a ``--changed-since`` run only those about changed files (a hand edit
        of a generated overlay is reported even though the repository-wide work is skipped)."""
        if not self.owner:
            return False
        return self.changed is None or not file or file in self.changed


def narrow(ws: Workspace, names: list[str], inputs: dict[str, Inputs]) -> Scope:
    """``--shard K/N`` and ``--changed-since REF`` applied to the selected clusters (``inputs``: theirs)."""
    settings = ws.settings
    scope = Scope(names, len(names), repository=not settings.clusters, owner=not settings.clusters)
    if settings.shard is None and settings.changed_since is None:
        return scope
    scope.narrowed = True
    for i in inputs.values():
        scope.reached |= i.dirs | i.trees
        scope.files |= i.files
    if settings.changed_since is not None:
        from .. import git as gitops

        changed = gitops.changed_paths(ws.root, settings.changed_since)
        scope.changed = changed
        touched = {n: i.touched_by(changed) for n, i in inputs.items()}
        scope.names = [n for n in scope.names if touched[n]]
        read = {p for paths in touched.values() for p in paths}
        scope.repository = scope.repository and bool(changed - read)
    if settings.shard is not None:
        k, n = settings.shard
        scope.names = [name for i, name in enumerate(sorted(scope.names)) if i % n == k - 1]
        scope.repository = scope.repository and k == 1
        scope.owner = scope.owner and k == 1
    return scope


def standalone(
    repo: Repository, applied: set[str], reached: set[str], referenced: set[str]
) -> tuple[list[Manifest], list[Finding]]:
    """Kustomization directories and manifests no cluster reaches (``applied``: the files the clusters'
    objects came from): built or checked on their own."""
    findings: list[Finding] = []
    manifests: list[Manifest] = []
    scanner = repo.scanner
    dirs = sorted(
        {str(Path(f).parent) for f in repo.loaded.files if Path(f).name in ("kustomization.yaml", "kustomization.yml")}
    )
    for d in dirs:
        if d in reached or any(d.startswith(r + "/") for r in reached if r != "."):
            continue
        target = repo.root / d
        scan = scanner.scan(target)
        reached |= scan.reached
        referenced |= scan.files
        findings += scan.findings
        if scan.blocked:
            continue
        built = build(repo.root, [target], command=repo.command)
        if built.error:
            k = kustomization_file(target)
            findings.append(Finding(rel(repo.root, k) if k else d, 1, B001.id, built.error))
            continue
        for obj, origin in built.objects:
            doc = repo.match_document(origin, obj) if origin else None
            manifests.append(Manifest(obj, "", origin or d, doc.line if doc else 1, doc.lines if doc else {}))
    covered = applied | {m.file for m in manifests} | referenced
    for file, lf in repo.loaded.files.items():
        if file in covered or Path(file).name in ("kustomization.yaml", "kustomization.yml"):
            continue
        for d in lf.documents:
            if d.is_object:
                manifests.append(Manifest(d.data, "", d.file, d.line, d.lines))
    return manifests, findings


def finish(findings: list[Finding], settings: Settings, texts: dict[str, str]) -> list[Finding]:
    """Apply the settings and inline ignores, merge identical findings of several clusters, sort."""
    ignores = {f: inline_ignores(t) for f, t in texts.items()}
    merged: dict[tuple[str, int, str, str, str], tuple[Finding, list[str]]] = {}
    for f in findings:
        severity = settings.severity(f.rule)
        if severity is None or (f.file and is_ignored(f.file, settings.ignore)):
            continue
        per_line, whole = ignores.get(f.file, ({}, set()))
        if (
            f.rule in whole
            or "ALL" in whole
            or f.rule in per_line.get(f.line, set())
            or "ALL" in per_line.get(f.line, set())
        ):
            continue
        key = (f.file, f.line, f.rule, f.message, f.object)
        if key in merged:
            if f.cluster and f.cluster not in merged[key][1]:
                merged[key][1].append(f.cluster)
            continue
        merged[key] = (
            Finding(f.file, f.line, f.rule, f.message, severity, f.column, f.object, ""),
            [f.cluster] if f.cluster else [],
        )
    out = [
        Finding(f.file, f.line, f.rule, f.message, f.severity, f.column, f.object, ",".join(sorted(c)))
        for f, c in merged.values()
    ]
    return sorted(out)
