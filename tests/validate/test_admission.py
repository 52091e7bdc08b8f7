"""gitopsgen.validate.admission (shared by the runtime harness and P005-P007) and the flow-run Job of _flowrun.

The fixtures under tests/validate/fixtures/P005-P008 test the rules end to end; these pin the edges of the
pure functions: quantities, what counts as provided, and RBAC evaluation.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import yaml

from gitopsgen.validate.admission import (
    WORKER_PERMISSIONS,
    Provided,
    allowed,
    missing_permissions,
    pod_problems,
    quantity,
)
from gitopsgen.validate.rules._flowrun import apply_values


def objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.mark.parametrize(
    ("text", "value"),
    [("8Gi", 8 * 2**30), ("2G", 2 * 10**9), ("500m", Decimal("0.5")), ("2", 2), (2, 2), ("1.5Gi", 3 * 2**29),
     ("1e3", 1000), ("12Mi", 12 * 2**20)],
)  # fmt: skip
def test_quantities(text: object, value: object) -> None:
    assert quantity(text) == Decimal(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "8 Gi", "Gi", "eight", None, True])
def test_not_quantities(text: object) -> None:
    assert quantity(text) is None


JOB = """
apiVersion: batch/v1
kind: Job
metadata: {generateName: run-, namespace: flows}
spec:
  template:
    spec:
      serviceAccountName: runner
      imagePullSecrets: [{name: pull}]
      volumes:
        - {name: cfg, configMap: {name: settings}}
        - {name: opt, secret: {secretName: maybe, optional: true}}
      containers:
        - name: job
          env:
            - {name: AUTH, valueFrom: {secretKeyRef: {name: auth, key: auth-string}}}
            - {name: LEVEL, valueFrom: {configMapKeyRef: {name: settings, key: level}}}
            - {name: OPT, valueFrom: {secretKeyRef: {name: nope, key: k, optional: true}}}
          envFrom: [{secretRef: {name: bulk}}]
          resources:
            requests: {cpu: "2", memory: 8Gi}
            limits: {cpu: "2", memory: 2Gi}
"""


def test_every_reference_is_looked_up_in_the_job_namespace() -> None:
    job = objects(JOB)[0]
    elsewhere = Provided.of(
        objects(
            """
        apiVersion: v1
        kind: Namespace
        metadata: {name: flows}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: auth, namespace: prefect}
        ---
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: runner, namespace: prefect}
    """.replace("\n        ", "\n")
        )
    )
    found = {(".".join(map(str, p.path)), p.kind) for p in pod_problems(job, elsewhere)}
    c = "spec.template.spec.containers.0"
    assert found == {
        ("spec.template.spec.serviceAccountName", "reference"),
        ("spec.template.spec.imagePullSecrets.0.name", "reference"),
        ("spec.template.spec.volumes.0.configMap.name", "reference"),
        (f"{c}.env.0.valueFrom.secretKeyRef.name", "reference"),
        (f"{c}.env.1.valueFrom.configMapKeyRef.name", "reference"),
        (f"{c}.envFrom.0.secretRef.name", "reference"),
        (f"{c}.resources.requests.memory", "resources"),
    }


def test_operators_and_encrypted_secrets_provide() -> None:
    job = objects(JOB)[0]
    job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "16Gi"
    provided = Provided.of(
        objects("""
apiVersion: v1
kind: Namespace
metadata: {name: flows}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: runner, namespace: flows}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: pull-es, namespace: flows}
spec: {target: {name: pull}}
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: auth, namespace: flows}
---
apiVersion: external-secrets.io/v1
kind: ClusterExternalSecret
metadata: {name: bulk}
spec: {namespaces: [flows], externalSecretSpec: {target: {name: bulk}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: flows}
""")
    )
    assert pod_problems(job, provided) == []
    job["metadata"]["namespace"] = "other"
    assert {p.kind for p in pod_problems(job, provided)} == {"namespace", "reference"}


RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: worker, namespace: flows}
rules:
  - {apiGroups: [""], resources: [pods, pods/log], verbs: [get, list, watch]}
  - {apiGroups: [batch], resources: [jobs], verbs: [get, list, watch, create, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: worker, namespace: flows}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: worker}
subjects: [{kind: ServiceAccount, name: prefect-worker, namespace: prefect}]
"""


def test_rbac_role_binding_grants_in_its_namespace_only() -> None:
    provided = Provided.of(objects(RBAC))
    assert missing_permissions(provided, "prefect", "prefect-worker", "flows") == []
    assert [str(p) for p in missing_permissions(provided, "prefect", "prefect-worker", "prefect")] == [
        str(p) for p in WORKER_PERMISSIONS
    ]
    assert missing_permissions(provided, "prefect", "other", "flows") == list(WORKER_PERMISSIONS)


def test_rbac_cluster_roles_groups_wildcards_and_resource_names() -> None:
    provided = Provided.of(
        objects("""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: all-jobs}
rules:
  - {apiGroups: [batch], resources: ["*"], verbs: ["*"]}
  - {apiGroups: [""], resources: [pods], verbs: [get], resourceNames: [one]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: jobs, namespace: flows}
roleRef: {kind: ClusterRole, name: all-jobs}
subjects: [{kind: Group, name: "system:serviceaccounts:prefect"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: logs}
rules:
  - {apiGroups: [""], resources: ["*/log", pods], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: logs}
roleRef: {kind: ClusterRole, name: logs}
subjects: [{kind: ServiceAccount, name: w, namespace: prefect}]
""")
    )
    assert missing_permissions(provided, "prefect", "w", "flows") == []
    assert allowed(provided, "prefect", "w", "get", "", "pods/log", "anywhere")
    assert not allowed(provided, "prefect", "w", "create", "batch", "jobs", "anywhere")  # RoleBinding: flows only
    assert not allowed(provided, "other", "w", "get", "", "pods", "flows")


def test_apply_values_like_prefect() -> None:
    template = {
        "a": "{{ x }}",
        "b": "{{ missing }}",
        "c": "pre-{{ x }}-{{ missing }}",
        "d": ["{{ y }}", "k"],
        "e": {"f": "{{ none }}"},
    }
    assert apply_values(template, {"x": 3, "y": {"z": 1}, "none": None}) == {
        "a": 3,
        "c": "pre-3-",
        "d": [{"z": 1}, "k"],
        "e": {},
    }
