"""Flux Operator ResourceSets expanded like the operator builds them (:mod:`gitopsgen.validate.resourceset`,
:mod:`gitopsgen.validate.rstemplate`): the template subset, the input strategies, and the objects made being
checked where the template wrote them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import shared

from gitopsgen.validate import engine
from gitopsgen.validate.config import Settings
from gitopsgen.validate.model import Manifest
from gitopsgen.validate.resourceset import expand, input_sets, normalized_key
from gitopsgen.validate.rstemplate import TemplateError, Unsupported, go_string, render, slugify


def test_render_prints_values_as_go_does() -> None:
    inputs = {"name": "web", "replicas": 3, "ratio": 1.5, "big": 1e6, "on": True, "app": {"port": 8080}}
    assert render("n: << inputs.name >>", inputs) == "n: web"
    assert render("r: << inputs.replicas >> << inputs.ratio >> << inputs.big >>", inputs) == "r: 3 1.5 1e+06"
    assert render("q: << inputs.name | quote >> << inputs.on | quote >>", inputs) == 'q: "web" "true"'
    assert render("p: << inputs.app.port | int >>", inputs) == "p: 8080"
    assert render("a:\n  <<- inputs.name ->>\n  b", inputs) == "a:webb"
    assert render("y: << inputs.app | toYaml | nindent 2 >>", inputs) == "y: \n  port: 8080\n  "
    assert render('<< get inputs "nope" | default inputs.name >>', inputs) == "web"
    assert render('<< inputs.name | upper >>-<< "My App" | slugify >>', inputs) == "WEB-my-app"
    assert go_string(None) == "<no value>"
    assert slugify("x" * 40 + " " + "y" * 40) == "x" * 40


def test_render_missing_key_fails_like_missingkey_error() -> None:
    with pytest.raises(TemplateError, match='no entry for key "team"'):
        render("<< inputs.team >>", {"name": "web"})
    with pytest.raises(TemplateError):
        render("<< inputs.name.first >>", {"name": "web"})


@pytest.mark.parametrize("action", ["<< if inputs.x >>a<< end >>", "<< range $i := inputs.l >>", "<< mul 2 3 >>"])
def test_render_says_what_it_does_not_evaluate(action: str) -> None:
    with pytest.raises(Unsupported):
        render(action, {"x": 1, "l": []})


def _manifest(data: dict, lines: dict | None = None) -> Manifest:
    return Manifest(data, "c1", "rs.yaml", 1, lines or {})


def _rs(spec: dict, name: str = "rs") -> Manifest:
    return _manifest({"apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSet",
                      "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec})  # fmt: skip


def _provider(name: str, kind: str = "Static", values: dict | None = None) -> Manifest:
    spec = {"type": kind, "defaultValues": values or {}}
    return _manifest({"apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSetInputProvider",
                      "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec})  # fmt: skip


def test_input_strategies_flatten_and_permute() -> None:
    providers = [_provider("git-tag", values={"tag": "v1"}), _provider("OCI Tag", values={"digest": "d"})]
    refs = [{"kind": "ResourceSetInputProvider", "name": "git-tag"}, {"name": "OCI Tag"}]
    flat = input_sets(_rs({"inputs": [{"a": 1}, {"a": 2}], "inputsFrom": refs}), providers)
    assert [s.get("a", s.get("tag", s.get("digest"))) for s in flat] == [1, 2, "d", "v1"]  # providers in name order
    assert flat[3]["provider"] == {
        "apiVersion": "fluxcd.controlplane.io/v1",
        "kind": "ResourceSetInputProvider",
        "name": "git-tag",
        "namespace": "flux-system",
    }
    permuted = input_sets(
        _rs({"inputs": [{"a": 1}, {"a": 2}], "inputsFrom": refs, "inputStrategy": {"name": "Permute"}}, "my-rset"),
        providers,
    )
    assert len(permuted) == 2
    assert sorted(permuted[0]) == ["git_tag", "my_rset", "oci_tag"] and permuted[1]["my_rset"]["a"] == 2
    assert normalized_key("My-Provider.v2") == "my_provider_v2"


def test_expand_makes_objects_once_per_input_and_deduplicates() -> None:
    spec = {
        "inputs": [{"t": "a"}, {"t": "b"}],
        "resources": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "<< inputs.t >>"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "namespace": "x"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "off-<< inputs.t >>", "namespace": "x",
             "annotations": {"fluxcd.controlplane.io/reconcile": "disabled"}}},
        ],
    }  # fmt: skip
    made, findings = expand(_rs(spec), [])
    assert not findings
    assert [m.ref for m in made] == ["Namespace a", "Namespace b", "ConfigMap x/shared"]
    assert all(m.via == "ResourceSet flux-system/rs" for m in made)


def test_expand_value_types_follow_the_rendered_yaml() -> None:
    spec = {
        "inputs": [{"n": 2, "v": "1.10"}],
        "resources": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
             "spec": {"replicas": "<< inputs.n >>", "template": {"metadata": {"labels": {
                 "plain": "<< inputs.v >>", "quoted": "<< inputs.v | quote >>"}}}}},
        ],
    }  # fmt: skip
    (made,), _ = expand(_rs(spec), [])
    assert made.data["spec"]["replicas"] == 2
    labels = made.data["spec"]["template"]["metadata"]["labels"]
    assert labels == {"plain": 1.1, "quoted": "1.10"}  # unquoted, the operator's YAML read makes it a number


def test_expand_skips_unknown_providers_and_steps_may_not_share_objects() -> None:
    rs = _rs({"inputsFrom": [{"name": "prs"}], "resources": [{"apiVersion": "v1", "kind": "Namespace"}]})
    made, findings = expand(rs, [_provider("prs", "GitHubPullRequest")])
    assert not made and [f.rule for f in findings] == ["F009"] and "GitHubPullRequest" in findings[0].message
    made, findings = expand(rs, [])
    assert [f.rule for f in findings] == ["F009"] and "not applied by this cluster" in findings[0].message
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}
    steps = _rs({"steps": [{"name": "one", "resources": [ns]}, {"name": "two", "resources": [ns]}]})
    made, findings = expand(steps, [])
    assert [f.rule for f in findings] == ["F008"] and "already made by step 'one'" in findings[0].message


TENANTS = """\
apiVersion: fluxcd.controlplane.io/v1
kind: ResourceSet
metadata:
  name: tenants
  namespace: flux-system
spec:
  inputs:
    - tenant: frontend
  resources:
    - apiVersion: v1
      kind: Service
      metadata:
        name: << inputs.tenant >>
        namespace: default
      spec:
        ports:
          - port: http
  resourcesTemplate: |
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: << inputs.tenant >>
      namespace: default
    data:
      replicas: 2
"""


def test_objects_made_are_schema_checked_at_the_template_line(tmp_path: Path) -> None:
    (tmp_path / "clusters" / "c1").mkdir(parents=True)
    (tmp_path / "clusters" / "c1" / "tenants.yaml").write_text(TENANTS)
    settings = Settings(crds=(shared("flux-crds"), shared("flux-operator-crds")), cache=False)
    result = engine.validate(tmp_path, settings)
    k001 = sorted((f.line, f.object) for f in result.findings if f.rule == "K001")
    # the Service's port (line 17) is not an integer; the ConfigMap's data value (line 25) is not a string
    assert k001 == [(17, "Service default/frontend"), (25, "ConfigMap default/frontend")], result.findings
