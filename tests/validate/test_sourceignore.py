"""Files left out of a source's artifact (:mod:`gitopsgen.validate.sourceignore`): source-controller's default
ignores and ``.sourceignore``, and what kustomize-controller then builds without them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import shared

from gitopsgen.validate import engine
from gitopsgen.validate.config import Settings
from gitopsgen.validate.sourceignore import SourceIgnore


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("path", "is_dir", "ignored"),
    [
        (".github/workflows/ci.yaml", False, True),
        ("apps/logo.png", False, True),
        ("apps/.sops.yaml", False, True),
        ("apps/cloudbuild.yaml", False, True),  # a name pattern: any depth
        ("apps/app.yaml", False, False),
        (".gitlab-ci.yml", False, True),
        ("archive.tar.gz", False, True),
    ],
)
def test_default_ignores(tmp_path: Path, path: str, is_dir: bool, ignored: bool) -> None:
    assert SourceIgnore.of(tmp_path).ignored(path, is_dir) is ignored


def test_sourceignore_patterns_as_go_git_matches_them(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            ".sourceignore": "# exclude all\n/*\n!/apps/\n!/clusters/\n",
            "apps/.sourceignore": "drafts/\n*.tmp.yaml\n!keep.tmp.yaml\n",
        },
    )
    ignore = SourceIgnore.of(tmp_path)
    assert ignore.ignored(".fluxschema.yml")
    assert ignore.ignored("README.md")
    assert ignore.ignored("scripts/run.yaml")  # a directory the walk skips whole
    assert not ignore.ignored("apps/base/app.yaml")
    assert not ignore.ignored("clusters/prod/flux-system", True)
    assert ignore.ignored("apps/base/drafts/x.yaml")
    assert not ignore.ignored("apps/drafts")  # drafts/ matches directories only
    assert ignore.ignored("apps/base/a.tmp.yaml")
    assert not ignore.ignored("apps/base/keep.tmp.yaml")  # the last matching pattern decides
    assert not ignore.ignored("clusters/x.tmp.yaml")  # apps/.sourceignore speaks only below apps/


KS = """\
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
    kind: GitRepository
    name: flux-system
"""
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  a: {value}\n"


def test_builds_see_only_what_the_artifact_holds(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            ".sourceignore": "clusters/c1/wip.yaml\nexperiments/\nshared/local-only.yaml\n",
            "clusters/c1/apps.yaml": KS.format(name="apps", path="./apps"),
            "clusters/c1/lab.yaml": KS.format(name="lab", path="./experiments"),
            "clusters/c1/wip.yaml": CM.format(name="wip", value="1"),  # an int in data: K001 if it were applied
            "experiments/cm.yaml": CM.format(name="exp", value='"x"'),
            "apps/kustomization.yaml": "resources:\n  - cm.yaml\n  - ../shared/local-only.yaml\n",
            "apps/cm.yaml": CM.format(name="app", value='"x"'),
            "shared/local-only.yaml": CM.format(name="local", value='"x"'),
        },
    )
    result = engine.validate(tmp_path, Settings(crds=(shared("flux-crds"),), cache=False))
    errors = sorted((f.rule, f.file, f.line) for f in result.findings if f.severity == "error")
    assert errors == [("B001", "apps/kustomization.yaml", 3), ("F001", "clusters/c1/lab.yaml", 8)], result.findings
    assert not [f for f in result.findings if "wip" in f.file or f.rule == "F006"], result.findings
