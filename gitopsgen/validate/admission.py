"""Would the API server admit a Pod-making object in a cluster, and could its Pod start there?

Pure functions over a cluster's rendered objects (plain dicts, as Flux would apply them), shared by
the runtime harness (tests/runtime/, which builds flow-run Jobs with prefect-kubernetes' own code)
and the Prefect rules P005-P007 (which build them from a work pool's base job template). Owns:

- :class:`Provided`: which Namespaces, ServiceAccounts, Secrets and ConfigMaps a cluster provides in a
  namespace. A Secret counts when a Secret (plain or SOPS-encrypted) of that name is applied there, or
  an ExternalSecret (``spec.target.name``, else its name), a SealedSecret, or a ClusterExternalSecret
  that lists or selects the namespace produces it. ``default`` ServiceAccounts exist in every namespace.
- :func:`pod_problems`: the references of a pod-making object (namespace, ServiceAccount,
  imagePullSecrets, ``secretKeyRef``/``configMapKeyRef``/``envFrom``, secret and configMap volumes) not
  provided in *its* namespace, and requests above limits — each with the JSON path of the field.
- :func:`allowed` / :func:`missing_permissions`: RBAC evaluated from the rendered Roles, ClusterRoles
  and their bindings for one ServiceAccount, and :data:`WORKER_PERMISSIONS`, what a Prefect kubernetes
  worker needs in a flow-run namespace.

Nothing here reads files or runs anything; callers turn the problems into findings or assertions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

JsonPath = tuple[str | int, ...]

# ---------------------------------------------------------------- small readers


def _dig(data: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(data, Mapping) and isinstance(key, str):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _group(obj: Mapping[str, Any]) -> str:
    api = str(obj.get("apiVersion", ""))
    return api.split("/")[0] if "/" in api else ""


def _meta(obj: Mapping[str, Any], key: str) -> str:
    return str(_dig(obj, "metadata", key) or "")


# ---------------------------------------------------------------- what a cluster provides


@dataclass
class Provided:
    """What one cluster's rendered objects create, by (namespace, name)."""

    namespaces: set[str] = field(default_factory=set)
    service_accounts: set[tuple[str, str]] = field(default_factory=set)
    secrets: set[tuple[str, str]] = field(default_factory=set)
    secrets_everywhere: set[str] = field(default_factory=set)  # ClusterExternalSecrets selecting by label
    config_maps: set[tuple[str, str]] = field(default_factory=set)
    roles: dict[tuple[str, str], list[Any]] = field(default_factory=dict)  # (ns, name) → rules
    cluster_roles: dict[str, list[Any]] = field(default_factory=dict)
    bindings: list[Mapping[str, Any]] = field(default_factory=list)  # RoleBindings and ClusterRoleBindings

    @classmethod
    def of(cls, objects: Iterable[Mapping[str, Any]]) -> Provided:
        out = cls()
        for obj in objects:
            if isinstance(obj, Mapping):
                out._add(obj)
        return out

    def _add(self, obj: Mapping[str, Any]) -> None:
        kind, group = str(obj.get("kind", "")), _group(obj)
        name, ns = _meta(obj, "name"), _meta(obj, "namespace") or "default"
        found = obj.get("spec")
        spec: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        if (kind, group) == ("Namespace", ""):
            self.namespaces.add(name)
        elif (kind, group) == ("ServiceAccount", ""):
            self.service_accounts.add((ns, name))
        elif (kind, group) == ("Secret", ""):
            self.secrets.add((ns, name))
        elif (kind, group) == ("ConfigMap", ""):
            self.config_maps.add((ns, name))
        elif (kind, group) == ("ExternalSecret", "external-secrets.io"):
            self.secrets.add((ns, str(_dig(spec, "target", "name") or name)))
        elif (kind, group) == ("SealedSecret", "bitnami.com"):
            self.secrets.add((ns, str(_dig(spec, "template", "metadata", "name") or name)))
        elif (kind, group) == ("ClusterExternalSecret", "external-secrets.io"):
            target = str(_dig(spec, "externalSecretSpec", "target", "name") or spec.get("externalSecretName") or name)
            listed = _list(spec.get("namespaces"))
            if listed and not (spec.get("namespaceSelector") or spec.get("namespaceSelectors")):
                self.secrets.update((str(n), target) for n in listed)
            else:
                self.secrets_everywhere.add(target)
        elif (kind, group) == ("Role", "rbac.authorization.k8s.io"):
            self.roles[(ns, name)] = _list(obj.get("rules"))
        elif (kind, group) == ("ClusterRole", "rbac.authorization.k8s.io"):
            self.cluster_roles[name] = _list(obj.get("rules"))
        elif (kind, group) in (
            ("RoleBinding", "rbac.authorization.k8s.io"),
            ("ClusterRoleBinding", "rbac.authorization.k8s.io"),
        ):
            self.bindings.append(obj)

    def has_namespace(self, namespace: str) -> bool:
        return namespace in self.namespaces or namespace in BUILTIN_NAMESPACES

    def has_service_account(self, namespace: str, name: str) -> bool:
        return name == "default" or (namespace, name) in self.service_accounts

    def has_secret(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.secrets or name in self.secrets_everywhere

    def has_config_map(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.config_maps or name == "kube-root-ca.crt"


BUILTIN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})

# ---------------------------------------------------------------- quantities


_SUFFIX = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}  # fmt: skip
_QUANTITY = re.compile(r"^([+-]?[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)$")


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes resource quantity as a number (``"8Gi"`` → 8589934592), None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2)]
    except InvalidOperation:
        return None


# ---------------------------------------------------------------- pod references


@dataclass(frozen=True)
class Problem:
    """One reason an object would be refused or its Pod would not start, at ``path`` inside it."""

    path: JsonPath
    message: str
    kind: str  # "reference" | "resources" | "namespace"


_TEMPLATES: dict[tuple[str, str], JsonPath] = {
    ("", "Pod"): (),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
}


def _containers(spec: Mapping[str, Any], path: JsonPath) -> Iterator[tuple[Mapping[str, Any], JsonPath, str]]:
    for list_name in ("initContainers", "containers"):
        for i, c in enumerate(_list(spec.get(list_name))):
            if isinstance(c, Mapping):
                yield c, (*path, list_name, i), f"container {c.get('name', i)!s}"


def pod_problems(obj: Mapping[str, Any], provided: Provided) -> list[Problem]:
    """What in a Pod-making object (Pod, Job, CronJob, Deployment, …) is not provided in its namespace,
    and which containers request more than their limit."""
    template = _TEMPLATES.get((_group(obj), str(obj.get("kind", ""))))
    if template is None:
        return []
    ns = _meta(obj, "namespace") or "default"
    out: list[Problem] = []
    if not provided.has_namespace(ns):
        out.append(Problem(("metadata", "namespace"), f"namespace {ns} is not created in this cluster", "namespace"))
    spec_path = (*template, "spec")
    spec = _dig(obj, *spec_path)
    if not isinstance(spec, Mapping):
        return out

    def secret(name: Any, path: JsonPath, what: str) -> None:
        if isinstance(name, str) and name and not provided.has_secret(ns, name):
            out.append(
                Problem(
                    path, f"{what} refers to Secret {ns}/{name}, which is not provided in namespace {ns}", "reference"
                )
            )

    def config_map(name: Any, path: JsonPath, what: str) -> None:
        if isinstance(name, str) and name and not provided.has_config_map(ns, name):
            out.append(
                Problem(
                    path,
                    f"{what} refers to ConfigMap {ns}/{name}, which is not provided in namespace {ns}",
                    "reference",
                )
            )

    sa = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    if not provided.has_service_account(ns, sa):
        key = "serviceAccountName" if spec.get("serviceAccountName") else "serviceAccount"
        out.append(
            Problem((*spec_path, key), f"ServiceAccount {ns}/{sa} does not exist in namespace {ns}", "reference")
        )
    for i, item in enumerate(_list(spec.get("imagePullSecrets"))):
        secret(_dig(item, "name"), (*spec_path, "imagePullSecrets", i, "name"), f"imagePullSecrets[{i}]")
    for v, volume in enumerate(_list(spec.get("volumes"))):
        where = f"volume {_dig(volume, 'name') or v}"
        if not _dig(volume, "secret", "optional"):
            secret(_dig(volume, "secret", "secretName"), (*spec_path, "volumes", v, "secret", "secretName"), where)
        if not _dig(volume, "configMap", "optional"):
            config_map(_dig(volume, "configMap", "name"), (*spec_path, "volumes", v, "configMap", "name"), where)
    for container, cpath, cname in _containers(spec, spec_path):
        for e, env in enumerate(_list(container.get("env"))):
            what = f"{cname} env {_dig(env, 'name') or e}"
            ref = _dig(env, "valueFrom", "secretKeyRef")
            if isinstance(ref, Mapping) and not ref.get("optional"):
                secret(ref.get("name"), (*cpath, "env", e, "valueFrom", "secretKeyRef", "name"), what)
            ref = _dig(env, "valueFrom", "configMapKeyRef")
            if isinstance(ref, Mapping) and not ref.get("optional"):
                config_map(ref.get("name"), (*cpath, "env", e, "valueFrom", "configMapKeyRef", "name"), what)
        for e, source in enumerate(_list(container.get("envFrom"))):
            ref = _dig(source, "secretRef")
            if isinstance(ref, Mapping) and not ref.get("optional"):
                secret(ref.get("name"), (*cpath, "envFrom", e, "secretRef", "name"), f"{cname} envFrom")
            ref = _dig(source, "configMapRef")
            if isinstance(ref, Mapping) and not ref.get("optional"):
                config_map(ref.get("name"), (*cpath, "envFrom", e, "configMapRef", "name"), f"{cname} envFrom")
        out += resource_problems(container, cpath, cname)
    return out


def resource_problems(container: Mapping[str, Any], path: JsonPath, what: str) -> list[Problem]:
    """A container's requests above its limits (the API server refuses such a Pod, and so its Job's Pods)."""
    out = []
    for resource, request in (_dig(container, "resources", "requests") or {}).items():
        limit = _dig(container, "resources", "limits", resource)
        wanted, cap = quantity(request), quantity(limit)
        if wanted is not None and cap is not None and wanted > cap:
            out.append(
                Problem(
                    (*path, "resources", "requests", str(resource)),
                    f"{what} requests {resource} {request} but its limit is {limit}: the API server rejects the Pod "
                    f"(requests must be <= limits)",
                    "resources",
                )
            )
    return out


# ---------------------------------------------------------------- RBAC


@dataclass(frozen=True)
class Permission:
    group: str
    resource: str  # "pods", or a subresource "pods/log"
    verbs: tuple[str, ...]

    def __str__(self) -> str:
        api = self.group or "core"
        return f"{'/'.join(self.verbs)} {self.resource} ({api})"


# What prefect-kubernetes' worker does in a flow-run namespace: creates and watches its Jobs, deletes them
# on cancellation, and reads their Pods and logs.
WORKER_PERMISSIONS: tuple[Permission, ...] = (
    Permission("batch", "jobs", ("create", "get", "list", "watch", "delete")),
    Permission("", "pods", ("get", "list", "watch")),
    Permission("", "pods/log", ("get",)),
)


def _matches(values: Any, wanted: str) -> bool:
    return any(str(v) in ("*", wanted) for v in _list(values))


def _rule_allows(rule: Any, group: str, resource: str, verb: str) -> bool:
    if not isinstance(rule, Mapping) or rule.get("resourceNames"):
        return False
    resources = [str(r) for r in _list(rule.get("resources"))]
    sub = resource.split("/", 1)
    resource_ok = resource in resources or "*" in resources or (len(sub) == 2 and f"*/{sub[1]}" in resources)
    return _matches(rule.get("apiGroups"), group) and resource_ok and _matches(rule.get("verbs"), verb)


def _binds(binding: Mapping[str, Any], sa_namespace: str, sa_name: str) -> bool:
    binding_ns = _meta(binding, "namespace") or "default"
    for subject in _list(binding.get("subjects")):
        kind, name = _dig(subject, "kind"), str(_dig(subject, "name") or "")
        if kind == "ServiceAccount":
            if name == sa_name and str(_dig(subject, "namespace") or binding_ns) == sa_namespace:
                return True
        elif kind == "Group" and name in ("system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}"):
            return True
    return False


def allowed(
    provided: Provided, sa_namespace: str, sa_name: str, verb: str, permission_group: str, resource: str, namespace: str
) -> bool:
    """Whether ServiceAccount ``sa_namespace/sa_name`` may ``verb`` ``resource`` in ``namespace`` under the
    cluster's rendered RBAC (Roles and ClusterRoles through RoleBindings there, ClusterRoles through
    ClusterRoleBindings)."""
    for binding in provided.bindings:
        if not _binds(binding, sa_namespace, sa_name):
            continue
        ref_kind, ref_name = _dig(binding, "roleRef", "kind"), str(_dig(binding, "roleRef", "name") or "")
        if binding.get("kind") == "RoleBinding":
            if (_meta(binding, "namespace") or "default") != namespace:
                continue
            rules = provided.roles.get((namespace, ref_name)) if ref_kind == "Role" else None
            if ref_kind == "ClusterRole":
                rules = provided.cluster_roles.get(ref_name)
        elif ref_kind == "ClusterRole":
            rules = provided.cluster_roles.get(ref_name)
        else:
            continue
        if any(_rule_allows(rule, permission_group, resource, verb) for rule in rules or []):
            return True
    return False


def missing_permissions(
    provided: Provided,
    sa_namespace: str,
    sa_name: str,
    namespace: str,
    needed: Iterable[Permission] = WORKER_PERMISSIONS,
) -> list[Permission]:
    """The parts of ``needed`` the ServiceAccount may not do in ``namespace`` (verbs narrowed to those missing)."""
    out = []
    for p in needed:
        absent = tuple(
            v for v in p.verbs if not allowed(provided, sa_namespace, sa_name, v, p.group, p.resource, namespace)
        )
        if absent:
            out.append(Permission(p.group, p.resource, absent))
    return out
