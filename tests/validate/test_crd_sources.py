"""Where the schemas of custom resources come from besides --crds manifests: a directory in the CRDs-catalog
layout (:mod:`gitopsgen.validate.crdcatalog`), and the crds/ of the charts a cluster's HelmReleases render."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import shared
from test_charts import entry, make_chart, write_index

from gitopsgen.errors import InputError
from gitopsgen.validate import engine
from gitopsgen.validate.config import Settings
from gitopsgen.validate.crdcatalog import catalog_crds, is_catalog

WIDGET_SCHEMA = {
    "description": "Widget is the Schema for the widgets API",
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"size": {"type": "integer"}, "mode": {"type": "string", "enum": ["fast", "slow"]}},
        },
    },
}
WIDGETS = """\
apiVersion: x.example.io/v1
kind: Widget
metadata:
  name: good
  namespace: default
spec:
  size: 3
---
apiVersion: x.example.io/v1
kind: Widget
metadata:
  name: bad
  namespace: default
spec:
  size: 3
  mode: quick
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _catalog(root: Path) -> Path:
    (root / "x.example.io").mkdir(parents=True)
    (root / "x.example.io" / "widget_v1.json").write_text(json.dumps(WIDGET_SCHEMA))
    (root / "x.example.io" / "widget_v1alpha1.json").write_text(json.dumps(WIDGET_SCHEMA))
    return root


def test_catalog_layout_becomes_crds(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path / "catalog")
    assert is_catalog(catalog) and not is_catalog(shared("flux-crds"))
    (crd,) = catalog_crds(catalog, kinds=["Widget"])
    assert crd["spec"]["names"] == {"kind": "Widget", "plural": "widgets"}
    assert [(v["name"], v["storage"]) for v in crd["spec"]["versions"]] == [("v1alpha1", False), ("v1", True)]
    (unknown,) = catalog_crds(catalog)  # no kind known: the description's spelling
    assert unknown["spec"]["names"]["kind"] == "Widget"


def test_crds_option_takes_a_catalog_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(tmp_path / "cache"))
    root = _write(tmp_path / "repo", {"clusters/c1/widgets.yaml": WIDGETS})
    result = engine.validate(root, Settings(crds=(_catalog(tmp_path / "catalog"),), cache=False))
    found = [(f.rule, f.line) for f in result.findings if f.rule in ("K002", "K005")]
    assert found == [("K002", 16)], result.findings
    (tmp_path / "catalog" / "x.example.io" / "widget_v1.json").write_text("[not json")
    with pytest.raises(InputError, match=r"--crds .*widget_v1\.json: not a JSON schema"):
        engine.validate(root, Settings(crds=(tmp_path / "catalog",), cache=False))


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.x.example.io
spec:
  group: x.example.io
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
""" + "\n".join("          " + line for line in json.dumps(WIDGET_SCHEMA, indent=2).splitlines())
CHARTS_URL = "https://charts.example.io"
RELEASE = f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: widgets
  namespace: default
spec:
  interval: 1h
  url: {CHARTS_URL}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: widgets
  namespace: default
spec:
  interval: 30m
  chart:
    spec:
      chart: widgets
      version: 0.1.0
      sourceRef:
        kind: HelmRepository
        name: widgets
"""


@pytest.mark.parametrize("crds", ["Create", "Skip"])
def test_crds_of_a_rendered_chart_are_used_in_its_cluster(
    tmp_path: Path, crds: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(tmp_path / "cache"))  # no Widget CRD remembered from --crds
    release = RELEASE + (f"  install:\n    crds: {crds}\n" if crds == "Skip" else "")
    mirror = tmp_path / "mirror"
    archive = make_chart(mirror, {"crds/widget.yaml": CRD + "\n"}, name="widgets")
    write_index(mirror, {"widgets": [entry(archive, "widgets", "0.1.0")]})
    root = _write(
        tmp_path / "repo",
        {
            "clusters/c1/release.yaml": release,
            "clusters/c1/widgets.yaml": WIDGETS,
            "clusters/c2/widgets.yaml": WIDGETS,  # no chart installs the CRD here
        },
    )
    settings = Settings(
        crds=(shared("flux-crds"),), helm_mirrors=((CHARTS_URL, str(mirror)),), chart_cache=tmp_path / "c", cache=False
    )
    result = engine.validate(root, settings)
    assert result.stats["helm_releases"] == 1 and not [f for f in result.findings if f.rule.startswith("H0")]
    found = sorted((f.rule, f.file, f.line, f.cluster) for f in result.findings if f.rule in ("K002", "K005"))
    c2 = ("K005", "clusters/c2/widgets.yaml", 2, "c2")
    if crds == "Skip":
        assert found == [("K005", "clusters/c1/widgets.yaml", 2, "c1,c2")], result.findings
    else:
        assert found == [("K002", "clusters/c1/widgets.yaml", 16, "c1"), c2], result.findings
