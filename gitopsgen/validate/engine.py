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
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import rules
from .build import ClusterBuild, ClusterBuilder, Repository
from .charts import ChartFetcher, default_cache_dir
from .clustercache import KIND as CLUSTER_KIND
from .clustercache import ClusterOutcome, cacheable, chart_cache_listing, cluster_key, image_summary
from .config import Settings
from .findings import Finding, Rule, Severity, object_name, register
from .fingerprint import Fingerprints
from .helmstage import HelmStage
from .hosts import HostPolicy
from .inputs import Inputs, cluster_inputs
from .kustomize import B001, build, kustomization_file, kustomize_command, rel
from .kustomize import RUNS as kustomize_runs
from .load import Limits, Loaded, inline_ignores, is_ignored, load_repository
from .model import Context, Manifest
from .negcache import NegativeCache
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
    entries: list[str] = field(default_factory=list)  # where each cluster starts, or how the run checked files

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
        outcome = self.helm.run(result.cluster, self.repo.repo_sources)
        result.cluster.manifests += outcome.manifests
        return Rendered(result, outcome.findings, outcome.releases, outcome.floating)

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
    floating: bool = False  # a chart of a floating version was rendered

    @property
    def findings(self) -> list[Finding]:
        return self.build.findings + self.helm_findings


# what a person watching a long run is told at the start of each stage
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
    root = root.resolve()
    timings = Timings(progress)
    cache = ResultCache.open(settings.cache)
    with timings.stage("load"):
        parses = ParseCache(cache, Limits()) if cache.enabled else None
        loaded = load_repository(root, settings.ignore, parses=parses)
    with timings.stage("crds"):
        refused: list[Finding] = []
        store = schema_store(root, settings, loaded.documents, cache, refused)
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
        schemas_digest = store.digest() if cache.enabled else ""
        outcomes, keys = cached_outcomes(workspace, schemas_digest, cache, scope.names, inputs)
    schemas = SchemaChecks(store, cache, schemas_digest)
    # each cluster's schema checks and rules run as soon as it is built, while the next ones build; "builds"
    # is then the time spent waiting for builds, "schemas" and "rules" the time spent on them
    with timings.overlapped("builds", "schemas", "rules") as spent:
        for r in workspace.render_each([n for n in scope.names if n not in outcomes]):
            name = r.build.cluster.name
            with spent("schemas"):
                outcome = outcomes[name] = built_outcome(r, schemas, workspace.repo.entries[name].operator)
            with spent("rules"):
                outcome.findings += run_rules(rules.CLUSTER, Context(root, [], {}, [r.build.cluster]), outcome.name)
                negative = workspace.helm.fetcher.negative
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
                extra, more = [], unreached(workspace.repo, applied, reached, referenced)
            else:
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
        "kustomize_runs": kustomize_runs.value - runs,  # processes started (of this run alone when runs do not overlap)
        "seconds": round(time.perf_counter() - started, 3),
        "stages": {k: round(v, 3) for k, v in timings.items()},
    }
    if cache.enabled:
        stats["clusters_cached"] = sum(o.cached for o in done)
    if scope.narrowed:
        stats["clusters_selected_of"] = scope.total
    return Result(finish(findings, settings, texts), [o.name for o in done], stats, entry_lines(workspace.repo, names))


NO_ENTRY = (
    "no cluster found: no flux-system GitRepository/OCIRepository + Kustomization pair, FluxInstance sync or "
    "{dir}/<name>/ directory, so every file was checked on its own and nothing was built; name where Flux starts "
    "with --entry PATH (a directory or the file of its root Kustomization or FluxInstance) or 'entries:' in "
    ".gitopsgen.yaml"
)


def entry_lines(repo: Repository, names: list[str]) -> list[str]:
    """One line per cluster validated: its name and the entry it starts from (how to name one when none)."""
    if not repo.entries:
        return [NO_ENTRY.format(dir=repo.clusters_dir)]
    return [f"cluster {repo.entries[n].describe()}" for n in names]


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
    outcome.objects, more = schemas.check(cluster.manifests, operator)
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
    # offline, Helm reads only the chart cache: its listing is an input (see clustercache)
    charts = None
    if ws.settings.offline:  # and the mirror directories it may read instead
        local = [Path(m) for _, m in ws.settings.helm_mirrors if "://" not in m]
        charts = [chart_cache_listing(d) for d in (ws.helm.fetcher.cache_dir, *local)]
    keys = {
        n: cluster_key(
            tool,
            ws.settings,
            schemas,
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


F006 = register(
    Rule(
        "F006",
        "not-applied-by-any-cluster",
        "flux",
        Severity.INFO,
        "Manifests or kustomizations that no cluster's Flux applies: not checked.",
        "Where the repository has clusters (see 'How clusters are found'), only what their Flux Kustomizations "
        "apply is built and checked, as Flux would: a kustomize Component is built inside the Kustomizations that "
        "use it, and directories no cluster reaches (bootstrap manifests applied by hand or by another tool, "
        "templates, examples) are not built, so they raise no error. This finding lists them, one per directory, "
        "so that a directory a cluster was meant to apply is noticed. Name another entry with --entry (or "
        "'entries:' in the configuration) to validate what applies them.",
    )
)


def unreached(repo: Repository, applied: set[str], reached: set[str], referenced: set[str]) -> list[Finding]:
    """F006: the directories of kustomizations and manifests no cluster reaches (``applied``: the files the
    clusters' objects came from), not built."""
    covered = applied | referenced
    kustomizations: dict[str, int] = {}
    manifests: dict[str, int] = {}
    first: dict[str, str] = {}  # directory → its first such file (where the finding points)
    for file, lf in sorted(repo.loaded.files.items()):
        directory = str(Path(file).parent)
        if directory in reached or any(directory.startswith(r + "/") for r in reached if r != "."):
            continue
        if Path(file).name in ("kustomization.yaml", "kustomization.yml"):
            kustomizations[directory] = kustomizations.get(directory, 0) + 1
        elif file not in covered and any(d.is_object for d in lf.documents):
            manifests[directory] = manifests.get(directory, 0) + 1
        else:
            continue
        first.setdefault(directory, file)
    dirs = sorted(set(kustomizations) | set(manifests))
    tops = [d for d in dirs if not any(t != d and (t == "." or d.startswith(t + "/")) for t in dirs)]
    findings: list[Finding] = []
    for top in tops:
        below = [d for d in dirs if d == top or top == "." or d.startswith(top + "/")]
        k = sum(kustomizations.get(d, 0) for d in below)
        m = sum(manifests.get(d, 0) for d in below)
        parts = [f"{n} {word}{'s' if n > 1 else ''}" for n, word in ((k, "kustomization"), (m, "manifest file")) if n]
        where = "the repository root" if top == "." else f"{top}/"
        message = f"{' and '.join(parts)} under {where} applied by no cluster: not built or checked"
        findings.append(Finding(min(first[d] for d in below), 0, F006.id, message, F006.severity))
    return findings


def standalone(
    repo: Repository, applied: set[str], reached: set[str], referenced: set[str]
) -> tuple[list[Manifest], list[Finding]]:
    """Kustomization directories and manifests when the repository has no cluster: built or checked on their
    own (``applied``: the files the clusters' objects came from)."""
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
    return sorted(per_kind(out))


PER_KIND = frozenset({"K005"})  # rules reported once per message (one kind), not once per object


def per_kind(findings: list[Finding]) -> list[Finding]:
    """The findings of :data:`PER_KIND` rules with the same message as one, at the first place, saying how
    many objects in how many files it stands for, with every cluster."""
    groups: dict[tuple[str, str, Severity], list[Finding]] = {}
    out: list[Finding] = []
    for f in findings:
        if f.rule in PER_KIND:
            groups.setdefault((f.rule, f.message, f.severity), []).append(f)
        else:
            out.append(f)
    for same in groups.values():
        same.sort()
        first = same[0]
        clusters = sorted({c for f in same for c in f.cluster.split(",") if c})
        files = len({f.file for f in same})
        message = first.message
        if len(same) > 1:
            message += f" ({len(same)} objects in {files} file{'s' if files > 1 else ''}, the first here)"
        out.append(
            Finding(
                first.file,
                first.line,
                first.rule,
                message,
                first.severity,
                first.column,
                first.object,
                ",".join(clusters),
            )
        )
    return out
