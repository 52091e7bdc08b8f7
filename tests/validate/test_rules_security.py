"""Unit tests of the semantic security/hygiene rules S001-S006, on hand-built contexts.

``context()`` turns ``{file: yaml text}`` into Documents (with path→line maps from PyYAML's node
marks: a mapping entry's line is its key's, a list item's line is where the item starts) and one or
more clusters of Manifests, as the loader and the builds would.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitopsgen.validate.catalogue import RULES
from gitopsgen.validate.findings import Finding, Severity
from gitopsgen.validate.model import Cluster, Context, Document, JsonPath, Manifest
from gitopsgen.validate.rules import (
    _workloads,
    s001_plaintext_secret,
    s002_image_policy_marker,
    s003_secret_ref_missing,
    s004_service_selector_unmatched,
    s005_floating_image_tag,
    s006_missing_resource_requests,
)

# ---------------------------------------------------------------- helpers


def _lines(node: yaml.Node, path: JsonPath, out: dict[JsonPath, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            out[child] = key.start_mark.line + 1
            _lines(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            out[child] = item.start_mark.line + 1
            _lines(item, child, out)


def documents(files: dict[str, str]) -> list[Document]:
    docs: list[Document] = []
    for file, text in files.items():
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        datas = list(yaml.safe_load_all(text))
        for index, (node, data) in enumerate(zip(nodes, datas, strict=True)):
            if node is None:
                continue
            lines: dict[JsonPath, int] = {}
            _lines(node, (), lines)
            docs.append(Document(file, index, node.start_mark.line + 1, data, lines))
    return docs


def manifests_of(docs: list[Document], cluster: str) -> list[Manifest]:
    return [
        Manifest(d.data, cluster, d.file, d.line, d.lines)
        for d in docs
        if d.is_object and not d.file.endswith("kustomization.yaml")
    ]


def context(
    files: dict[str, str],
    root: Path = Path("."),
    extra: list[Manifest] | None = None,
    clusters: dict[str, list[str]] | None = None,
) -> Context:
    """A Context of dedented ``files``; one cluster c1 of all objects, or ``clusters`` name → files."""
    files = {f: textwrap.dedent(t).lstrip("\n") for f, t in files.items()}
    docs = documents(files)
    if clusters is None:
        built = [Cluster("c1", "clusters/c1", manifests_of(docs, "c1") + list(extra or []))]
    else:
        built = [
            Cluster(name, f"clusters/{name}", manifests_of([d for d in docs if d.file in wanted], name))
            for name, wanted in clusters.items()
        ]
    return Context(root=root, documents=docs, texts=files, clusters=built)


def helm_manifest(data: str, cluster: str = "c1") -> Manifest:
    """An object rendered from a chart: no line map, pointing at its HelmRelease."""
    return Manifest(
        yaml.safe_load(textwrap.dedent(data)), cluster, "clusters/c1/hr.yaml", 3, {}, via="HelmRelease apps/app"
    )


def where(findings: list[Finding]) -> list[tuple[str, int]]:
    return sorted((f.file, f.line) for f in findings)


def run(module: Any, ctx: Context) -> list[Finding]:
    findings = list(module.check(ctx))
    assert all(f.rule == module.RULE.id and f.severity == module.RULE.severity for f in findings)
    return findings


def test_rules_are_registered_with_docs() -> None:
    expected = {
        "S001": ("plaintext-secret", Severity.ERROR),
        "S002": ("image-policy-marker", Severity.ERROR),
        "S003": ("secret-ref-missing", Severity.WARNING),
        "S004": ("service-selector-unmatched", Severity.WARNING),
        "S005": ("floating-image-tag", Severity.WARNING),
        "S006": ("missing-resource-requests", Severity.WARNING),
    }
    for rule_id, (name, severity) in expected.items():
        rule = RULES[rule_id]
        assert (rule.name, rule.severity, rule.stage) == (name, severity, "semantics")
        assert rule.summary.endswith(".") and "\n" not in rule.summary
        assert len(rule.doc) > 200


# ---------------------------------------------------------------- S001 plaintext-secret

PLAIN_SECRET = """
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: apps
type: Opaque
data:
  password: aHVudGVyMg==
stringData:
  user: admin
  empty: ""
"""

SOPS_SECRET = """
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: apps
stringData:
  password: ENC[AES256_GCM,data:Zm9v,iv:YmFy,tag:YmF6,type:str]
  user: {user}
sops:
  age:
    - recipient: age1examplexample
      enc: not-a-real-key
  lastmodified: "2026-01-01T00:00:00Z"
  mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]
  encrypted_regex: ^(password)$
  version: 3.10.2
"""


def test_s001_plaintext_secret_data_and_string_data() -> None:
    findings = run(s001_plaintext_secret, context({"apps/secret.yaml": PLAIN_SECRET}))
    assert where(findings) == [("apps/secret.yaml", 7), ("apps/secret.yaml", 9)]
    assert "password" in findings[0].message or "password" in findings[1].message
    assert all("empty" not in f.message for f in findings)
    assert {f.object for f in findings} == {"Secret apps/db"}


def test_s001_sops_encrypted_secret_passes() -> None:
    ctx = context({"apps/secret.yaml": SOPS_SECRET.format(user="ENC[AES256_GCM,data:YQ==,iv:Yg==,tag:Yw==,type:str]")})
    assert run(s001_plaintext_secret, ctx) == []


def test_s001_sops_file_with_values_left_in_clear_text() -> None:
    findings = run(s001_plaintext_secret, context({"apps/secret.yaml": SOPS_SECRET.format(user="admin")}))
    assert where(findings) == [("apps/secret.yaml", 6)]
    assert "(user)" in findings[0].message and "SOPS-encrypted" in findings[0].message


def test_s001_ignores_empty_secrets_and_other_kinds() -> None:
    files = {
        "a.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {}\n",
        "b.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: b}\nstringData: {k: ''}\n",
        "c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n",
        "d.yaml": "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: d}\nspec: {}\n",
        "e.yaml": "not: [a, manifest]\n",
    }
    assert run(s001_plaintext_secret, context(files)) == []


def test_s001_secret_generators(tmp_path: Path) -> None:
    kustomization = """
    apiVersion: kustomize.config.k8s.io/v1beta1
    kind: Kustomization
    secretGenerator:
      - name: literal
        literals:
          - password=hunter2
      - name: plain-env
        envs:
          - plain.env
      - name: sops-env
        envs:
          - secrets.enc.env
      - name: plain-file
        files:
          - tls.key=../keys/tls.key
      - name: missing-file
        files:
          - nowhere.txt
      - name: empty
        behavior: merge
    """
    (tmp_path / "apps").mkdir()
    (tmp_path / "keys").mkdir()
    (tmp_path / "apps" / "plain.env").write_text("PASSWORD=hunter2\n")
    (tmp_path / "apps" / "secrets.enc.env").write_text(
        "PASSWORD=ENC[AES256_GCM,data:Zm9v,iv:YmFy,tag:YmF6,type:str]\nsops_version=3.10.2\nsops_mac=ENC[...]\n"
    )
    (tmp_path / "keys" / "tls.key").write_text("-----BEGIN PRIVATE KEY-----\n")
    ctx = context({"apps/kustomization.yaml": kustomization}, root=tmp_path)
    findings = run(s001_plaintext_secret, ctx)
    assert where(findings) == [("apps/kustomization.yaml", n) for n in (4, 7, 13)]
    messages = sorted(f.message for f in findings)
    assert "literal(s)" in messages[0] and "secretGenerator literal " in messages[0]
    assert "plain.env" in messages[1]
    assert "../keys/tls.key" in messages[2]


def test_s001_sops_encrypted_yaml_generator_file_and_non_kustomization_files(tmp_path: Path) -> None:
    files = {
        "apps/kustomization.yaml": "secretGenerator:\n  - name: s\n    files:\n      - creds.yaml\n",
        "apps/creds.yaml": 'password: ENC[AES256_GCM,data:Zm9v,iv:YmFy,tag:YmF6,type:str]\nsops:\n  mac: "x"\n',
        "apps/other.yaml": "secretGenerator:\n  - name: s\n    literals: [a=b]\n",
    }
    assert run(s001_plaintext_secret, context(files, root=tmp_path)) == []


# ---------------------------------------------------------------- S002 image-policy-marker

IMAGE_OBJECTS = """
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: app
  namespace: flux-system
spec:
  image: ghcr.io/example/app
  interval: 10m
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: app
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: app
  policy:
    semver:
      range: ">=1.0.0"
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: orphan
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: gone
  policy:
    semver:
      range: ">=1.0.0"
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: elsewhere
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: app
    namespace: images
  policy:
    semver:
      range: ">=1.0.0"
"""

MARKED = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: images
data:
  whole: ghcr.io/example/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
  tag: "1.0.0"  # {"$imagepolicy": "flux-system:app:tag"}
  name: ghcr.io/example/app # {"$imagepolicy":"flux-system:app:name"}
  digest: sha256:0000 # {"$imagepolicy": "flux-system:app:digest"}
  long: x # {"$ref": "#/definitions/io.k8s.cli.setters.flux-system:app:tag"}
  # image: commented-out:1.0 # {"$imagepolicy": "flux-system:nope"}
  quoted: "a # {\\"$imagepolicy\\": \\"flux-system:nope\\"}"
  missing: x:1 # {"$imagepolicy": "flux-system:nope"}
  wrongns: x:1 # {"$imagepolicy": "apps:app"}
  orphan: x:1 # {"$imagepolicy": "flux-system:orphan:tag"}
  elsewhere: x:1 # {"$imagepolicy": "flux-system:elsewhere"}
  badjson: x:1 # {"$imagepolicy": "flux-system:app"
  nons: x:1 # {"$imagepolicy": "app"}
  badfield: x:1 # {"$imagepolicy": "flux-system:app:version"}
  notstring: x:1 # {"$imagepolicy": "flux-system:app", "n": 1}
  trailing: x:1 # {"$imagepolicy": "flux-system:app"} # bump me
"""


def test_s002_markers_resolve_or_are_reported() -> None:
    ctx = context({"flux/images.yaml": IMAGE_OBJECTS, "apps/images.yaml": MARKED})
    findings = run(s002_image_policy_marker, ctx)
    assert where(findings) == [("apps/images.yaml", n) for n in range(13, 22)]
    by_line = {f.line: f for f in findings}
    assert "ImagePolicy flux-system/nope" in by_line[13].message
    assert "ImagePolicy apps/app" in by_line[14].message
    assert "ImageRepository flux-system/gone" in by_line[15].message
    assert "ImageRepository images/app" in by_line[16].message
    assert "not a JSON object" in by_line[17].message
    assert "NAMESPACE:NAME" in by_line[18].message
    assert "'version'" in by_line[19].message
    assert "strings only" in by_line[20].message
    assert "not a JSON object" in by_line[21].message
    assert by_line[13].column == MARKED.splitlines()[13].index("#") + 1


def test_s002_policies_from_cluster_builds_and_namespaceless_documents() -> None:
    marked = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\ndata:\n  a: x # {"$imagepolicy": "ops:app:tag"}\n'
    base_policy = "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: app}\n"
    base_policy += "spec:\n  imageRepositoryRef: {name: app}\n  policy: {semver: {range: '1.x'}}\n"
    rendered_repo = helm_manifest("""
        apiVersion: image.toolkit.fluxcd.io/v1
        kind: ImageRepository
        metadata: {name: app, namespace: ops}
        spec: {image: ghcr.io/x/app, interval: 5m}
    """)
    ctx = context({"m.yaml": marked, "base/policy.yaml": base_policy}, extra=[rendered_repo])
    assert run(s002_image_policy_marker, ctx) == []
    ctx = context({"m.yaml": marked, "base/policy.yaml": base_policy})
    assert where(run(s002_image_policy_marker, ctx)) == [("m.yaml", 5)]


@pytest.mark.parametrize(
    ("line", "start"),
    [
        ("image: foo:1 # c", 13),
        ("image: 'it''s # not' # c", 21),
        ('image: "a \\" # b" # c', 18),
        ("url: http://x/#frag", None),
        ("# whole line", 0),
        ("- x # c", 4),
    ],
)
def test_s002_comment_start(line: str, start: int | None) -> None:
    assert s002_image_policy_marker.comment_start(line) == start


# ---------------------------------------------------------------- pod-spec walkers (_workloads)

POD = {"metadata": {"labels": {"app": "a", "n": 1}}, "spec": {"containers": [{"name": "c"}]}}


@pytest.mark.parametrize(
    ("api_version", "kind", "data", "path"),
    [
        ("v1", "Pod", POD, ("spec",)),
        ("v1", "PodTemplate", {"template": POD}, ("template", "spec")),
        ("apps/v1", "Deployment", {"spec": {"template": POD}}, ("spec", "template", "spec")),
        ("v1", "ReplicationController", {"spec": {"template": POD}}, ("spec", "template", "spec")),
        ("batch/v1", "Job", {"spec": {"template": POD}}, ("spec", "template", "spec")),
        (
            "batch/v1",
            "CronJob",
            {"spec": {"jobTemplate": {"spec": {"template": POD}}}},
            ("spec", "jobTemplate", "spec", "template", "spec"),
        ),
    ],
)
def test_workloads_find_the_pod_spec_of_each_kind(api_version: str, kind: str, data: Any, path: JsonPath) -> None:
    m = Manifest({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, **data}, "c1", "f.yaml", 1)
    assert list(_workloads.pod_specs(m)) == [(POD["spec"], path)]
    assert _workloads.pod_template_labels(m) == {"app": "a", "n": "1"}
    assert _workloads.namespace_of(m) == "default"


def test_workloads_ignore_other_kinds_and_bad_shapes() -> None:
    other = Manifest({"apiVersion": "example.com/v1", "kind": "Deployment", "spec": {"template": POD}}, "c1", "f", 1)
    assert list(_workloads.pod_specs(other)) == [] and _workloads.pod_template_labels(other) is None
    bad = Manifest({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": [1]}}, "c1", "f", 1)
    assert list(_workloads.pod_specs(bad)) == [] and _workloads.pod_template_labels(bad) == {}
    spec = {"initContainers": [{"name": "i"}, "x"], "containers": [{"name": "c"}], "ephemeralContainers": 3}
    found = [(lst, c["name"], p) for lst, c, p in _workloads.containers(spec, ("spec",))]
    assert found == [
        ("containers", "c", ("spec", "containers", 0)),
        ("initContainers", "i", ("spec", "initContainers", 0)),
    ]
    assert _workloads.value_at({"a": [{"b": 1}]}, ("a", 0, "b")) == 1
    assert _workloads.value_at({"a": [{"b": 1}]}, ("a", 1, "b")) is None
    assert _workloads.value_at({"a": "s"}, ("a", "b")) is None and _workloads.as_list("s") == []


# ---------------------------------------------------------------- S003 secret-ref-missing

WORKLOAD = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      imagePullSecrets:
        - name: regcred
        - name: missing-pull
      containers:
        - name: web
          image: nginx:1.27.0
          envFrom:
            - secretRef:
                name: from-es
            - secretRef:
                name: missing-envfrom
            - secretRef:
                name: optional-one
                optional: true
          env:
            - name: A
              valueFrom:
                secretKeyRef:
                  name: sealed-target
                  key: a
            - name: B
              valueFrom:
                secretKeyRef:
                  name: missing-key
                  key: b
      volumes:
        - name: certs
          secret:
            secretName: from-helm
        - name: gone
          secret:
            secretName: missing-volume
        - name: proj
          projected:
            sources:
              - secret:
                  name: from-cluster-es
              - secret:
                  name: missing-projected
"""

PROVIDERS = """
apiVersion: v1
kind: Secret
metadata:
  name: regcred
  namespace: apps
type: kubernetes.io/dockerconfigjson
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: es-object
  namespace: apps
spec:
  target:
    name: from-es
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: sealed-target
  namespace: apps
spec:
  encryptedData: {a: AgBy}
---
apiVersion: external-secrets.io/v1
kind: ClusterExternalSecret
metadata:
  name: from-cluster-es
spec:
  namespaceSelectors:
    - matchLabels: {team: a}
  externalSecretSpec: {}
"""


def test_s003_pod_spec_references() -> None:
    helm_secret = helm_manifest("apiVersion: v1\nkind: Secret\nmetadata: {name: from-helm, namespace: apps}\n")
    ctx = context({"apps/web.yaml": WORKLOAD, "apps/providers.yaml": PROVIDERS}, extra=[helm_secret])
    findings = run(s003_secret_ref_missing, ctx)
    assert where(findings) == [("apps/web.yaml", n) for n in (15, 23, 36, 44, 51)]
    assert all(f.object == "Deployment apps/web" and f.cluster == "c1" for f in findings)
    assert "Secret apps/missing-pull" in findings[0].message


def test_s003_namespaces_and_cluster_isolation() -> None:
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  imagePullSecrets: [{name: s}]\n"
    pod += "  containers: [{name: c, image: 'x:1'}]\n"
    secret_default = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\n"
    secret_other = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: other}\n"
    assert run(s003_secret_ref_missing, context({"p.yaml": pod, "s.yaml": secret_default})) == []
    assert where(run(s003_secret_ref_missing, context({"p.yaml": pod, "s.yaml": secret_other}))) == [("p.yaml", 5)]
    two = context({"p.yaml": pod, "s.yaml": secret_default}, clusters={"c1": ["p.yaml"], "c2": ["p.yaml", "s.yaml"]})
    findings = run(s003_secret_ref_missing, two)
    assert [(f.cluster, f.line) for f in findings] == [("c1", 5)]


def test_s003_service_accounts_cronjobs_and_flux_objects() -> None:
    files = {
        "sa.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa, namespace: a}\n"
        "imagePullSecrets:\n  - name: pull\n",
        "cron.yaml": """
            apiVersion: batch/v1
            kind: CronJob
            metadata: {name: c, namespace: a}
            spec:
              schedule: "@daily"
              jobTemplate:
                spec:
                  template:
                    spec:
                      restartPolicy: Never
                      containers:
                        - name: c
                          image: x:1
                          env:
                            - name: T
                              valueFrom: {secretKeyRef: {name: cron-secret, key: t}}
        """,
        "flux.yaml": """
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: GitRepository
            metadata: {name: flux-system, namespace: flux-system}
            spec:
              url: ssh://git@example.com/fleet.git
              interval: 1m
              secretRef: {name: flux-system}
            ---
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata: {name: apps, namespace: flux-system}
            spec:
              interval: 10m
              path: ./apps
              prune: true
              sourceRef: {kind: GitRepository, name: flux-system}
              decryption:
                provider: sops
                secretRef: {name: sops-age}
            ---
            apiVersion: notification.toolkit.fluxcd.io/v1beta3
            kind: Provider
            metadata: {name: slack, namespace: apps}
            spec:
              type: slack
              secretRef: {name: flux-system}
        """,
    }
    findings = run(s003_secret_ref_missing, context(files))
    assert where(findings) == [("cron.yaml", 16), ("flux.yaml", 19), ("flux.yaml", 26), ("sa.yaml", 5)]
    by_place = {(f.file, f.line): f.message for f in findings}
    assert "spec.decryption.secretRef refers to Secret flux-system/sops-age" in by_place["flux.yaml", 19]
    assert "Provider apps/slack: spec.secretRef refers to Secret apps/flux-system" in by_place["flux.yaml", 26]
    assert "CronJob a/c: container c env T refers to Secret a/cron-secret" in by_place["cron.yaml", 16]


# ---------------------------------------------------------------- S004 service-selector-unmatched

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: typo, namespace: apps}
spec:
  selector:
    app: wbe
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: other-ns, namespace: other}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: manual, namespace: apps}
spec:
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: apps}
spec:
  type: ExternalName
  externalName: example.com
  selector: {app: nothing}
---
apiVersion: v1
kind: Service
metadata: {name: cron, namespace: apps}
spec:
  selector: {job: nightly, tier: batch}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: chart, namespace: apps}
spec:
  selector: {app.kubernetes.io/name: chart}
  ports: [{port: 80}]
"""

CRON = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: apps}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        metadata:
          labels: {job: nightly, tier: batch, extra: x}
        spec:
          restartPolicy: Never
          containers: [{name: c, image: "x:1"}]
"""


def test_s004_service_selectors() -> None:
    rendered = helm_manifest("""
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: chart, namespace: apps}
        spec:
          selector: {matchLabels: {app.kubernetes.io/name: chart}}
          template:
            metadata: {labels: {app.kubernetes.io/name: chart}}
            spec: {containers: [{name: c, image: "x:1"}]}
    """)
    ctx = context({"svc.yaml": SERVICES, "web.yaml": WORKLOAD, "cron.yaml": CRON}, extra=[rendered])
    findings = run(s004_service_selector_unmatched, ctx)
    assert where(findings) == [("svc.yaml", 12), ("svc.yaml", 20)]
    assert "app=wbe" in findings[0].message and "Service apps/typo" in findings[0].message
    assert "namespace other" in findings[1].message


def test_s004_pod_labels_must_contain_whole_selector() -> None:
    svc = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  selector: {app: p, tier: web}\n"
    pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {app: p}\nspec: {containers: []}\n"
    assert where(run(s004_service_selector_unmatched, context({"s.yaml": svc, "p.yaml": pod}))) == [("s.yaml", 5)]
    pod = pod.replace("{app: p}", "{app: p, tier: web}")
    assert run(s004_service_selector_unmatched, context({"s.yaml": svc, "p.yaml": pod})) == []


# ---------------------------------------------------------------- S005 floating-image-tag


@pytest.mark.parametrize(
    ("image", "floating"),
    [
        ("nginx", True),
        ("nginx:latest", True),
        ("docker.io/prefecthq/prefect:3-latest", True),
        ("prefecthq/prefect:latest-python3.11", True),
        ("nginx:stable-alpine", True),
        ("registry:5000/team/app", True),
        ("app:main", True),
        ("app:1.2-stable", True),
        ("app:NIGHTLY", True),
        ("registry:5000/team/app:1.2.3", False),
        ("prefecthq/prefect:3.8.3-python3.11", False),
        ("app:main-1a2b3c4-1700000000", False),
        ("app:1.0.0-beta.1", False),
        ("nginx:latest@sha256:" + "a" * 64, False),
        ("nginx@sha256:" + "a" * 64, False),
        ("${registry}/app:${tag}", False),
        ("", False),
    ],
)
def test_s005_floating_reason(image: str, floating: bool) -> None:
    assert (s005_floating_image_tag.floating_reason(image) is not None) is floating


def test_s005_findings_point_at_each_image() -> None:
    deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: d, namespace: apps}
        spec:
          selector: {matchLabels: {app: d}}
          template:
            metadata: {labels: {app: d}}
            spec:
              initContainers:
                - name: init
                  image: busybox
              containers:
                - name: app
                  image: ghcr.io/x/app:1.4.2
                - name: sidecar
                  image: ghcr.io/x/sidecar:edge
    """
    rendered = helm_manifest("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p, namespace: apps}
        spec: {containers: [{name: c, image: "x:latest"}]}
    """)
    findings = run(s005_floating_image_tag, context({"d.yaml": deployment}, extra=[rendered]))
    assert where(findings) == [("clusters/c1/hr.yaml", 3), ("d.yaml", 11), ("d.yaml", 16)]
    messages = " ".join(f.message for f in findings)
    assert "initContainer init image 'busybox' has no tag" in messages
    assert "'edge'" in messages


# ---------------------------------------------------------------- S006 missing-resource-requests

REQUESTS = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: s, namespace: apps}
spec:
  selector: {matchLabels: {app: s}}
  serviceName: s
  template:
    metadata: {labels: {app: s}}
    spec:
      initContainers:
        - name: migrate
          image: x:1
        - name: proxy
          image: x:1
          restartPolicy: Always
      containers:
        - name: full
          image: x:1
          resources:
            requests: {cpu: 100m, memory: 64Mi}
        - name: limits-only
          image: x:1
          resources:
            limits: {cpu: "1", memory: 1Gi}
        - name: no-memory
          image: x:1
          resources:
            requests:
              cpu: 100m
        - name: bare
          image: x:1
"""


def test_s006_missing_requests() -> None:
    findings = run(s006_missing_resource_requests, context({"s.yaml": REQUESTS}))
    assert where(findings) == [("s.yaml", 13), ("s.yaml", 28), ("s.yaml", 30)]
    by_line = {f.line: f.message for f in findings}
    assert "sidecar container proxy has no resources.requests.cpu and resources.requests.memory" in by_line[13]
    assert by_line[28].endswith("container no-memory has no resources.requests.memory")
    assert "bare" in by_line[30]


def test_s006_other_kinds_are_ignored() -> None:
    files = {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {spec: x}\n"}
    odd = "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {name: v}\n"
    odd += "spec: {template: {spec: {containers: [{name: c, image: x}]}}}\n"
    files["volcano.yaml"] = odd
    ctx = context(files)
    assert run(s006_missing_resource_requests, ctx) == []
    assert run(s005_floating_image_tag, ctx) == []


# ---------------------------------------------------------------- robustness

MALFORMED = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad, namespace: [x]}
spec:
  template:
    metadata: {labels: 3}
    spec:
      imagePullSecrets: 5
      volumes: [{secret: 1}, {projected: {sources: 2}}, 7]
      containers:
        - {name: a, image: 5, env: 3, envFrom: [1, {secretRef: x}], resources: {requests: 4}}
        - 9
      initContainers: {}
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {selector: [a]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
imagePullSecrets: {name: x}
---
apiVersion: v1
kind: Secret
metadata: 4
data: [a, b]
stringData: 7
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: []
spec: {imageRepositoryRef: 3}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: g}
spec: {secretRef: [x], verify: 2}
"""


@pytest.mark.parametrize(
    "module",
    [
        s001_plaintext_secret,
        s002_image_policy_marker,
        s003_secret_ref_missing,
        s004_service_selector_unmatched,
        s005_floating_image_tag,
        s006_missing_resource_requests,
    ],
)
def test_rules_survive_schema_invalid_objects(module: Any, tmp_path: Path) -> None:
    files = {
        "bad.yaml": MALFORMED,
        "kustomization.yaml": "secretGenerator: [3, {name: x, files: 4, envs: x, env: 5, literals: 6}]\n",
        "m.yaml": 'a: x # {"$imagepolicy": "ns:bad"}\nb: y # {"$imagepolicy": []}\n',
    }
    list(module.check(context(files, root=tmp_path)))
