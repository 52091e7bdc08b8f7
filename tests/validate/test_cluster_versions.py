"""A Kubernetes version per cluster (``kubernetes-versions`` in ``.gitopsgen.yaml`` / ``[tool.gitopsgen]``): each
cluster's objects are checked against, and its charts rendered for, the version it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitopsgen.errors import InputError
from gitopsgen.validate import engine
from gitopsgen.validate.config import DEFAULT_KUBERNETES_VERSION, Settings, load_settings

POLICY = """\
apiVersion: admissionregistration.k8s.io/v1beta1
kind: MutatingAdmissionPolicy
metadata:
  name: demo
spec:
  failurePolicy: Fail
"""


def _repo(root: Path, config: str) -> Path:
    for cluster in ("old", "new"):
        (root / "clusters" / cluster).mkdir(parents=True)
        (root / "clusters" / cluster / "policy.yaml").write_text(POLICY)
    (root / ".gitopsgen.yaml").write_text(config)
    return root


def test_settings_per_cluster(tmp_path: Path) -> None:
    _repo(tmp_path, 'kubernetes-version: "1.35"\nkubernetes-versions:\n  old: "1.33"\n')
    settings = load_settings(tmp_path)
    assert settings.version_of("old") == "1.33"
    assert settings.version_of("new") == "1.35"
    assert Settings().version_of("any") == DEFAULT_KUBERNETES_VERSION


@pytest.mark.parametrize("config", ["kubernetes-versions: [old]\n", "kubernetes-versions:\n  old: '1.2'\n"])
def test_bad_per_cluster_version_is_an_input_error(tmp_path: Path, config: str) -> None:
    _repo(tmp_path, config)
    with pytest.raises(InputError, match=r"^\.gitopsgen\.yaml: kubernetes-versions"):
        load_settings(tmp_path)


@pytest.mark.parametrize("cache", [False, True])
def test_each_cluster_checked_against_its_version(tmp_path: Path, cache: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(tmp_path / "cache"))
    root = _repo(tmp_path / "repo", 'kubernetes-versions:\n  old: "1.33"\n')
    settings = load_settings(root)
    for _ in range(2 if cache else 1):  # the second run reads the cluster outcomes from the cache
        result = engine.validate(root, Settings(**{**settings.__dict__, "cache": cache}))
        found = [(f.rule, f.file, f.cluster) for f in result.findings if f.rule == "K001"]
        assert found == [("K001", "clusters/old/policy.yaml", "old")], result.findings
        assert "Kubernetes 1.33" in next(f.message for f in result.findings if f.rule == "K001")
