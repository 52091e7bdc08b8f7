"""The schema stage (gitopsgen.validate.schemas): built-in kinds, CRDs and their CEL rules, removed APIs,
kinds without a schema, SOPS-encrypted objects, the CRD cache, and that schemas are compiled once."""

from __future__ import annotations

import copy
import datetime
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import shared

from gitopsgen.validate.catalogue import RULES
from gitopsgen.validate.findings import Severity
from gitopsgen.validate.schemas import STATS, SchemaIssue, SchemaStore, builtin, crd_cache_dir, kubernetes_versions

DATA = Path(__file__).parent / "data" / "schemas"
WIDGET_CRD = DATA / "widgets.example.com.yaml"


def deployment(**spec_changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prefect", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80}],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        },
    }
    obj["spec"].update(spec_changes)
    return obj


def helmrelease(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "interval": "10m",
        "chart": {"spec": {"chart": "prefect-server", "sourceRef": {"kind": "HelmRepository", "name": "prefect"}}},
    }
    base.update(spec)
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "prefect-server", "namespace": "prefect"},
        "spec": {k: v for k, v in base.items() if v is not None},
    }


def widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"},
        "spec": {"size": 3, "mode": "auto", **spec},
    }


def by_path(issues: list[SchemaIssue]) -> dict[tuple[str | int, ...], SchemaIssue]:
    return {i.path: i for i in issues}


@pytest.fixture(scope="module")
def store() -> SchemaStore:
    s = SchemaStore("1.33")
    s.add_crds_from(shared("flux-crds"))
    s.add_crds_from(shared("external-secrets-crds"))
    s.add_crds_from(WIDGET_CRD)
    return s


# ---------------------------------------------------------------- rules and versions


def test_rules_are_registered_with_docs() -> None:
    expected = {
        "K001": ("schema-invalid", Severity.ERROR),
        "K002": ("crd-schema-invalid", Severity.ERROR),
        "K003": ("cel-rule-violated", Severity.ERROR),
        "K004": ("removed-api-version", Severity.ERROR),
        "K005": ("no-schema", Severity.WARNING),
        "K006": ("crd-redefines-builtin", Severity.ERROR),
        "K007": ("crd-conflicts-with-given", Severity.WARNING),
    }
    for rule_id, (name, severity) in expected.items():
        rule = RULES[rule_id]
        assert (rule.name, rule.severity, rule.stage) == (name, severity, "schemas")
        assert len(rule.doc) > 200 and "\n" not in rule.summary


def test_kubernetes_versions_are_bundled_and_sorted() -> None:
    versions = kubernetes_versions()
    assert "1.33" in versions and SchemaStore.kubernetes_versions() == versions
    assert versions == sorted(versions, key=lambda v: tuple(map(int, v.split("."))))


def test_unknown_kubernetes_version_lists_available() -> None:
    with pytest.raises(ValueError, match=r"unknown Kubernetes version '1\.99'; available: .*1\.33"):
        SchemaStore("1.99")
    assert SchemaStore("v1.33.4").kubernetes_version == "1.33"


# ---------------------------------------------------------------- built-in kinds


def test_valid_deployment_has_no_issues(store: SchemaStore) -> None:
    assert store.check(deployment()) == []


def test_all_errors_of_a_builtin_object_are_reported_with_paths(store: SchemaStore) -> None:
    obj = deployment(replicas="three")
    obj["metadata"]["lables"] = {"a": "b"}
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container["volumeMount"] = []
    container["ports"][0]["containerPort"] = "80"
    obj["spec"]["template"]["spec"]["containers"].append({"image": "busybox"})

    issues = store.check(obj)

    assert {i.rule for i in issues} == {"K001"}
    found = by_path(issues)
    c0 = ("spec", "template", "spec", "containers", 0)
    assert set(found) == {
        ("metadata", "lables"),
        ("spec", "replicas"),
        (*c0, "volumeMount"),
        (*c0, "ports", 0, "containerPort"),
        ("spec", "template", "spec", "containers", 1),
    }
    assert found[("metadata", "lables")].message == 'unknown field "lables" (did you mean "labels"?)'
    assert found[("spec", "replicas")].message == 'expected integer, got string "three"'
    assert "volumeMounts" in found[(*c0, "volumeMount")].message
    assert found[("spec", "template", "spec", "containers", 1)].message == 'missing required field "name"'


def test_one_of_errors_are_readable_and_short(store: SchemaStore) -> None:
    obj = deployment(strategy={"rollingUpdate": {"maxSurge": True}})
    obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = {
        "cpu": {f"k{i}": "x" * 50 for i in range(200)}
    }
    found = by_path(store.check(obj))
    assert found[("spec", "strategy", "rollingUpdate", "maxSurge")].message == (
        "expected string or integer, got boolean true"
    )
    limit = found[("spec", "template", "spec", "containers", 0, "resources", "limits", "cpu")]
    assert limit.message.startswith("expected string or number, got object")
    assert all(len(i.message) <= 200 and "\n" not in i.message for i in found.values())


def test_nulls_and_yaml_timestamps_are_accepted(store: SchemaStore) -> None:
    obj = deployment(replicas=None)
    obj["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = None
    assert store.check(obj) == []
    configmap = yaml.safe_load(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {since: 2024-01-02, 1: x}\n"
    )
    assert isinstance(configmap["data"]["since"], datetime.date)
    assert store.check(configmap) == []


def test_kind_typo_and_wrong_version_of_builtin(store: SchemaStore) -> None:
    [typo] = store.check({"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "x"}})
    assert (typo.rule, typo.path) == ("K001", ("kind",)) and 'did you mean "Deployment"' in typo.message
    [wrong] = store.check({"apiVersion": "apps/v2", "kind": "Deployment", "metadata": {"name": "x"}})
    assert wrong.rule == "K001" and wrong.message.endswith("use apps/v1")


def test_kubernetes_version_decides_what_exists() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2beta2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3},
    }
    assert SchemaStore("1.25").check(hpa) == []
    [removed] = SchemaStore("1.33").check(hpa)
    assert removed.rule == "K004"
    assert removed.message == (
        "autoscaling/v2beta2 HorizontalPodAutoscaler was removed in Kubernetes 1.26; use autoscaling/v2 "
        "HorizontalPodAutoscaler"
    )
    flowschema = {"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema", "metadata": {"name": "f"}}
    [too_new] = SchemaStore("1.25").check(flowschema)
    assert too_new.rule == "K001" and "not available in Kubernetes 1.25" in too_new.message
    assert SchemaStore("1.25").has_schema("autoscaling/v2beta2", "HorizontalPodAutoscaler")
    assert not SchemaStore("1.33").has_schema("autoscaling/v2beta2", "HorizontalPodAutoscaler")


def test_removed_kubernetes_apis_name_their_replacement(store: SchemaStore) -> None:
    cronjob = {
        "apiVersion": "batch/v1beta1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"schedule": "* * * * *"},
    }
    assert store.check(cronjob) == [
        SchemaIssue(
            "K004", ("apiVersion",), "batch/v1beta1 CronJob was removed in Kubernetes 1.25; use batch/v1 CronJob"
        )
    ]
    [ingress] = store.check({"apiVersion": "extensions/v1beta1", "kind": "Ingress"})
    assert ingress.message.endswith("removed in Kubernetes 1.22; use networking.k8s.io/v1 Ingress")
    [psp] = store.check({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy"})
    assert psp.rule == "K004" and "1.25" in psp.message and "Pod Security Admission" in psp.message


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (None, "not a Kubernetes object: got null, not a mapping"),
        ([{"kind": "Pod"}], "not a Kubernetes object: got array, not a mapping"),
        ({"kind": "Pod"}, "missing apiVersion"),
        ({"apiVersion": "v1"}, "missing kind"),
        ({"apiVersion": 1, "kind": "Pod"}, "apiVersion must be a non-empty string"),
        ({"apiVersion": "a/b/c", "kind": "Pod"}, "malformed apiVersion 'a/b/c'"),
    ],
)
def test_objects_without_identity_are_k001(store: SchemaStore, obj: Any, message: str) -> None:
    [issue] = store.check(obj)
    assert (issue.rule, issue.message) == ("K001", message)


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": "x", "data": {True: None}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": b"\x00"}, "data": [1, 2]},
        {"apiVersion": "example.com/v1", "kind": "Widget", "spec": "nope", "metadata": {"name": 3}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"size": float("nan"), "tags": [None, 1]}},
        {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "spec": {"chart": {}, "chartRef": 1}},
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": object()}},
    ],
)
def test_check_never_raises(store: SchemaStore, obj: dict[str, Any]) -> None:
    issues = store.check(obj)
    assert issues and all(isinstance(i, SchemaIssue) and i.rule.startswith("K") for i in issues)


def test_deeply_nested_input_does_not_raise(store: SchemaStore) -> None:
    nested: dict[str, Any] = {}
    cursor = nested
    for _ in range(3000):
        cursor["a"] = {}
        cursor = cursor["a"]
    issues = store.check({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": nested})
    assert len(issues) == 1 and issues[0].rule == "K001"


# ---------------------------------------------------------------- CRDs


def test_valid_flux_objects_pass(store: SchemaStore) -> None:
    assert store.check(helmrelease(values={"anything": {"goes": [1, None]}})) == []
    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {
            "interval": "10m",
            "path": "./apps",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            "postBuild": {"substitute": {"cluster": "c1"}},
        },
    }
    assert store.check(kustomization) == []


def test_crd_schemas_are_strict(store: SchemaStore) -> None:
    obj = helmrelease(valuez={}, interval="ten minutes")
    ref = obj["spec"]["chart"]["spec"]["sourceRef"]
    ref["nmae"] = ref.pop("name")
    obj["metadata"]["lables"] = {"loose": "metadata"}
    found = by_path(store.check(obj))
    assert {i.rule for i in found.values()} == {"K002"}
    assert found[("spec", "valuez")].message == 'unknown field "valuez" (did you mean "values"?)'
    assert "does not match" in found[("spec", "interval")].message
    assert ("spec", "chart", "spec", "sourceRef", "nmae") in found
    assert ("spec", "chart", "spec", "sourceRef") in found  # name is required
    assert not any(p[:1] == ("metadata",) for p in found)


def test_synthetic_crd_strictness(store: SchemaStore) -> None:
    ok = widget(
        port="http",
        note=None,
        config={"free": {"form": 1}},
        template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}},
        labels={"a": "b"},
        marker={},
        tags=[{"key": "ä"}],
        owner="ABC",  # its rule uses lowerAscii(), which cel-python lacks: skipped, not reported
    )
    assert store.check(ok) == []
    assert store.check(widget(port=8080)) == []
    bad = widget(port=True, marker={"x": 1}, labels={"a": 1}, unknown=1)
    bad["metadata"]["name"] = "a-name-longer-than-ten"
    found = by_path(store.check(bad))
    assert found[("spec", "port")].message == "expected integer or string, got boolean true"
    assert found[("spec", "marker", "x")].message == 'unknown field "x"'
    assert found[("spec", "labels", "a")].message == "expected string, got integer 1"
    assert found[("spec", "unknown")].rule == "K002"
    assert found[("metadata", "name")].rule == "K002"
    assert set(found) == {
        ("spec", "port"),
        ("spec", "marker", "x"),
        ("spec", "labels", "a"),
        ("spec", "unknown"),
        ("metadata", "name"),
    }


def test_cel_rules_see_schema_defaults(store: SchemaStore) -> None:
    without_mode = widget()
    del without_mode["spec"]["mode"]  # defaulted to "manual" by the API server before CEL runs
    assert store.check(without_mode) == [SchemaIssue("K003", ("spec",), "replicas is required unless mode is auto")]
    without_mode["spec"]["replicas"] = 2
    assert store.check(without_mode) == []


def test_cel_rules_of_synthetic_crd(store: SchemaStore) -> None:
    issues = store.check(widget(mode=None, size=12, port="x", tags=[{"key": "ok"}, {"key": "forbidden"}]))
    assert {(i.rule, i.path, i.message) for i in issues} == {
        # mode is pruned (null) and then defaulted to "manual": replicas becomes required
        ("K003", ("spec",), "replicas is required unless mode is auto"),
        ("K003", ("spec",), "size 12 is larger than 10"),  # messageExpression
        ("K003", ("spec", "port"), "port must not be x"),  # fieldPath
        ("K003", ("spec", "tags", 1), "tag key is forbidden"),
    }


def test_cel_helmrelease_chart_xor_chart_ref(store: SchemaStore) -> None:
    both = helmrelease(chartRef={"kind": "OCIRepository", "name": "prefect"})
    neither = helmrelease(chart=None)
    for obj in (both, neither):
        assert store.check(obj) == [SchemaIssue("K003", ("spec",), "either chart or chartRef must be set")]
    assert store.check(helmrelease(chart=None, chartRef={"kind": "OCIRepository", "name": "prefect"})) == []


def test_cel_flux_provider_and_receiver(store: SchemaStore) -> None:
    provider = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
        "kind": "Provider",
        "metadata": {"name": "p", "namespace": "flux-system"},
        "spec": {"type": "slack", "commitStatusExpr": "'x'", "secretRef": {"name": "s"}},
    }
    [issue] = store.check(provider)
    assert issue.rule == "K003" and issue.path == ("spec",) and "commitStatusExpr" in issue.message
    provider["spec"]["type"] = "gitlab"
    assert store.check(provider) == []
    receiver = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1",
        "kind": "Receiver",
        "metadata": {"name": "r", "namespace": "flux-system"},
        "spec": {"type": "gitlab", "resources": [{"kind": "GitRepository", "name": "flux-system"}]},
    }
    assert [i.message for i in store.check(receiver)] == ["secretRef is required when type is not generic-oidc"]


def test_cel_external_secrets_store(store: SchemaStore) -> None:
    secret_store = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "s", "namespace": "prefect"},
        "spec": {
            "provider": {
                "secretserver": {
                    "serverURL": "https://example.com",
                    "username": {"value": "u", "secretRef": {"name": "a", "key": "b"}},
                    "password": {"value": "p"},
                }
            }
        },
    }
    [issue] = store.check(secret_store)
    assert issue == SchemaIssue(
        "K003", ("spec", "provider", "secretserver", "username"), "exactly one of value or secretRef must be set"
    )


def test_removed_flux_and_crd_versions(store: SchemaStore) -> None:
    hr = helmrelease()
    hr["apiVersion"] = "helm.toolkit.fluxcd.io/v2beta2"
    [issue] = store.check(hr)
    assert (issue.rule, issue.path) == ("K004", ("apiVersion",))
    assert issue.message.endswith("use helm.toolkit.fluxcd.io/v2")
    # without the Flux CRDs at hand, Flux's retired versions are still known
    [bare] = SchemaStore().check(hr)
    assert bare.rule == "K004" and "Flux" in bare.message and bare.message.endswith("use helm.toolkit.fluxcd.io/v2")
    [alert] = SchemaStore().check({"apiVersion": "notification.toolkit.fluxcd.io/v1beta2", "kind": "Alert"})
    assert alert.message.endswith("use notification.toolkit.fluxcd.io/v1beta3")
    [receiver] = store.check({"apiVersion": "notification.toolkit.fluxcd.io/v1beta2", "kind": "Receiver"})
    assert receiver.message.endswith("use notification.toolkit.fluxcd.io/v1")
    [image] = store.check({"apiVersion": "image.toolkit.fluxcd.io/v1beta2", "kind": "ImagePolicy"})
    assert image.message.endswith("use image.toolkit.fluxcd.io/v1")
    # served: false in the CRD
    [eso] = store.check({"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret"})
    assert eso.rule == "K004" and "served: false" in eso.message and eso.message.endswith("use external-secrets.io/v1")
    [w] = store.check({**widget(), "apiVersion": "example.com/v1alpha1"})
    assert w.rule == "K004" and w.message.endswith("use example.com/v1")


def test_no_schema(store: SchemaStore) -> None:
    [issue] = store.check({"apiVersion": "gadgets.example.org/v1", "kind": "Gadget", "metadata": {"name": "g"}})
    assert issue.rule == "K005" and issue.path == ("kind",)
    assert "gadgets.example.org/v1 Gadget" in issue.message and "--crds" in issue.message and "cache" in issue.message
    [typo] = store.check({"apiVersion": "example.com/v1", "kind": "Widgit"})
    assert typo.rule == "K005" and 'did you mean "Widget"' in typo.message
    assert not store.has_schema("gadgets.example.org/v1", "Gadget")
    assert store.has_schema("example.com/v1", "Widget") and store.has_schema("apps/v1", "Deployment")
    assert not store.has_schema("example.com/v1alpha1", "Widget")


def test_kustomize_config_is_not_a_cluster_object(store: SchemaStore) -> None:
    assert store.check({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}) == []


# ---------------------------------------------------------------- SOPS


def test_real_sops_encrypted_secret_is_valid(store: SchemaStore) -> None:
    for name in ("global-secret.yaml", "algorithms-age.yaml"):
        obj = yaml.safe_load(shared("sops-vectors", "fluxcd-kustomize-controller", name).read_text())
        assert "sops" in obj
        assert store.check(obj) == []
    plain = {k: v for k, v in obj.items() if k != "sops"}
    plain["stringData"] = {"key": 1}
    assert [i.path for i in store.check(plain)] == [("stringData", "key")]


def test_sops_encrypted_values_of_other_types_are_accepted(store: SchemaStore) -> None:
    enc_int = "ENC[AES256_GCM,data:Mg==,iv:aaaa,tag:bbbb,type:int]"
    sops = {"age": [{"recipient": "age1x"}], "mac": "ENC[...]", "version": "3.10.2"}
    obj = deployment(replicas=enc_int)
    assert [i.path for i in store.check(obj)] == [("spec", "replicas")]  # no sops key: a plain string
    assert store.check({**obj, "sops": sops}) == []
    hr = helmrelease(interval="ENC[AES256_GCM,data:MTBt,iv:a,tag:b,type:str]")
    assert store.check({**hr, "sops": sops}) == []
    w = widget(size="ENC[AES256_GCM,data:MTI=,iv:a,tag:b,type:int]", mode="manual")
    assert store.check({**w, "sops": sops}) == []  # its CEL rules see an encrypted value: skipped
    assert store.check({**widget(), "sops": sops, "bogus": 1})[0].path == ("bogus",)


# ---------------------------------------------------------------- loading CRDs and the cache


def test_add_crds_from_directory_and_errors(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "sub" / "widget.yml").write_text(WIDGET_CRD.read_text())
    (tmp_path / ".hidden" / "widget.yaml").write_text("not: [valid")
    (tmp_path / "other.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n")
    s = SchemaStore()
    assert s.add_crds_from(tmp_path) == 1
    assert s.has_schema("example.com/v1", "Widget")

    with pytest.raises(ValueError, match="no such file or directory"):
        s.add_crds_from(tmp_path / "missing")
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: [\n")
    with pytest.raises(ValueError, match=r"broken\.yaml: invalid YAML: line \d+") as err:
        s.add_crds_from(broken)
    assert "\n" not in str(err.value)
    broken.write_text("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec: {names: {kind: X}}\n")
    with pytest.raises(ValueError, match=r"missing spec\.group"):
        s.add_crds_from(broken)
    with pytest.raises(ValueError, match="not supported"):
        s.add_crd({"apiVersion": "apiextensions.k8s.io/v1beta1", "kind": "CustomResourceDefinition"}, "x.yaml")


def test_crd_cache_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(tmp_path / "g"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert crd_cache_dir() == tmp_path / "g" / "crds"
    monkeypatch.delenv("GITOPSGEN_CACHE_DIR")
    assert crd_cache_dir() == tmp_path / "x" / "gitopsgen" / "crds"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert crd_cache_dir() == tmp_path / "home" / ".cache" / "gitopsgen" / "crds"


def test_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(tmp_path))
    first = SchemaStore()
    assert first.add_crds_from(shared("flux-crds")) == 15
    first.add_crd(yaml.safe_load(WIDGET_CRD.read_text()), "repo/widget.yaml")  # from the repository: not cached
    written = first.save_to_cache()
    assert len(written) == 15 and all(p.parent == tmp_path / "crds" for p in written)
    assert (tmp_path / "crds" / "helm.toolkit.fluxcd.io_helmreleases.json") in written
    assert not list((tmp_path / "crds").glob("example.com_widgets.*"))
    before = {p.name: p.read_bytes() for p in written}
    again = SchemaStore()
    again.add_crds_from(shared("flux-crds"))
    again.save_to_cache()
    assert {p.name: p.read_bytes() for p in (tmp_path / "crds").iterdir()} == before  # deterministic, no temp files

    cached = SchemaStore()
    assert cached.add_cache() == 15
    assert cached.check(helmrelease()) == []
    assert [i.rule for i in cached.check(helmrelease(chart=None))] == ["K003"]
    (tmp_path / "crds" / "garbage.yaml").write_text("::: [")
    (tmp_path / "crds" / "garbage.json").write_text("{")
    assert SchemaStore().add_cache() == 15  # a broken cache file is skipped
    assert SchemaStore().add_cache(tmp_path / "nowhere") == 0


def test_repository_crds_win_over_cached_ones(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    s = SchemaStore()
    s.add_crds_from(WIDGET_CRD)
    s.save_to_cache(cache_dir)
    changed = yaml.safe_load(WIDGET_CRD.read_text())
    changed["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["extra"] = {
        "type": "string"
    }
    obj = widget(extra="x")
    for order in ("cache first", "repository first"):
        store = SchemaStore()
        if order == "cache first":
            assert store.add_cache(cache_dir) == 1
            store.add_crd(copy.deepcopy(changed), "repo/widget.yaml")
        else:
            store.add_crd(copy.deepcopy(changed), "repo/widget.yaml")
            assert store.add_cache(cache_dir) == 0
        assert store.check(obj) == [], order
    cache_only = SchemaStore()
    cache_only.add_cache(cache_dir)
    assert [i.path for i in cache_only.check(obj)] == [("spec", "extra")]


# ---------------------------------------------------------------- compiled once


def test_builtin_validators_are_compiled_once() -> None:
    SchemaStore("1.30").check(deployment())
    loads, compiled = STATS["definitions_loaded"], STATS["builtin_validators"]
    validator = builtin._builtins("1.30").validator("apps/v1", "Deployment")
    for _ in range(50):
        assert SchemaStore("1.30").check(deployment()) == []
    assert (STATS["definitions_loaded"], STATS["builtin_validators"]) == (loads, compiled)
    assert builtin._builtins("1.30").validator("apps/v1", "Deployment") is validator


def test_crd_validators_and_cel_programs_are_compiled_once(tmp_path: Path) -> None:
    crd = yaml.safe_load(WIDGET_CRD.read_text())
    crd["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["unique"] = {
        "type": "string",
        "description": str(tmp_path),  # a schema no other test compiles
    }
    crd["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"].append(
        {"rule": f"self.size != {len(str(tmp_path)) + 1000}", "message": "unique rule"}
    )
    before = STATS.copy()
    for _ in range(3):
        s = SchemaStore()
        s.add_crd(copy.deepcopy(crd), "repo/widget.yaml")
        for _ in range(20):
            assert s.check(widget(unique="u")) == []
    assert STATS["crd_validators"] - before["crd_validators"] == 1
    assert STATS["cel_compiled"] - before["cel_compiled"] == 1  # only the new rule; the others were cached


def test_benchmark_line(store: SchemaStore, capsys: pytest.CaptureFixture[str]) -> None:
    obj = deployment()
    store.check(obj)
    start = time.perf_counter()
    for _ in range(2000):
        store.check(obj)
    rate = 2000 / (time.perf_counter() - start)
    with capsys.disabled():
        print(f"\nschema stage: {rate:.0f} Deployments/s")
