"""K009 invalid-enum-value: a core field holds a value the API server's validation does not accept.

The Kubernetes schemas bundled with kubernetes-validate carry no enums for field values (only for apiVersion
and kind), so the API server's fixed value sets are listed here, each from the validation code that enforces
it: k8s.io/kubernetes pkg/apis/core/validation/validation.go (Services, Pods and their templates, volumes
claims, tolerations, probes), pkg/apis/apps/validation/validation.go (Deployment, StatefulSet and DaemonSet
strategies) and pkg/apis/networking/validation/validation.go (Ingress path types, NetworkPolicy policy
types) — https://github.com/kubernetes/kubernetes/tree/master/pkg/apis. The comparison is exact: the API
server answers ``Unsupported value: "local": supported values: "Cluster", "Local"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..findings import Finding, Rule, Severity
from ..model import Context, JsonPath, Manifest
from . import finding_at

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="K009",
    name="invalid-enum-value",
    stage="semantics",
    severity=Severity.ERROR,
    summary="A core field holds a value outside the fixed set the API server accepts.",
    doc=(
        "Many fields of built-in kinds take one of a fixed set of values, matched exactly, capitals included: "
        "a Service's type, externalTrafficPolicy, internalTrafficPolicy, sessionAffinity and ipFamilyPolicy; "
        "port protocols (TCP, UDP, SCTP); a Pod's restartPolicy and dnsPolicy; a container's "
        "imagePullPolicy and terminationMessagePolicy; probe httpGet schemes; toleration operators and "
        "effects; PersistentVolumeClaim access and volume modes; Deployment, StatefulSet and DaemonSet "
        "strategy types; Ingress path types and NetworkPolicy policy types. The bundled Kubernetes schemas "
        "do not carry these sets, so the validator knows them from the API server's validation code. A "
        "value outside the set (externalTrafficPolicy: local, protocol: tcp) is refused by the API server "
        "('Unsupported value'), and the Flux Kustomization or Helm release applying it fails. The finding "
        "points at the field, in the file that set it."
    ),
)

SERVICE_SPEC: dict[str, tuple[str, ...]] = {
    "type": ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"),
    "externalTrafficPolicy": ("Cluster", "Local"),
    "internalTrafficPolicy": ("Cluster", "Local"),
    "sessionAffinity": ("ClientIP", "None"),
    "ipFamilyPolicy": ("SingleStack", "PreferDualStack", "RequireDualStack"),
}
PROTOCOLS = ("TCP", "UDP", "SCTP")
POD_SPEC: dict[str, tuple[str, ...]] = {
    "restartPolicy": ("Always", "OnFailure", "Never"),
    "dnsPolicy": ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"),
}
CONTAINER: dict[str, tuple[str, ...]] = {
    "imagePullPolicy": ("Always", "IfNotPresent", "Never"),
    "terminationMessagePolicy": ("File", "FallbackToLogsOnError"),
}
SCHEMES = ("HTTP", "HTTPS")
TOLERATION: dict[str, tuple[str, ...]] = {
    "operator": ("Exists", "Equal"),
    "effect": ("NoSchedule", "PreferNoSchedule", "NoExecute"),
}
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
VOLUME_MODES = ("Filesystem", "Block")
STRATEGIES: dict[str, tuple[str, tuple[str, ...]]] = {  # kind → (strategy field, types)
    "Deployment": ("strategy", ("Recreate", "RollingUpdate")),
    "StatefulSet": ("updateStrategy", ("RollingUpdate", "OnDelete")),
    "DaemonSet": ("updateStrategy", ("RollingUpdate", "OnDelete")),
}
POD_MANAGEMENT = ("OrderedReady", "Parallel")
PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")
POLICY_TYPES = ("Ingress", "Egress")
TEMPLATE_KINDS = {  # kind → where its pod spec is
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
}
_NOT_CORE = ("", "apps", "batch")


def _at(data: Any, path: JsonPath) -> Any:
    for part in path:
        if isinstance(part, int):
            data = data[part] if isinstance(data, list) and 0 <= part < len(data) else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
    return data


def _items(data: Any, path: JsonPath) -> Iterator[tuple[JsonPath, dict[str, Any]]]:
    value = _at(data, path)
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield (*path, i), item


def _fields(obj: dict[str, Any], path: JsonPath, allowed: dict[str, tuple[str, ...]]) -> Iterator[tuple[Any, ...]]:
    value = _at(obj, path)
    if isinstance(value, dict):
        for name, values in allowed.items():
            if name in value:
                yield (*path, name), value[name], values


def _pod(obj: dict[str, Any], spec: JsonPath) -> Iterator[tuple[JsonPath, Any, tuple[str, ...]]]:
    yield from _fields(obj, spec, POD_SPEC)
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for c, _ in _items(obj, (*spec, group)):
            yield from _fields(obj, c, CONTAINER)
            for p, port in _items(obj, (*c, "ports")):
                if "protocol" in port:
                    yield (*p, "protocol"), port["protocol"], PROTOCOLS
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                http = _at(obj, (*c, probe, "httpGet"))
                if isinstance(http, dict) and "scheme" in http:
                    yield (*c, probe, "httpGet", "scheme"), http["scheme"], SCHEMES
    for t, _ in _items(obj, (*spec, "tolerations")):
        yield from _fields(obj, t, TOLERATION)


def _pvc_spec(obj: dict[str, Any], spec: JsonPath) -> Iterator[tuple[JsonPath, Any, tuple[str, ...]]]:
    modes = _at(obj, (*spec, "accessModes"))
    for i, mode in enumerate(modes if isinstance(modes, list) else []):
        yield (*spec, "accessModes", i), mode, ACCESS_MODES
    if isinstance(_at(obj, spec), dict) and "volumeMode" in _at(obj, spec):
        yield (*spec, "volumeMode"), _at(obj, (*spec, "volumeMode")), VOLUME_MODES


def values(m: Manifest) -> Iterator[tuple[JsonPath, Any, tuple[str, ...]]]:
    """(path, value, allowed values) for every enum field of ``m`` this rule knows."""
    obj, kind, group = m.data, m.kind, m.api_group
    if group == "" and kind == "Service":
        yield from _fields(obj, ("spec",), SERVICE_SPEC)
        for p, port in _items(obj, ("spec", "ports")):
            if "protocol" in port:
                yield (*p, "protocol"), port["protocol"], PROTOCOLS
    if group in _NOT_CORE and kind in TEMPLATE_KINDS:
        yield from _pod(obj, TEMPLATE_KINDS[kind])
    if group == "apps" and kind in STRATEGIES:
        field, types = STRATEGIES[kind]
        strategy = _at(obj, ("spec", field))
        if isinstance(strategy, dict) and "type" in strategy:
            yield ("spec", field, "type"), strategy["type"], types
        if kind == "StatefulSet" and isinstance(_at(obj, ("spec",)), dict) and "podManagementPolicy" in obj["spec"]:
            yield ("spec", "podManagementPolicy"), obj["spec"]["podManagementPolicy"], POD_MANAGEMENT
        if kind == "StatefulSet":
            for t, _ in _items(obj, ("spec", "volumeClaimTemplates")):
                yield from _pvc_spec(obj, (*t, "spec"))
    if group == "" and kind == "PersistentVolumeClaim":
        yield from _pvc_spec(obj, ("spec",))
    if group == "networking.k8s.io" and kind == "Ingress":
        for r, _ in _items(obj, ("spec", "rules")):
            for p, path in _items(obj, (*r, "http", "paths")):
                if "pathType" in path:
                    yield (*p, "pathType"), path["pathType"], PATH_TYPES
    if group == "networking.k8s.io" and kind == "NetworkPolicy":
        types = _at(obj, ("spec", "policyTypes"))
        for i, value in enumerate(types if isinstance(types, list) else []):
            yield ("spec", "policyTypes", i), value, POLICY_TYPES


def _check(m: Manifest) -> Iterator[Finding]:
    for path, value, allowed in values(m):
        if not isinstance(value, str) or value in allowed or "${" in value:
            continue  # a wrong type is K001's; an unsubstituted variable is B003's
        field = ".".join(str(p) for p in path if not isinstance(p, int))
        hint = next((a for a in allowed if a.lower() == value.lower()), "")
        close = f" (did you mean {hint!r}?)" if hint else ""
        supported = ", ".join(f'"{a}"' for a in allowed)
        message = f"{field}: unsupported value {value!r}{close}: the API server accepts only {supported}"
        yield finding_at(RULE, m, message, *path)


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        for m in cluster.manifests:
            yield from _check(m)
