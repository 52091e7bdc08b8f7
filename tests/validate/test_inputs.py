"""Static per-cluster inputs (validate/inputs.py): which changed files make ``diff`` render a cluster.

No kustomize runs here: the answer comes from the documents alone. Each case is a change that alters
a cluster's rendered objects and so must count — or one that must not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitopsgen.validate.inputs import Inputs, cluster_inputs
from gitopsgen.validate.load import load_repository
from gitopsgen.validate.repository import Repository


def flux_ks(name: str, path: str, **spec: object) -> dict:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {
            "interval": "10m",
            "path": path,
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            **spec,
        },
    }


def cm(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "apps"}, "data": data}


FILES: dict[str, object] = {
    "base/app/kustomization.yaml": {"resources": ["cm.yaml"]},
    "base/app/cm.yaml": cm("app", a="1"),
    "base/app/README.md": "not read by kustomize, but in a kustomization directory",
    "overlays/a/kustomization.yaml": {"resources": ["../../base/app"], "patches": [{"path": "patch.yaml"}]},
    "overlays/a/patch.yaml": cm("app", a="2"),
    "overlays/b/kustomization.yaml": {"resources": ["../../base/app"]},
    "components/extra/kustomization.yaml": {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "patches": [{"path": "patch.yaml"}],
    },
    "components/extra/patch.yaml": cm("app", extra="yes"),
    "plain/x/cm.yaml": cm("x"),
    "vars/cluster-vars.yaml": cm("cluster-vars", env="a"),
    "clusters/a/apps.yaml": flux_ks(
        "apps",
        "./overlays/a",
        components=["../../components/extra"],
        postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"}]},
    ),
    "clusters/b/apps.yaml": flux_ks("apps", "./overlays/b"),
    "clusters/b/plain.yaml": flux_ks("plain", "./plain/x"),
}


def make(root: Path, files: dict[str, object]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))


def inputs(root: Path) -> dict[str, Inputs]:
    repo = Repository(root, load_repository(root), ["kubectl", "kustomize"])
    return {name: cluster_inputs(repo, name) for name in ("a", "b")}


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    make(tmp_path, FILES)
    return tmp_path


@pytest.mark.parametrize(
    ("changed", "a", "b"),
    [
        ("base/app/cm.yaml", True, True),  # a shared base reaches every cluster
        ("base/app/new-file.yaml", True, True),  # a file added next to a kustomization (it may be listed there)
        ("overlays/a/patch.yaml", True, False),
        ("overlays/b/kustomization.yaml", False, True),
        ("components/extra/patch.yaml", True, False),  # spec.components of a Flux Kustomization
        ("vars/cluster-vars.yaml", True, False),  # postBuild.substituteFrom, wherever the ConfigMap is
        ("plain/x/new/deep.yaml", False, True),  # a plain directory: everything below it
        ("clusters/a/sub/anything.yaml", True, False),  # the root Kustomization may be anywhere in the cluster
        ("README.md", False, False),
        ("intent/clusters/a.yaml", False, False),
    ],
)
def test_which_changes_reach_which_cluster(fleet: Path, changed: str, a: bool, b: bool) -> None:
    found = inputs(fleet)
    assert not found["a"].everything and not found["b"].everything
    assert bool(found["a"].touched_by([changed])) is a
    assert bool(found["b"].touched_by([changed])) is b


@pytest.mark.parametrize(
    "files",
    [
        # a variable decides the path
        {"clusters/a/apps.yaml": flux_ks("apps", "./overlays/${CLUSTER}")},
        # a kustomization in the cluster's directory patches the path of a Flux Kustomization
        {
            "clusters/a/kustomization.yaml": {
                "resources": ["apps.yaml"],
                "patches": [
                    {
                        "patch": yaml.safe_dump(
                            {
                                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                                "kind": "Kustomization",
                                "metadata": {"name": "apps", "namespace": "flux-system"},
                                "spec": {"path": "./overlays/b"},
                            }
                        )
                    }
                ],
            }
        },
        # the same as a JSON 6902 patch file
        {
            "clusters/a/kustomization.yaml": {"resources": ["apps.yaml"], "patches": [{"path": "redirect.yaml"}]},
            "clusters/a/redirect.yaml": [{"op": "replace", "path": "/spec/path", "value": "./overlays/b"}],
        },
        # a substituteFrom source whose name a variable decides
        {
            "clusters/a/apps.yaml": flux_ks(
                "apps", "./overlays/a", postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "${CLUSTER}-vars"}]}
            )
        },
        # a patch adds a substituteFrom source (JSON 6902, inside the field and above it)
        {
            "clusters/a/kustomization.yaml": {"resources": ["apps.yaml"], "patches": [{"path": "vars.yaml"}]},
            "clusters/a/vars.yaml": [
                {
                    "op": "add",
                    "path": "/spec/postBuild/substituteFrom/-",
                    "value": {"kind": "ConfigMap", "name": "other"},
                }
            ],
        },
        {
            "clusters/a/kustomization.yaml": {"resources": ["apps.yaml"], "patches": [{"path": "vars.yaml"}]},
            "clusters/a/vars.yaml": [
                {
                    "op": "replace",
                    "path": "/spec/postBuild",
                    "value": {"substituteFrom": [{"kind": "ConfigMap", "name": "other"}]},
                }
            ],
        },
        # the Flux Kustomization patches a HelmRelease's chart source
        {
            "clusters/a/apps.yaml": flux_ks(
                "apps",
                "./overlays/a",
                patches=[
                    {
                        "patch": yaml.safe_dump(
                            {
                                "apiVersion": "helm.toolkit.fluxcd.io/v2",
                                "kind": "HelmRelease",
                                "metadata": {"name": "x"},
                                "spec": {"chart": {"spec": {"chart": "./charts/other"}}},
                            }
                        )
                    }
                ],
            )
        },
    ],
)
def test_paths_decided_elsewhere_make_every_file_an_input(fleet: Path, files: dict[str, object]) -> None:
    make(fleet, files)
    found = inputs(fleet)["a"]
    assert found.everything and found.why
    assert found.touched_by(["README.md"]) == ["README.md"]


def test_patches_of_other_fields_keep_the_answer_precise(fleet: Path) -> None:
    make(
        fleet,
        {
            "clusters/a/apps.yaml": flux_ks(
                "apps",
                "./overlays/a",
                patches=[
                    {
                        "patch": yaml.safe_dump(
                            {
                                "apiVersion": "helm.toolkit.fluxcd.io/v2",
                                "kind": "HelmRelease",
                                "metadata": {"name": "x"},
                                "spec": {"chart": {"spec": {"version": "1.2.3"}}, "values": {"replicaCount": 2}},
                            }
                        )
                    }
                ],
            )
        },
    )
    found = inputs(fleet)["a"]
    assert not found.everything
    assert found.touched_by(["overlays/b/kustomization.yaml"]) == []


def test_local_chart_directory_counts(fleet: Path) -> None:
    hr = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "x", "namespace": "apps"},
        "spec": {
            "chart": {"spec": {"chart": "./charts/x", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
        },
    }
    make(fleet, {"base/app/hr.yaml": hr, "base/app/kustomization.yaml": {"resources": ["cm.yaml", "hr.yaml"]}})
    found = inputs(fleet)
    assert found["a"].touched_by(["charts/x/templates/deployment.yaml"])
    assert found["b"].touched_by(["charts/x/values.yaml"])
