"""End-to-end tests of the validator's engine (``gitopsgen.validate.engine.validate``).

What this module owns:

- a generated two-cluster fleet, bootstrapped the way ``flux bootstrap`` leaves it (Flux CRDs in
  ``clusters/<name>/flux-system/gotk-components.yaml``, ``gotk-sync.yaml``), validated clean, then
  with one injected defect per case, each found with the right rule at the right file and line;
- the rule fixtures that cannot be committed (Y004 symlinks leaving the repository, G001 on a
  generated fleet, R001 a crashing rule);
- hostile input (alias bombs, deep nesting, huge and binary files, kustomizations reaching outside
  the repository or running code): findings, never a traceback, never a read outside the root;
- settings from ``.gitopsgen.yaml`` / ``[tool.gitopsgen]`` and inline ``# gitopsgen: ignore`` comments;
- the project's own tree, which must validate without error findings.

Charts come from ../shared/helm-repo served on 127.0.0.1 through a Helm mirror, ESO CRDs from
../shared; every test gets its own ``GITOPSGEN_CACHE_DIR``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from conftest import CLUSTER_1, CLUSTER_2, INIT_ARGS, ROOT, make_repo, run_cli, shared

from gitopsgen.errors import InputError
from gitopsgen.validate import engine
from gitopsgen.validate.catalogue import RULE_MODULES
from gitopsgen.validate.config import RuleSetting, Settings, load_settings
from gitopsgen.validate.findings import Finding, Severity

CHART_URL = "https://prefecthq.github.io/prefect-helm"
NO_G001 = {"G001": RuleSetting(enabled=False)}
SERVER_BASE = "base/prefect-server/helmrelease.yaml"
WORKER_BASE = "base/prefect-worker/helmrelease.yaml"
SERVER_PATCH_1 = "overlays/cluster-1/prefect-server/helmrelease-patch.yaml"
PREFECT_1 = "clusters/cluster-1/prefect/prefect.yaml"
PREFECT_2 = "clusters/cluster-2/prefect/prefect.yaml"
SERVER_HR = "HelmRelease prefect/prefect-server"
BOTH = "cluster-1,cluster-2"

Where = set[tuple[str, str, int]]
Owners = set[tuple[str, str]]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the developer's ~/.cache: CRD and chart caches live in the test's tmp dir."""
    cache = tmp_path / "gitopsgen-cache"
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(cache))
    return cache


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == Severity.ERROR]


def show(findings: list[Finding]) -> str:
    return "\n".join(
        f"{f.file}:{f.line}: {f.severity.value} {f.rule} {f.message} [{f.object}] ({f.cluster})" for f in findings
    )


def line_of(root: Path, file: str, needle: str) -> int:
    """The 1-based line of the only line of ``file`` containing ``needle``."""
    hits = [n for n, text in enumerate((root / file).read_text().splitlines(), start=1) if needle in text]
    assert len(hits) == 1, f"{needle!r} is on lines {hits} of {file}"
    return hits[0]


def edit(root: Path, file: str, old: str, new: str) -> None:
    """Replace the only occurrence of ``old`` in ``file``."""
    path = root / file
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {file}"
    path.write_text(text.replace(old, new))


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


# ---------------------------------------------------------------- the bootstrapped fleet


GOTK_SYNC = """\
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: main
  secretRef:
    name: flux-system
  url: {url}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./clusters/{cluster}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""
FLUX_SYSTEM_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - gotk-components.yaml
  - gotk-sync.yaml
"""


def bootstrap(root: Path, crds: Path) -> None:
    """What ``flux bootstrap`` commits in each cluster: the Flux CRDs and the sync of clusters/<name>."""
    url = yaml.safe_load((root / "gitopsgen.yaml").read_text())["git"]["url"]
    components = []
    for crd in sorted(crds.glob("*.yaml")):
        text = crd.read_text().strip()
        while text.startswith("---"):
            text = text[3:].lstrip("\n")
        components.append("---\n" + text + "\n")
    for cluster in sorted(p.name for p in (root / "clusters").iterdir() if p.is_dir()):
        write(
            root / "clusters" / cluster / "flux-system",
            {
                "gotk-components.yaml": "".join(components),
                "gotk-sync.yaml": GOTK_SYNC.format(url=url, cluster=cluster),
                "kustomization.yaml": FLUX_SYSTEM_KUSTOMIZATION,
            },
        )


@pytest.fixture(scope="module")
def clean_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The conftest ``fleet`` (init + cluster-1 + cluster-2, real git), bootstrapped, committed; built once."""
    path = tmp_path_factory.mktemp("engine") / "fleet"
    path.mkdir()
    repo = make_repo(path)
    for args in (INIT_ARGS, CLUSTER_1, CLUSTER_2):
        run_cli(*args, "--repo", str(path), check=True)
    bootstrap(path, shared("flux-crds"))
    repo.git.add(A=True)
    repo.index.commit("fleet with two clusters, bootstrapped")
    return path


@pytest.fixture(scope="module")
def fleet_settings(helm_repo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """ESO CRDs from ../shared (Flux CRDs are in the repository), charts through the local HTTP mirror."""
    return Settings(
        crds=(shared("external-secrets-crds"),),
        helm_mirrors=((CHART_URL, helm_repo_url),),
        chart_cache=tmp_path_factory.mktemp("charts"),
    )


@pytest.fixture(scope="module")
def clean_result(
    clean_fleet: Path, fleet_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> engine.Result:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GITOPSGEN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        return engine.validate(clean_fleet, fleet_settings)


def copy_fleet(clean: Path, tmp_path: Path) -> Path:
    target = tmp_path / "fleet"
    shutil.copytree(clean, target, symlinks=True)
    return target


def test_clean_fleet_has_no_error_findings(clean_result: engine.Result) -> None:
    assert clean_result.clusters == ["cluster-1", "cluster-2"]
    assert errors(clean_result.findings) == [], show(errors(clean_result.findings))


def test_clean_fleet_is_really_built(clean_result: engine.Result) -> None:
    """Both clusters are built through their gotk-sync root: every Kustomization and HelmRelease is reached."""
    stats = clean_result.stats
    assert stats["clusters"] == 2
    # flux-system + registry-credentials + server + workers (+ image automation in cluster-2)
    assert stats["kustomizations"] == 9, stats
    assert stats["helm_releases"] == 5, stats  # 2 servers, 3 worker pools


# ---------------------------------------------------------------- injected defects


@dataclass(frozen=True)
class Defect:
    """One defect injected into a copy of the clean fleet, and where it must be reported."""

    rule: str
    inject: Callable[[Path], None]
    where: Callable[[Path], Where]  # (rule, file, line) of every finding of ``rule``, computed on the edited tree
    owners: Owners  # (object, cluster) of those findings

    def settings(self, base: Settings) -> Settings:
        return base if self.rule == "G001" else replace(base, rules=dict(NO_G001))


def _secret(root: Path) -> None:
    write(
        root,
        {
            "clusters/cluster-1/db-secret.yaml": (
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prefect\n"
                "type: Opaque\nstringData:\n  password: hunter2\n"
            )
        },
    )


DEFECTS: dict[str, Defect] = {
    "K002-typo-in-overlay-patch": Defect(
        "K002",
        lambda r: edit(r, SERVER_PATCH_1, "spec:\n  chart:", "spec:\n  timout: 5m\n  chart:"),
        lambda r: {("K002", SERVER_PATCH_1, line_of(r, SERVER_PATCH_1, "timout:"))},
        {(SERVER_HR, "cluster-1")},
    ),
    "K002-typo-in-base": Defect(
        "K002",
        lambda r: edit(r, SERVER_BASE, "  timeout: 10m\n", "  timout: 10m\n"),
        lambda r: {("K002", SERVER_BASE, line_of(r, SERVER_BASE, "timout:"))},
        {(SERVER_HR, BOTH)},
    ),
    "K004-helmrelease-v2beta2-in-base": Defect(
        "K004",
        lambda r: edit(
            r, SERVER_BASE, "apiVersion: helm.toolkit.fluxcd.io/v2\n", "apiVersion: helm.toolkit.fluxcd.io/v2beta2\n"
        ),
        lambda r: {("K004", SERVER_BASE, line_of(r, SERVER_BASE, "apiVersion:"))},
        {(SERVER_HR, BOTH)},
    ),
    "B003-undefined-variable": Defect(
        "B003",
        lambda r: edit(r, PREFECT_2, "      prefect_server_tag:", "      prefect_server_tga:"),
        lambda r: {("B003", SERVER_BASE, line_of(r, SERVER_BASE, "${prefect_server_tag}"))},
        {(SERVER_HR, "cluster-2")},
    ),
    "F003-depends-on-missing": Defect(
        "F003",
        lambda r: edit(r, PREFECT_1, "    - name: prefect-server\n", "    - name: prefect-srv\n"),
        lambda r: {("F003", PREFECT_1, line_of(r, PREFECT_1, "- name: prefect-srv"))},
        {("Kustomization flux-system/prefect-workers", "cluster-1")},
    ),
    "F004-depends-on-cycle": Defect(
        "F004",
        lambda r: edit(
            r,
            PREFECT_1,
            "  path: ./overlays/cluster-1/registry-credentials\n",
            "  dependsOn:\n    - name: prefect-workers\n  path: ./overlays/cluster-1/registry-credentials\n",
        ),
        lambda r: {("F004", PREFECT_1, line_of(r, PREFECT_1, "- name: prefect-workers"))},
        {("Kustomization flux-system/prefect-registry-credentials", "cluster-1")},
    ),
    "F001-path-not-found": Defect(
        "F001",
        lambda r: edit(
            r, PREFECT_1, "path: ./overlays/cluster-1/prefect-worker\n", "path: ./overlays/cluster-1/workers\n"
        ),
        lambda r: {("F001", PREFECT_1, line_of(r, PREFECT_1, "path: ./overlays/cluster-1/workers"))},
        {("Kustomization flux-system/prefect-workers", "cluster-1")},
    ),
    "B001-missing-resource": Defect(
        "B001",
        lambda r: edit(
            r, "overlays/cluster-1/prefect-worker/kustomization.yaml", "resources:\n", "resources:\n  - missing.yaml\n"
        ),
        lambda r: {
            (
                "B001",
                "overlays/cluster-1/prefect-worker/kustomization.yaml",
                line_of(r, "overlays/cluster-1/prefect-worker/kustomization.yaml", "missing.yaml"),
            )
        },
        {("Kustomization flux-system/prefect-workers", "cluster-1")},
    ),
    "B002-remote-base": Defect(
        "B002",
        lambda r: edit(
            r,
            "overlays/cluster-1/prefect-server/kustomization.yaml",
            "resources:\n",
            "resources:\n  - https://github.com/example/fleet//base/prefect-server?ref=v1\n",
        ),
        lambda r: {
            (
                "B002",
                "overlays/cluster-1/prefect-server/kustomization.yaml",
                line_of(r, "overlays/cluster-1/prefect-server/kustomization.yaml", "github.com"),
            )
        },
        {("Kustomization flux-system/prefect-server", "cluster-1")},
    ),
    "H001-chart-version-in-overlay-patch": Defect(
        "H001",
        lambda r: edit(r, SERVER_PATCH_1, "version: 2026.8.18172642", "version: 2099.1.1"),
        lambda r: {("H001", SERVER_PATCH_1, line_of(r, SERVER_PATCH_1, "chart:"))},  # H001 points at spec.chart
        {(SERVER_HR, "cluster-1")},
    ),
    "H002-values-type-in-overlay-patch": Defect(
        "H002",
        lambda r: edit(r, SERVER_PATCH_1, "replicaCount: 1", "replicaCount: one"),
        lambda r: {("H002", SERVER_PATCH_1, line_of(r, SERVER_PATCH_1, "replicaCount: one"))},
        {(SERVER_HR, "cluster-1")},
    ),
    "H002-values-type-in-base": Defect(
        "H002",
        lambda r: edit(
            r,
            SERVER_BASE,
            "    server:\n      automountServiceAccountToken: false",
            '    server:\n      automountServiceAccountToken: "no"',
        ),
        lambda r: {("H002", SERVER_BASE, line_of(r, SERVER_BASE, 'automountServiceAccountToken: "no"'))},
        {(SERVER_HR, BOTH)},
    ),
    "P001-worker-api-url-wrong-service": Defect(
        "P001",
        lambda r: edit(r, WORKER_BASE, "apiUrl: http://prefect-server.", "apiUrl: http://prefect-api."),
        lambda r: {("P001", WORKER_BASE, line_of(r, WORKER_BASE, "apiUrl:"))},
        {
            ("HelmRelease prefect/prefect-worker-default", "cluster-1"),
            ("HelmRelease prefect/prefect-worker-etl", "cluster-2"),
            ("HelmRelease prefect/prefect-worker-ml", "cluster-2"),
        },
    ),
    "S001-plaintext-secret": Defect(
        "S001",
        _secret,
        lambda r: {
            (
                "S001",
                "clusters/cluster-1/db-secret.yaml",
                line_of(r, "clusters/cluster-1/db-secret.yaml", "stringData:"),
            )
        },
        {("Secret prefect/db", "")},  # S001 looks at what sits in Git, not at a cluster
    ),
    "Y002-duplicate-key": Defect(
        "Y002",
        lambda r: edit(r, SERVER_PATCH_1, "      replicaCount: 1\n", "      replicaCount: 1\n      replicaCount: 2\n"),
        lambda r: {("Y002", SERVER_PATCH_1, line_of(r, SERVER_PATCH_1, "replicaCount: 2"))},
        {("", "")},
    ),
    "Y001-syntax-error": Defect(
        "Y001",
        lambda r: edit(r, "clusters/cluster-1/prefect/notifications.yaml", "  type: gitlab\n", "  type: [gitlab\n"),
        lambda r: {
            (
                "Y001",
                "clusters/cluster-1/prefect/notifications.yaml",
                line_of(r, "clusters/cluster-1/prefect/notifications.yaml", "address:"),  # where the parser stops
            )
        },
        {("", "")},
    ),
    "G001-hand-edit": Defect(
        "G001",
        lambda r: edit(r, SERVER_BASE, "  timeout: 10m\n", "  timeout: 11m\n"),
        lambda r: {("G001", SERVER_BASE, line_of(r, SERVER_BASE, "timeout: 11m"))},
        {("", "")},
    ),
}


@pytest.fixture(scope="module")
def defect_runs() -> dict[str, tuple[Path, engine.Result]]:
    """Each defect's (tree, result), computed by the first test that needs it and shared with the others."""
    return {}


@pytest.fixture
def run_defect(
    defect_runs: dict[str, tuple[Path, engine.Result]],
    clean_fleet: Path,
    fleet_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], tuple[Path, engine.Result]]:
    def run(case: str) -> tuple[Path, engine.Result]:
        if case not in defect_runs:
            root = copy_fleet(clean_fleet, tmp_path_factory.mktemp(case))
            defect = DEFECTS[case]
            defect.inject(root)
            defect_runs[case] = (root, engine.validate(root, defect.settings(fleet_settings)))
        return defect_runs[case]

    return run


@pytest.mark.parametrize("case", list(DEFECTS))
def test_defect_is_found_at_its_file_and_line(
    case: str, run_defect: Callable[[str], tuple[Path, engine.Result]]
) -> None:
    root, result = run_defect(case)
    defect = DEFECTS[case]
    found = {(f.rule, f.file, f.line) for f in result.findings if f.rule == defect.rule}
    assert found == defect.where(root), show(result.findings)


@pytest.mark.parametrize("case", list(DEFECTS))
def test_defect_names_its_object_and_clusters(
    case: str, run_defect: Callable[[str], tuple[Path, engine.Result]]
) -> None:
    _, result = run_defect(case)
    defect = DEFECTS[case]
    owners = {(f.object, f.cluster) for f in result.findings if f.rule == defect.rule}
    assert owners == defect.owners, show(result.findings)
    assert all(isinstance(f.column, int) for f in result.findings), show(result.findings)


def test_g001_hand_edit_is_the_only_error(run_defect: Callable[[str], tuple[Path, engine.Result]]) -> None:
    """A harmless hand edit of a generated file: only G001, at the first differing line."""
    root, result = run_defect("G001-hand-edit")
    assert [(f.rule, f.file, f.line) for f in errors(result.findings)] == [
        ("G001", SERVER_BASE, line_of(root, SERVER_BASE, "timeout: 11m"))
    ], show(result.findings)


DUPLICATE = {  # the same ConfigMap twice: kustomize itself fails (B001 from the build, not from the pre-scan)
    "clusters/c1/app/kustomization.yaml": "resources:\n  - cm.yaml\n  - again.yaml\n",
    "clusters/c1/app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\n",
    "clusters/c1/app/again.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\n",
}


@pytest.fixture
def build_error(tmp_path: Path) -> list[Finding]:
    result = engine.validate(write(tmp_path / "repo", dict(DUPLICATE)), Settings())
    return [f for f in result.findings if f.rule == "B001"]


def test_build_error_is_found(build_error: list[Finding]) -> None:
    assert [(f.file, f.line) for f in build_error] == [("clusters/c1/app/again.yaml", 1)], show(build_error)
    assert "already registered id" in build_error[0].message


def test_build_error_names_its_object_and_cluster(build_error: list[Finding]) -> None:
    assert [(f.object, f.cluster, f.column) for f in build_error] == [
        ("Kustomization flux-system/flux-system", "c1", 0)
    ]


def test_build_error_message_names_no_outside_path(build_error: list[Finding], tmp_path: Path) -> None:
    message = build_error[0].message
    assert "../" not in message and tmp_path.name not in message, message


# ---------------------------------------------------------------- G001 on the generated fleet


def test_g001_passes_on_a_fresh_fleet(clean_result: engine.Result) -> None:
    assert [f for f in clean_result.findings if f.rule == "G001"] == []


def test_g001_stale_generated_file_but_not_a_users_file(
    clean_fleet: Path, fleet_settings: Settings, tmp_path: Path
) -> None:
    root = copy_fleet(clean_fleet, tmp_path)
    stray = "overlays/cluster-1/prefect-server/stray.yaml"
    write(root, {stray: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n  namespace: prefect\n"})
    result = engine.validate(root, fleet_settings)
    # a file gitopsgen did not write is the user's: generate leaves it alone, so it is no drift
    assert [f for f in result.findings if f.rule == "G001"] == [], show(result.findings)
    manifest = root / "overlays/cluster-1/.generated-files"
    manifest.write_text(manifest.read_text() + stray + "\n")  # as if an earlier generate had written it
    result = engine.validate(root, fleet_settings)
    found = {(f.file, f.line) for f in result.findings if f.rule == "G001"}
    # the stale file, and the manifest that lists it (a hand edit: generate writes it without that line)
    assert {file for file, _ in found} == {stray, "overlays/cluster-1/.generated-files"}, show(result.findings)
    assert (stray, 0) in found


# ---------------------------------------------------------------- small repositories


DEPLOYMENT = """\
apiVersion: v1
kind: Namespace
metadata:
  name: apps
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:latest
          resources:
            requests:
              cpu: 10m
              memory: 16Mi
"""
IMAGE_LINE = 23  # of DEPLOYMENT: where S005 (floating tag) points
PLAINTEXT_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: apps
stringData:
  password: hunter2
"""


def small_repo(root: Path, extra: dict[str, str | bytes] | None = None) -> Path:
    """clusters/c1/app.yaml: a Deployment with a floating image tag (S005 warning at IMAGE_LINE) and nothing else."""
    return write(root, {"clusters/c1/app.yaml": DEPLOYMENT, **(extra or {})})


def where(findings: list[Finding], rule: str) -> set[tuple[str, int]]:
    return {(f.file, f.line) for f in findings if f.rule == rule}


def test_small_repo_baseline(tmp_path: Path) -> None:
    """The small repository the config tests start from: one S005 warning, no error."""
    result = engine.validate(small_repo(tmp_path / "repo"), Settings())
    assert where(result.findings, "S005") == {("clusters/c1/app.yaml", IMAGE_LINE)}
    assert [f.severity for f in result.findings if f.rule == "S005"] == [Severity.WARNING]
    assert errors(result.findings) == [], show(result.findings)


# ---------------------------------------------------------------- runtime fixtures: Y004, R001


class OpenAudit:
    """Records every file or directory the process opens or lists under ``watched`` (a sys audit hook)."""

    active: ClassVar[list[OpenAudit]] = []
    installed: ClassVar[bool] = False

    def __init__(self, watched: Path) -> None:
        self.watched = watched.resolve()
        self.touched: list[str] = []

    @classmethod
    def hook(cls, event: str, args: tuple[Any, ...]) -> None:
        if not cls.active or event not in ("open", "os.listdir", "os.scandir") or not args:
            return
        target = args[0]
        if not isinstance(target, (str, bytes, os.PathLike)):
            return
        path = os.path.abspath(os.fsdecode(target))
        for audit in cls.active:
            if path == str(audit.watched) or path.startswith(str(audit.watched) + os.sep):
                audit.touched.append(f"{event} {path}")

    def __enter__(self) -> OpenAudit:
        if not OpenAudit.installed:
            sys.addaudithook(OpenAudit.hook)
            OpenAudit.installed = True
        OpenAudit.active.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        OpenAudit.active.remove(self)


def test_open_audit_sees_reads(tmp_path: Path) -> None:
    """The audit the no-read-outside assertions rely on does see a read."""
    (tmp_path / "f.yaml").write_text("a: 1\n")
    with OpenAudit(tmp_path) as audit:
        (tmp_path / "f.yaml").read_text()
    assert audit.touched


def test_y004_symlinks_leaving_the_repository(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", {"bad.yaml": "key: [unclosed\n", "dir/also-bad.yaml": "a: [\n"})
    root = small_repo(tmp_path / "repo")
    (root / "clusters/c1/link.yaml").symlink_to(outside / "bad.yaml")
    (root / "clusters/c1/linked").symlink_to(outside / "dir", target_is_directory=True)
    (root / "clusters/c1/inside.yaml").symlink_to(root / "clusters/c1/app.yaml")  # inside: fine
    with OpenAudit(outside) as audit:
        result = engine.validate(root, Settings())
    assert where(result.findings, "Y004") == {("clusters/c1/link.yaml", 0), ("clusters/c1/linked", 0)}, show(
        result.findings
    )
    assert where(result.findings, "Y001") == set(), "a symlink's target outside the repository was parsed"
    assert audit.touched == []


def test_r001_a_crashing_rule_is_a_finding_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashing = next(m for m in RULE_MODULES if m.RULE.id == "S001")

    def boom(ctx: object) -> list[Finding]:
        raise RuntimeError("boom")

    monkeypatch.setattr(crashing, "check", boom)
    root = small_repo(tmp_path / "repo", {"clusters/c1/secret.yaml": PLAINTEXT_SECRET})
    result = engine.validate(root, Settings())
    r001 = [f for f in result.findings if f.rule == "R001"]
    assert len(r001) == 1, show(result.findings)
    assert "S001" in r001[0].message and "RuntimeError: boom" in r001[0].message
    assert r001[0].severity == Severity.ERROR
    assert where(result.findings, "S001") == set()
    assert where(result.findings, "S005") == {("clusters/c1/app.yaml", IMAGE_LINE)}  # the rule after it ran


# ---------------------------------------------------------------- hostile input


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Hostile:
    files: Callable[[Path], dict[str, str | bytes]]  # given the outside directory
    expected: Where


def _kustomization(body: str) -> str:
    return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + body


KS = "clusters/c2/app/kustomization.yaml"  # in a cluster of its own: a blocked build blocks its whole cluster
EXEC_PLUGIN = """\
apiVersion: example.com/v1
kind: Chmoder
metadata:
  name: chmoder
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: ./plugin.sh
"""

HOSTILE: dict[str, Hostile] = {
    "alias-bomb": Hostile(lambda o: {"clusters/c1/bomb.yaml": _alias_bomb()}, {("Y003", "clusters/c1/bomb.yaml", 7)}),
    "deep-nesting": Hostile(
        lambda o: {"clusters/c1/deep.yaml": "a: " + "[" * 10_000 + "]" * 10_000 + "\n"},
        {("Y003", "clusters/c1/deep.yaml", 1)},
    ),
    "invalid-utf8": Hostile(
        lambda o: {"clusters/c1/latin1.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n"},
        {("Y001", "clusters/c1/latin1.yaml", 4)},
    ),
    "binary": Hostile(  # an ELF header: the first byte that is not UTF-8 (0x80) follows the \n (0x0a)
        lambda o: {"clusters/c1/x.yaml": b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4},
        {("Y001", "clusters/c1/x.yaml", 2)},
    ),
    "binary-nul": Hostile(
        lambda o: {"clusters/c1/x.yaml": b"a: 1\nb: \x00\x01\x02\x03\n"},
        {("Y001", "clusters/c1/x.yaml", 2)},
    ),
    "resources-up-to-etc": Hostile(
        lambda o: {KS: _kustomization("resources:\n  - ../../../../etc\n")}, {("B002", KS, 4)}
    ),
    "resources-absolute-path": Hostile(lambda o: {KS: _kustomization(f"resources:\n  - {o}\n")}, {("B002", KS, 4)}),
    "helm-charts": Hostile(
        lambda o: {
            KS: _kustomization(
                "helmCharts:\n  - name: prefect-server\n    repo: https://prefecthq.github.io/prefect-helm\n"
                "    version: 2026.8.18172642\n"
            )
        },
        {("B002", KS, 3)},
    ),
    "exec-transformer": Hostile(
        lambda o: {
            KS: _kustomization("resources:\n  - cm.yaml\ntransformers:\n  - plugin.yaml\n"),
            "clusters/c2/app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: apps\n",
            "clusters/c2/app/plugin.yaml": EXEC_PLUGIN,
            "clusters/c2/app/plugin.sh": f"#!/bin/sh\ntouch {o}/plugin-ran\ncat\n",
        },
        {("B002", KS, 6)},
    ),
    "remote-resource": Hostile(
        lambda o: {
            KS: _kustomization("resources:\n  - github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.0.0\n")
        },
        {("B002", KS, 4)},
    ),
}


def hostile_repo(tmp_path: Path, case: str) -> tuple[Path, Path]:
    outside = write(
        tmp_path / "outside",
        {
            "kustomization.yaml": _kustomization("resources:\n  - secret.yaml\n"),
            "secret.yaml": PLAINTEXT_SECRET + "  key: [unclosed\n",
        },
    )
    root = small_repo(tmp_path / "repo", HOSTILE[case].files(outside))
    for script in root.rglob("*.sh"):
        script.chmod(0o755)
    return root, outside


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_input_is_a_finding(case: str, tmp_path: Path) -> None:
    root, outside = hostile_repo(tmp_path, case)
    with OpenAudit(outside) as audit:
        result = engine.validate(root, Settings())
    rules = {rule for rule, _, _ in HOSTILE[case].expected}
    found = {(f.rule, f.file, f.line) for f in result.findings if f.rule in rules}
    assert found == HOSTILE[case].expected, show(result.findings)
    assert audit.touched == [], "read outside the repository"
    assert not (outside / "plugin-ran").exists(), "a kustomize exec plugin ran"
    assert not any(f.file.startswith(("/", "..")) for f in result.findings), show(result.findings)
    assert where(result.findings, "S005") == {("clusters/c1/app.yaml", IMAGE_LINE)}  # the rest was validated


def test_hostile_huge_file(tmp_path: Path) -> None:
    """A 20 MB file (sparse) is refused by size before it is read."""
    root = small_repo(tmp_path / "repo")
    with (root / "clusters/c1/huge.yaml").open("wb") as f:
        f.truncate(20 * 1024 * 1024)
    with OpenAudit(root / "clusters/c1/huge.yaml") as audit:
        result = engine.validate(root, Settings())
    assert where(result.findings, "Y003") == {("clusters/c1/huge.yaml", 1)}, show(result.findings)
    assert audit.touched == [], "the oversized file was opened"


# ---------------------------------------------------------------- settings and suppression


def test_config_disables_a_rule(tmp_path: Path) -> None:
    root = small_repo(tmp_path / "repo", {".gitopsgen.yaml": "disable: [S005]\n"})
    result = engine.validate(root, load_settings(root))
    assert where(result.findings, "S005") == set(), show(result.findings)


def test_config_rules_table_disables_a_rule(tmp_path: Path) -> None:
    root = small_repo(tmp_path / "repo", {".gitopsgen.yaml": "rules:\n  S005:\n    enabled: false\n"})
    assert where(engine.validate(root, load_settings(root)).findings, "S005") == set()


def test_config_changes_a_severity(tmp_path: Path) -> None:
    root = small_repo(tmp_path / "repo", {".gitopsgen.yaml": "rules:\n  S005: {severity: error}\n"})
    result = engine.validate(root, load_settings(root))
    assert [(f.rule, f.severity) for f in result.findings if f.rule == "S005"] == [("S005", Severity.ERROR)]
    assert result.exit_code == 1
    assert engine.validate(root, Settings()).exit_code == 0


@pytest.mark.parametrize(
    "pattern", ["clusters/c1/secret.yaml", "clusters/*/secret.yaml", "clusters/c1", "**/secret.yaml"]
)
def test_config_ignore_globs(pattern: str, tmp_path: Path) -> None:
    root = small_repo(tmp_path / "repo", {"clusters/c1/secret.yaml": PLAINTEXT_SECRET})
    assert where(engine.validate(root, Settings()).findings, "S001") == {("clusters/c1/secret.yaml", 6)}
    write(root, {".gitopsgen.yaml": yaml.safe_dump({"ignore": [pattern]})})
    result = engine.validate(root, load_settings(root))
    assert where(result.findings, "S001") == set(), show(result.findings)


def test_config_from_pyproject(tmp_path: Path) -> None:
    root = small_repo(
        tmp_path / "repo", {"pyproject.toml": '[project]\nname = "x"\n\n[tool.gitopsgen]\ndisable = ["S005"]\n'}
    )
    settings = load_settings(root)
    assert settings.source == "pyproject.toml [tool.gitopsgen]"
    assert where(engine.validate(root, settings).findings, "S005") == set()


def test_dotfile_wins_over_pyproject(tmp_path: Path) -> None:
    root = small_repo(
        tmp_path / "repo",
        {
            "pyproject.toml": '[tool.gitopsgen]\ndisable = ["S005"]\n',
            ".gitopsgen.yaml": "rules:\n  S005: {severity: info}\n",
        },
    )
    result = engine.validate(root, load_settings(root))
    assert [f.severity for f in result.findings if f.rule == "S005"] == [Severity.INFO]


def _with_comment(line: int, comment: str, *, own_line: bool = False) -> str:
    """DEPLOYMENT with ``comment`` at the end of ``line``, or on a line of its own inserted before it."""
    lines = DEPLOYMENT.splitlines()
    if own_line:
        lines.insert(line - 1, " " * 10 + comment)
    else:
        lines[line - 1] += "  " + comment
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "suppressed"),
    [
        pytest.param(_with_comment(IMAGE_LINE, "# gitopsgen: ignore=S005"), True, id="same-line"),
        pytest.param(_with_comment(IMAGE_LINE, "# gitopsgen: ignore=s005,S006"), True, id="same-line-list"),
        pytest.param(_with_comment(IMAGE_LINE, "# gitopsgen: ignore=ALL"), True, id="same-line-all"),
        pytest.param(_with_comment(IMAGE_LINE, "# gitopsgen: ignore=S001"), False, id="same-line-other-rule"),
        pytest.param(_with_comment(IMAGE_LINE, "# gitopsgen: ignore=S005", own_line=True), True, id="line-before"),
        pytest.param(
            _with_comment(IMAGE_LINE, "# gitopsgen: ignore=S001", own_line=True), False, id="line-before-other-rule"
        ),
        pytest.param(
            _with_comment(IMAGE_LINE - 1, "# gitopsgen: ignore=S005", own_line=True), False, id="two-lines-before"
        ),
        pytest.param(_with_comment(IMAGE_LINE - 1, "# gitopsgen: ignore=S005"), False, id="code-line-before"),
        pytest.param("# gitopsgen: ignore-file=S005\n" + DEPLOYMENT, True, id="ignore-file"),
        pytest.param("# gitopsgen: ignore-file=K001\n" + DEPLOYMENT, False, id="ignore-file-other-rule"),
    ],
)
def test_inline_ignore(text: str, suppressed: bool, tmp_path: Path) -> None:
    root = write(tmp_path / "repo", {"clusters/c1/app.yaml": text})
    result = engine.validate(root, Settings())
    s005 = [f for f in result.findings if f.rule == "S005"]
    if suppressed:
        assert s005 == [], show(result.findings)
    else:
        assert len(s005) == 1 and s005[0].file == "clusters/c1/app.yaml", show(result.findings)


def test_inline_ignore_covers_only_its_file(tmp_path: Path) -> None:
    root = write(
        tmp_path / "repo",
        {
            "clusters/c1/app.yaml": "# gitopsgen: ignore-file=S005\n" + DEPLOYMENT,
            "clusters/c1/other.yaml": DEPLOYMENT.replace("name: apps", "name: other").replace(
                "namespace: apps", "namespace: other"
            ),
        },
    )
    result = engine.validate(root, Settings())
    assert where(result.findings, "S005") == {("clusters/c1/other.yaml", IMAGE_LINE)}, show(result.findings)


# ---------------------------------------------------------------- this repository


def test_the_projects_own_tree_validates(helm_repo_url: str, tmp_path: Path) -> None:
    settings = replace(
        load_settings(ROOT),  # [tool.gitopsgen] ignores tests/: the rule fixtures are broken on purpose
        crds=(shared("flux-crds"), shared("external-secrets-crds")),
        helm_mirrors=((CHART_URL, helm_repo_url),),
        chart_cache=tmp_path / "charts",
    )
    result = engine.validate(ROOT, settings)
    assert result.clusters, "no cluster found in the project's tree"
    assert errors(result.findings) == [], show(errors(result.findings))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("disable: [K005, X123]\n", "disable: unknown rule 'X123' (see 'gitopsgen rules')"),
        ("rules:\n  k004: {severity: warning}\n  nope: {enabled: false}\n", "rules: unknown rule 'nope'"),
    ],
)
def test_the_engine_refuses_an_unknown_rule_id_of_the_config(tmp_path: Path, config: str, message: str) -> None:
    root = small_repo(tmp_path / "repo", {".gitopsgen.yaml": config})
    settings = load_settings(root)  # reading the file knows no catalogue: the engine checks the IDs
    with pytest.raises(InputError) as raised:
        engine.validate(root, settings)
    assert str(raised.value).startswith(".gitopsgen.yaml: ") and message in str(raised.value)
