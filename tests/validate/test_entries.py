"""Clusters found where Flux starts (:mod:`gitopsgen.validate.entries`) and built from every source kind
that is this repository (:mod:`gitopsgen.validate.sources`): one minimal repository per pattern."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import shared

from gitopsgen.errors import InputError
from gitopsgen.validate import engine
from gitopsgen.validate.config import Settings
from gitopsgen.validate.entries import discover, normal_path
from gitopsgen.validate.findings import Severity
from gitopsgen.validate.load import load_repository
from gitopsgen.validate.sources import url_key

SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: {kind}
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m
  url: {url}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m
  path: {path}
  prune: true
  sourceRef:
    kind: {kind}
    name: flux-system
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: default
data:
  key: value
"""


def child(name: str, path: str, source: str = "GitRepository", source_name: str = "flux-system") -> str:
    return f"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: flux-system
spec:
  interval: 10m
  path: {path}
  prune: true
  sourceRef:
    kind: {source}
    name: {source_name}
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def run(root: Path, **kw: object) -> engine.Result:
    return engine.validate(root, Settings(cache=False, offline=True, **kw))  # type: ignore[arg-type]


# ---------------------------------------------------------------- discovery (no kustomize)


def test_normal_path() -> None:
    assert normal_path("./clusters/prod/") == "clusters/prod"
    assert normal_path("./") == normal_path("") == normal_path("/") == "."
    assert normal_path("../up") is None and normal_path("a/../../b") is None
    assert normal_path("./${CLUSTER}") is None


def test_url_key_compares_ssh_and_https() -> None:
    assert (
        url_key("ssh://git@github.com/org/repo.git")
        == url_key("https://github.com/org/repo")
        == url_key("git@github.com:org/repo")
    )
    assert url_key("https://github.com/org/repo") != url_key("https://github.com/org/other")


def test_bootstrap_pair_anywhere_names_the_cluster_after_its_directory(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "kubernetes/main/flux/gotk-sync.yaml": SYNC.format(
                kind="GitRepository", url="https://x/r", path="./kubernetes/main"
            ),
            "kubernetes/main/app.yaml": CONFIGMAP.format(name="main-app"),
            "kubernetes/edge/flux-system/gotk-sync.yaml": SYNC.format(
                kind="OCIRepository", url="oci://registry/fleet", path="./kubernetes/edge"
            ),
        },
    )
    entries, bad = discover(root, load_repository(root).documents)
    assert not bad
    assert [(e.name, e.directory, e.file, e.line, e.source[0]) for e in entries] == [
        ("edge", "kubernetes/edge", "kubernetes/edge/flux-system/gotk-sync.yaml", 10, "OCIRepository"),
        ("main", "kubernetes/main", "kubernetes/main/flux/gotk-sync.yaml", 10, "GitRepository"),
    ]


def test_same_last_directory_names_take_the_whole_path(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            f"{env}/cluster/sync.yaml": SYNC.format(kind="GitRepository", url="https://x/r", path=f"./{env}/cluster")
            for env in ("prod", "test")
        },
    )
    entries, _ = discover(root, load_repository(root).documents)
    assert [e.name for e in entries] == ["prod-cluster", "test-cluster"]


FLUX_INSTANCE = """\
apiVersion: fluxcd.controlplane.io/v1
kind: FluxInstance
metadata:
  name: flux
  namespace: flux-system
spec:
  distribution:
    version: "2.x"
    registry: ghcr.io/fluxcd
  sync:
    kind: GitRepository
    url: https://github.com/example/fleet
    ref: refs/heads/main
    path: kubernetes/flux/cluster
"""

FLUX_INSTANCE_RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: flux-instance
  namespace: flux-system
spec:
  interval: 1h
  chartRef:
    kind: OCIRepository
    name: flux-instance
  values:
    instance:
      sync:
        kind: GitRepository
        url: https://github.com/example/fleet
        ref: refs/heads/main
        path: kubernetes/flux/cluster
"""


@pytest.mark.parametrize(("document", "line"), [(FLUX_INSTANCE, 14), (FLUX_INSTANCE_RELEASE, 17)])
def test_flux_operator_sync_is_an_entry(tmp_path: Path, document: str, line: int) -> None:
    root = write(
        tmp_path,
        {
            "bootstrap/flux-instance.yaml": document,
            "kubernetes/flux/cluster/ks.yaml": child("apps", "./kubernetes/apps"),
        },
    )
    entries, _ = discover(root, load_repository(root).documents)
    assert [(e.name, e.directory, e.file, e.line) for e in entries] == [
        ("cluster", "kubernetes/flux/cluster", "bootstrap/flux-instance.yaml", line)
    ]
    assert entries[0].url == "https://github.com/example/fleet"


def test_clusters_directory_without_sync_files_is_still_a_cluster(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "clusters/a/app.yaml": CONFIGMAP.format(name="a"),
            "clusters/b/flux-system/gotk-sync.yaml": SYNC.format(
                kind="GitRepository", url="https://x/r", path="./clusters/b"
            ),
        },
    )
    entries, _ = discover(root, load_repository(root).documents)
    assert [(e.name, bool(e.file)) for e in entries] == [("a", False), ("b", True)]


# ---------------------------------------------------------------- validation (kustomize: slow)


@pytest.mark.slow
def test_flux_operator_repository_is_built_from_its_sync_path(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "bootstrap/flux-instance.yaml": FLUX_INSTANCE,
            "kubernetes/flux/cluster/ks.yaml": child("apps", "./kubernetes/apps"),
            "kubernetes/apps/app.yaml": CONFIGMAP.format(name="app"),
        },
    )
    result = run(root)
    assert result.clusters == ["cluster"]
    assert result.stats["kustomizations"] == 2, result.findings
    assert result.entries == [
        "cluster cluster: bootstrap/flux-instance.yaml:14 "
        "(FluxInstance flux-system/flux, path ./kubernetes/flux/cluster)"
    ]
    assert not [f for f in result.findings if f.severity == Severity.ERROR], result.findings


@pytest.mark.slow
def test_named_entry_replaces_discovery(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "deploy/prod/ks.yaml": child("apps", "./apps"),
            "apps/app.yaml": CONFIGMAP.format(name="app"),
        },
    )
    nothing = run(root)
    assert nothing.clusters == [] and "--entry PATH" in nothing.entries[0], nothing.entries
    named = run(root, entries=("deploy/prod",))
    assert named.clusters == ["prod"] and named.stats["kustomizations"] == 2, named.findings
    assert named.entries == ["cluster prod: deploy/prod/ (named entry directory)"]
    with pytest.raises(InputError, match=r"--entry apps/app\.yaml"):
        run(root, entries=("apps/app.yaml",))


ARTIFACTS = """\
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata:
  name: flux-system
  namespace: flux-system
spec:
  sources:
    - alias: repo
      kind: GitRepository
      name: flux-system
  artifacts:
    - name: apps
      originRevision: "@repo"
      copy:
        - from: "@repo/apps/base/**"
          to: "@artifact/base/"
        - from: "@repo/apps/{env}/**"
          to: "@artifact/{env}/"
"""


@pytest.mark.slow
def test_external_artifacts_are_built_per_cluster(tmp_path: Path) -> None:
    files = {
        "apps/base/kustomization.yaml": "resources: [app.yaml]\n",
        "apps/base/app.yaml": CONFIGMAP.format(name="app"),
        "apps/prod/kustomization.yaml": "resources: [../base]\nnamePrefix: prod-\n",
        "apps/test/kustomization.yaml": "resources: [../base]\nnamePrefix: test-\n",
    }
    for env in ("prod", "test"):
        files[f"clusters/{env}/artifacts.yaml"] = ARTIFACTS.format(env=env)
        files[f"clusters/{env}/apps.yaml"] = child("apps", f"./{env}", "ExternalArtifact", "apps")
    result = run(write(tmp_path, files))
    assert result.clusters == ["prod", "test"]
    assert result.stats["kustomizations"] == 4, result.findings
    assert not [f for f in result.findings if f.rule in ("F001", "F002", "F005")], result.findings
    assert not [f for f in result.findings if f.severity == Severity.ERROR], result.findings


@pytest.mark.slow
def test_external_artifact_nobody_generates_is_not_built(tmp_path: Path) -> None:
    root = write(tmp_path, {"clusters/c1/apps.yaml": child("apps", "./apps", "ExternalArtifact", "apps")})
    result = run(root)
    rules = {(f.rule, f.severity) for f in result.findings}
    assert ("F002", Severity.ERROR) in rules and ("F005", Severity.INFO) in rules, result.findings


PATCHING_PARENT = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: cluster-apps
  namespace: flux-system
spec:
  interval: 1h
  path: ./apps
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  patches:
    - patch: |-
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: _
        spec:
          interval: 1h
          prune: true
      target:
        group: kustomize.toolkit.fluxcd.io
        kind: Kustomization
"""

UNPATCHED_CHILD = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app
  namespace: flux-system
spec:
  path: ./apps/app/deploy
  sourceRef:
    kind: GitRepository
    name: flux-system
"""


@pytest.mark.slow
def test_a_child_is_checked_as_its_parent_patches_it(tmp_path: Path) -> None:
    """interval and prune are required; the parent's patch of every kind: Kustomization sets them."""
    root = write(
        tmp_path,
        {
            "clusters/c1/apps.yaml": PATCHING_PARENT,
            "apps/app/ks.yaml": UNPATCHED_CHILD,
            "apps/app/deploy/cm.yaml": CONFIGMAP.format(name="app"),
        },
    )
    result = run(root, crds=(shared("flux-crds"),))
    assert result.stats["kustomizations"] == 3, result.findings
    assert not [f for f in result.findings if f.severity == Severity.ERROR], result.findings
    unpatched = write(
        tmp_path / "unpatched", {"clusters/c1/app.yaml": UNPATCHED_CHILD.replace("./apps/app/deploy", "./")}
    )
    errors = [f for f in run(unpatched, crds=(shared("flux-crds"),)).findings if f.severity == Severity.ERROR]
    assert errors and all(f.file == "clusters/c1/app.yaml" for f in errors), errors
