"""HelmReleases whose chart comes from an OCIRepository (chartRef) or from this repository (GitRepository)."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
from conftest import shared

from gitopsgen.validate import engine
from gitopsgen.validate.config import Settings

OCI_URL = "oci://ghcr.io/prefecthq/charts/prefect-server"
RELEASE = """\
apiVersion: v1
kind: Namespace
metadata:
  name: prefect
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: prefect-server
  namespace: prefect
spec:
  interval: 12h
  url: {url}
  ref:
    tag: "{tag}"
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: prefect-server
  namespace: prefect
spec:
  interval: 30m
  chartRef:
    kind: OCIRepository
    name: prefect-server
  values:
    server:
      replicaCount: {replicas}
"""


def settings(tmp_path: Path, mirror: Path) -> Settings:
    return Settings(
        crds=(shared("flux-crds"),),
        helm_mirrors=((OCI_URL, str(mirror)),),
        chart_cache=tmp_path / "charts",
    )


def oci_mirror(tmp_path: Path) -> Path:
    mirror = tmp_path / "oci"
    mirror.mkdir(exist_ok=True)
    shutil.copy(shared("helm-repo", "prefect-server-2026.8.18172642.tgz"), mirror)
    return mirror


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_chart_ref_to_an_oci_repository_renders(tmp_path: Path) -> None:
    root = write(
        tmp_path / "repo", {"clusters/c1/prefect.yaml": RELEASE.format(url=OCI_URL, tag="2026.8.18172642", replicas=1)}
    )
    result = engine.validate(root, settings(tmp_path, oci_mirror(tmp_path)))
    assert not [f for f in result.findings if f.severity.value == "error"], result.findings
    assert result.stats["helm_releases"] == 1 and result.stats["objects"] > 5  # the rendered chart was checked


def test_oci_chart_problems_point_at_the_helm_release(tmp_path: Path) -> None:
    text = RELEASE.format(url=OCI_URL, tag="2026.9.9", replicas=1)
    root = write(tmp_path / "repo", {"clusters/c1/prefect.yaml": text})
    result = engine.validate(root, settings(tmp_path, oci_mirror(tmp_path)))
    assert [(f.rule, f.line) for f in result.findings if f.rule == "H001"] == [("H001", 24)]
    text = RELEASE.format(url=OCI_URL, tag="2026.8.18172642", replicas='"three"')
    write(root, {"clusters/c1/prefect.yaml": text})
    result = engine.validate(root, settings(tmp_path, oci_mirror(tmp_path)))
    assert [(f.rule, f.line) for f in result.findings if f.rule == "H002"] == [("H002", 29)]


def test_chart_kept_in_this_repository_renders_from_its_directory(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    with tarfile.open(shared("helm-repo", "prefect-server-2026.8.18172642.tgz")) as archive:
        archive.extractall(root / "charts", filter="data")
    release = RELEASE.split("---\n")[2].replace(
        "  chartRef:\n    kind: OCIRepository\n    name: prefect-server\n",
        "  chart:\n    spec:\n      chart: ./charts/prefect-server\n      sourceRef:\n"
        "        kind: GitRepository\n        name: flux-system\n        namespace: flux-system\n",
    )
    write(
        root,
        {
            "clusters/c1/prefect.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prefect\n---\n"
            + release.format(replicas='"three"')
        },
    )
    result = engine.validate(root, settings(tmp_path, tmp_path))
    assert [f.rule for f in result.findings if f.rule.startswith("H")] == ["H002"], result.findings


def test_chart_in_this_repository_with_a_symlink_leaving_it_is_not_rendered(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    with tarfile.open(shared("helm-repo", "prefect-server-2026.8.18172642.tgz")) as archive:
        archive.extractall(root / "charts", filter="data")
    outside = tmp_path / "secret.yaml"
    outside.write_text("password: hunter2\n")
    (root / "charts/prefect-server/templates/stolen.yaml").symlink_to(outside)
    release = RELEASE.split("---\n")[2].replace(
        "  chartRef:\n    kind: OCIRepository\n    name: prefect-server\n",
        "  chart:\n    spec:\n      chart: ./charts/prefect-server\n      sourceRef:\n"
        "        kind: GitRepository\n        name: flux-system\n        namespace: flux-system\n",
    )
    write(root, {"clusters/c1/prefect.yaml": release.format(replicas=1)})
    result = engine.validate(root, settings(tmp_path, tmp_path))
    h001 = [f for f in result.findings if f.rule == "H001"]
    assert len(h001) == 1 and "charts/prefect-server/templates/stolen.yaml" in h001[0].message
    assert "hunter2" not in str(result.findings)


HA_VALUES = """\
    sqlite:
      enabled: false
    backgroundServices:
      runAsSeparateDeployment: true
      messaging:
        redis:
          host: redis.example.com
    redis:
      enabled: false
    externalDatabase:
      connectionString: postgresql+asyncpg://prefect@db:5432/prefect
"""
HOOK_PATCH = """\
  postRenderers:
    - kustomize:
        patches:
          - target:
              kind: Job
              name: prefect-server-db-migrations
            patch: |
              - op: replace
                path: /metadata/annotations/helm.sh~1hook
                value: pre-install,pre-upgrade
"""


@pytest.mark.parametrize(
    ("strategy", "hook"),
    [(None, "pre-install,pre-upgrade"), ("combined", "pre-install,pre-upgrade"),
     ("separate", "pre-install,pre-upgrade"), ("nohooks", "post-install,pre-upgrade")],
)  # fmt: skip
def test_post_renderers_reach_the_chart_hooks_as_the_post_render_strategy_says(
    tmp_path: Path, strategy: str | None, hook: str
) -> None:
    """spec.postRenderStrategy (Flux 2.9): hooks go through the post-renderers with "combined" (the default) and
    "separate", and are installed as the chart renders them with "nohooks"."""
    text = RELEASE.format(url=OCI_URL, tag="2026.8.18172642", replicas=1) + HA_VALUES + HOOK_PATCH
    if strategy:
        text += f"  postRenderStrategy: {strategy}\n"
    root = write(tmp_path / "repo", {"clusters/c1/prefect.yaml": text})
    ws = engine.Workspace.open(root, settings(tmp_path, oci_mirror(tmp_path)))
    (rendered,) = ws.render(["c1"])
    assert not [f for f in rendered.findings if f.severity.value == "error"], rendered.findings
    jobs = [m.data for m in rendered.build.cluster.manifests if m.kind == "Job"]
    assert [j["metadata"]["annotations"]["helm.sh/hook"] for j in jobs] == [hook]
    assert len([m for m in rendered.build.cluster.manifests if m.kind == "Deployment"]) == 2  # templates kept
