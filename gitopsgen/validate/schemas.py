"""The schema stage: every object against the schema of its kind, and the CRD cache.

Owns rules K001-K007. Kubernetes built-in kinds are checked strictly (unknown fields are errors)
against the schemas bundled in ``kubernetes-validate`` for the chosen Kubernetes version; custom
kinds against the ``openAPIV3Schema`` of every served version of their CustomResourceDefinition,
made strict the way the API server treats it, plus the CRD's CEL ``x-kubernetes-validations``.
API versions that Kubernetes or Flux no longer serve are named as removed, with their replacement;
kinds without any schema are reported once. CRDs take precedence the way an API server gives it:
a built-in kind is never redefined, and a CRD given by the user (``--crds``) wins over a repository's
CRD of the same group and kind (the repository is untrusted in a merge request); a refused
repository CRD is a finding (K006, K007), never a schema.

Everything expensive happens once per process: each Kubernetes version's ``_definitions.json`` is
read once, one jsonschema validator is compiled per (version, apiVersion, kind) and per distinct CRD
version schema, and each CEL rule is compiled once. :data:`STATS` counts these loads so tests (and
benchmarks) can see it.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime
import difflib
import hashlib
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from .findings import Rule, Severity, register
from .resultcache import cache_root, cache_secret, entry_mac, mac_matches

JsonPath = tuple[str | int, ...]

# ---------------------------------------------------------------- rules

SCHEMA_INVALID = register(
    Rule(
        id="K001",
        name="schema-invalid",
        stage="schemas",
        severity=Severity.ERROR,
        summary="A Kubernetes built-in object does not match its kind's schema (strict: unknown fields are errors).",
        doc=(
            "Every object of a Kubernetes built-in kind (Deployment, Service, ConfigMap, ...) is validated against "
            "the OpenAPI schema of the chosen Kubernetes version (--kubernetes-version), as bundled with "
            "kubernetes-validate, in its strict flavour: a misspelt or misplaced field is an error, as it is for "
            "`kubectl apply` with server-side field validation, instead of being silently dropped. Wrong types, "
            "missing required fields and values outside an enum are errors too; every error of the object is "
            "reported with the line of the offending field. K001 also covers objects that are not mappings or lack "
            "apiVersion/kind, kinds that do not exist in a built-in API group (e.g. a typo in the kind) and API "
            "versions not yet available in the chosen Kubernetes version."
        ),
    )
)
CRD_SCHEMA_INVALID = register(
    Rule(
        id="K002",
        name="crd-schema-invalid",
        stage="schemas",
        severity=Severity.ERROR,
        summary="A custom resource does not match the openAPIV3Schema of its CustomResourceDefinition.",
        doc=(
            "Custom resources (Flux Kustomizations, HelmReleases, ExternalSecrets, ...) are validated against the "
            "openAPIV3Schema of the served version of their CustomResourceDefinition, taken from the repository, "
            "from --crds or from the CRD cache. The schema is made strict the way the API server applies it: "
            "fields not declared where `properties` are given are errors unless the schema says "
            "x-kubernetes-preserve-unknown-fields, `nullable` is honoured (other nulls are pruned, as the API "
            "server does), x-kubernetes-int-or-string accepts integers and strings, and the object's metadata is "
            "checked loosely (name and namespace are strings). Flux would otherwise fail the whole Kustomization "
            "at apply time with a dry-run error."
        ),
    )
)
CEL_RULE_VIOLATED = register(
    Rule(
        id="K003",
        name="cel-rule-violated",
        stage="schemas",
        severity=Severity.ERROR,
        summary="A custom resource violates a CEL validation rule (x-kubernetes-validations) of its CRD.",
        doc=(
            "CRDs carry validation rules written in CEL (x-kubernetes-validations), e.g. a HelmRelease must set "
            "exactly one of spec.chart and spec.chartRef. Each rule is evaluated, like the API server does, "
            "wherever the object has a value at the rule's place, after the schema's defaults are applied and "
            "null fields pruned; the message is the rule's messageExpression or message. Transition rules "
            "(those using oldSelf) are skipped because there is no previous object; rules that cel-python cannot "
            "compile or evaluate (Kubernetes CEL library functions it lacks, missing fields) are skipped rather "
            "than reported, so this rule never reports a false positive from an evaluator gap."
        ),
    )
)
REMOVED_API_VERSION = register(
    Rule(
        id="K004",
        name="removed-api-version",
        stage="schemas",
        severity=Severity.ERROR,
        summary="The apiVersion is no longer served by Kubernetes or by Flux; use the named replacement.",
        doc=(
            "An object whose apiVersion has been removed cannot be applied: the API server answers 'no matches "
            "for kind' and Flux fails the Kustomization. Kubernetes removals are known from the Kubernetes "
            "versions bundled with kubernetes-validate (an apiVersion/kind present in an older version but not in "
            "the chosen one) and from a table of the removals before those (extensions/v1beta1, batch/v1beta1 "
            "CronJob, policy/v1beta1 PodSecurityPolicy, ...). Custom resources use a version their CRD lists with "
            "served: false or no longer lists; Flux's retired beta APIs (helm.toolkit.fluxcd.io/v2beta2, "
            "source.toolkit.fluxcd.io/v1beta2, ...) are recognised even without the Flux CRDs at hand. The "
            "message names the apiVersion to migrate to."
        ),
    )
)
NO_SCHEMA = register(
    Rule(
        id="K005",
        name="no-schema",
        stage="schemas",
        severity=Severity.WARNING,
        summary="No schema is known for the kind: neither a Kubernetes built-in nor a known CRD.",
        doc=(
            "An object whose kind is neither a Kubernetes built-in of the chosen version nor defined by a known "
            "CustomResourceDefinition cannot be checked at all, and the cluster will reject it unless the CRD is "
            "installed before it. Supply the CRD with --crds (a file or directory), commit it to the repository, "
            "or let it be picked up from the CRD cache (filled from earlier --crds runs). Reported once per kind and "
            "run, at its first object, with the number of objects and files and the clusters, as a warning because "
            "the CRD may legitimately be installed by another tool."
        ),
    )
)

CRD_REDEFINES_BUILTIN = register(
    Rule(
        id="K006",
        name="crd-redefines-builtin",
        stage="schemas",
        severity=Severity.ERROR,
        summary="A CustomResourceDefinition in the repository defines a Kubernetes built-in kind; it is ignored.",
        doc=(
            "An API server never lets a CustomResourceDefinition replace a built-in kind: a CRD in a built-in "
            "API group such as apps or the core group is rejected (a CRD's group must contain a dot), and "
            "built-in kinds are always served by the server itself. A repository CRD that names a built-in kind "
            "(e.g. deployments.apps with x-kubernetes-preserve-unknown-fields) would otherwise switch off the "
            "strict checking of every object of that kind, which is how a merge request could hide broken "
            "Deployments from the gate. Such a CRD is not used: objects of the kind are checked against the "
            "built-in schema, and the CRD itself is reported at its spec.group. Remove the CRD."
        ),
    )
)
CRD_CONFLICTS_WITH_GIVEN = register(
    Rule(
        id="K007",
        name="crd-conflicts-with-given",
        stage="schemas",
        severity=Severity.WARNING,
        summary="A repository CRD differs from the CRD given with --crds for the same group and kind; --crds wins.",
        doc=(
            "CRDs given on the command line (--crds, or the crds setting) are the trusted definition of the "
            "kinds the cluster serves, e.g. the Flux and External Secrets release CRDs. A CustomResourceDefinition "
            "committed to the repository for the same group and kind, with a different spec, is not used: the "
            "objects are checked against the given one, so a merge request cannot loosen the schema of a Flux "
            "or ESO kind by committing its own CRD. The conflict is reported as a warning at the repository "
            "CRD's spec.group (a bootstrap's gotk-components.yaml of another Flux version is the usual benign "
            "case: align --crds with the Flux version the cluster runs)."
        ),
    )
)

STATS: Counter[str] = Counter()
"""How often expensive things happened in this process: ``definitions_loaded`` (a Kubernetes version's
schema file read), ``builtin_validators`` / ``crd_validators`` (validators compiled), ``cel_compiled``,
``cel_skipped`` (rules not compilable or transition rules), ``cel_eval_errors``, ``patterns_dropped``."""

_MAX_MESSAGE = 200


@dataclass(frozen=True)
class SchemaIssue:
    """One problem of one object: rule ID, JSON path inside the object (for the line), one-line message."""

    rule: str  # "K001".."K007"
    path: JsonPath  # JSON path inside the object ((), for the whole object)
    message: str


# ---------------------------------------------------------------- Kubernetes versions

_SCHEMA_ROOT = Path(kubernetes_validate.__file__).resolve().parent / "kubernetes-json-schema"
_VERSION_DIR = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-local-strict$")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


@cache
def _version_dirs() -> dict[str, Path]:
    """Version "1.33" → the strict schema directory of that version (the newest patch release if several)."""
    found: list[tuple[tuple[int, int, int], Path]] = []
    if _SCHEMA_ROOT.is_dir():
        for entry in _SCHEMA_ROOT.iterdir():
            m = _VERSION_DIR.match(entry.name)
            if m and (entry / "_definitions.json").is_file():
                found.append(((int(m[1]), int(m[2]), int(m[3])), entry))
    return {f"{v[0]}.{v[1]}": path for v, path in sorted(found)}


def kubernetes_versions() -> list[str]:
    """Kubernetes versions (major.minor) whose schemas kubernetes-validate bundles, oldest first."""
    return list(_version_dirs())


def normalise_kubernetes_version(version: str) -> str:
    """``"v1.33.2"``/``"1.33"`` → ``"1.33"``; ValueError naming the available versions when not bundled."""
    m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?", str(version).strip())
    key = f"{int(m[1])}.{int(m[2])}" if m else str(version)
    if key not in _version_dirs():
        raise ValueError(f"unknown Kubernetes version {version!r}; available: {', '.join(kubernetes_versions())}")
    return key


def _split_api(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


_API_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def _api_rank(version: str) -> tuple[int, int, int]:
    """Kubernetes version priority: GA > beta > alpha, then by number (v2 > v1, v1beta2 > v1beta1)."""
    m = _API_VERSION.match(version)
    if not m:
        return (-1, 0, 0)
    stability = {None: 2, "beta": 1, "alpha": 0}[m[2]]
    return (stability, int(m[1]), int(m[3] or 0))


# ---------------------------------------------------------------- built-in kinds

_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"


def _load_definitions(version: str) -> dict[str, Any]:
    STATS["definitions_loaded"] += 1
    with open(_version_dirs()[version] / "_definitions.json", "rb") as f:
        return json.load(f)


def _gvk_index(definitions: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(apiVersion, kind) → definition name, for every top-level kind of one Kubernetes version."""
    out: dict[tuple[str, str], str] = {}
    for name, schema in definitions.get("$defs", {}).items():
        if not isinstance(schema, dict):
            continue
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            group, version, kind = gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")
            out.setdefault((f"{group}/{version}" if group else version, kind), name)
    return out


class _Builtins:
    """One Kubernetes version's schemas: the definitions (read once), the kind index, compiled validators."""

    def __init__(self, version: str) -> None:
        definitions = _load_definitions(version)
        self.version = version
        self.base = str(definitions.get("$id", _DEFINITIONS_ID))
        self.index = _gvk_index(definitions)
        self.groups = {_split_api(api)[0] for api, _ in self.index}
        self.registry: Registry[Any] = Registry().with_resource(self.base, Resource.from_contents(definitions))
        self.validators: dict[tuple[str, str], Any] = {}

    def validator(self, api_version: str, kind: str) -> Any | None:
        key = (api_version, kind)
        found = self.validators.get(key)
        if found is None:
            name = self.index.get(key)
            if name is None:
                return None
            STATS["builtin_validators"] += 1
            found = jsonschema.Draft202012Validator({"$ref": f"{self.base}#/$defs/{name}"}, registry=self.registry)
            self.validators[key] = found
        return found


_BUILTINS: dict[str, _Builtins] = {}
_KINDS: dict[str, frozenset[tuple[str, str]]] = {}


def _builtins(version: str) -> _Builtins:
    found = _BUILTINS.get(version)
    if found is None:
        found = _BUILTINS[version] = _Builtins(version)
        _KINDS[version] = frozenset(found.index)
    return found


def _kinds(version: str) -> frozenset[tuple[str, str]]:
    """(apiVersion, kind) of every top-level kind of a version, without keeping its definitions around."""
    found = _KINDS.get(version)
    if found is None:
        found = _KINDS[version] = frozenset(_gvk_index(_load_definitions(version)))
    return found


def _k8s_history(api_version: str, kind: str) -> list[str]:
    """The bundled Kubernetes versions that serve apiVersion/kind."""
    return [v for v in kubernetes_versions() if (api_version, kind) in _kinds(v)]


# Removals from before the oldest Kubernetes version kubernetes-validate bundles: (apiVersion, kind) →
# (Kubernetes release that removed it, replacement apiVersion or a hint).
_K8S_OLD_REMOVALS: dict[tuple[str, str], tuple[str, str]] = {}


def _old_removal(api_versions: str, kinds: str, release: str, replacement: str) -> None:
    for api in api_versions.split():
        for kind in kinds.split():
            _K8S_OLD_REMOVALS[(api, kind)] = (release, replacement)


_old_removal("extensions/v1beta1 apps/v1beta1 apps/v1beta2", "Deployment ReplicaSet DaemonSet", "1.16", "apps/v1")
_old_removal("apps/v1beta1 apps/v1beta2", "StatefulSet ControllerRevision", "1.16", "apps/v1")
_old_removal("extensions/v1beta1", "NetworkPolicy", "1.16", "networking.k8s.io/v1")
_old_removal("extensions/v1beta1", "PodSecurityPolicy", "1.16", "Pod Security Admission")
_old_removal("extensions/v1beta1 networking.k8s.io/v1beta1", "Ingress", "1.22", "networking.k8s.io/v1")
_old_removal("networking.k8s.io/v1beta1", "IngressClass", "1.22", "networking.k8s.io/v1")
_old_removal(
    "admissionregistration.k8s.io/v1beta1",
    "MutatingWebhookConfiguration ValidatingWebhookConfiguration",
    "1.22",
    "admissionregistration.k8s.io/v1",
)
_old_removal("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "1.22", "apiextensions.k8s.io/v1")
_old_removal("apiregistration.k8s.io/v1beta1", "APIService", "1.22", "apiregistration.k8s.io/v1")
_old_removal("authentication.k8s.io/v1beta1", "TokenReview", "1.22", "authentication.k8s.io/v1")
_old_removal(
    "authorization.k8s.io/v1beta1",
    "SubjectAccessReview LocalSubjectAccessReview SelfSubjectAccessReview SelfSubjectRulesReview",
    "1.22",
    "authorization.k8s.io/v1",
)
_old_removal("certificates.k8s.io/v1beta1", "CertificateSigningRequest", "1.22", "certificates.k8s.io/v1")
_old_removal("coordination.k8s.io/v1beta1", "Lease", "1.22", "coordination.k8s.io/v1")
_old_removal(
    "rbac.authorization.k8s.io/v1beta1 rbac.authorization.k8s.io/v1alpha1",
    "ClusterRole ClusterRoleBinding Role RoleBinding",
    "1.22",
    "rbac.authorization.k8s.io/v1",
)
_old_removal("scheduling.k8s.io/v1beta1 scheduling.k8s.io/v1alpha1", "PriorityClass", "1.22", "scheduling.k8s.io/v1")
_old_removal("storage.k8s.io/v1beta1", "CSIDriver CSINode StorageClass VolumeAttachment", "1.22", "storage.k8s.io/v1")
_old_removal("batch/v1beta1", "CronJob", "1.25", "batch/v1")
_old_removal("discovery.k8s.io/v1beta1", "EndpointSlice", "1.25", "discovery.k8s.io/v1")
_old_removal("events.k8s.io/v1beta1", "Event", "1.25", "events.k8s.io/v1")
_old_removal("autoscaling/v2beta1", "HorizontalPodAutoscaler", "1.25", "autoscaling/v2")
_old_removal("policy/v1beta1", "PodDisruptionBudget", "1.25", "policy/v1")
_old_removal("policy/v1beta1", "PodSecurityPolicy", "1.25", "Pod Security Admission")
_old_removal("node.k8s.io/v1beta1", "RuntimeClass", "1.25", "node.k8s.io/v1")

# Flux v2.9: API versions retired per group, and the version each kind is served at.
_FLUX_RETIRED: dict[str, frozenset[str]] = {
    "source.toolkit.fluxcd.io": frozenset({"v1alpha1", "v1beta1", "v1beta2"}),
    "kustomize.toolkit.fluxcd.io": frozenset({"v1alpha1", "v1beta1", "v1beta2"}),
    "helm.toolkit.fluxcd.io": frozenset({"v2alpha1", "v2beta1", "v2beta2"}),
    "image.toolkit.fluxcd.io": frozenset({"v1alpha1", "v1alpha2", "v1beta1", "v1beta2"}),
    "notification.toolkit.fluxcd.io": frozenset({"v1alpha1", "v1beta1", "v1beta2"}),
}
_FLUX_SERVED: dict[tuple[str, str], str] = {
    **{
        ("source.toolkit.fluxcd.io", k): "v1"
        for k in ("GitRepository", "HelmRepository", "HelmChart", "Bucket", "OCIRepository")
    },
    ("kustomize.toolkit.fluxcd.io", "Kustomization"): "v1",
    ("helm.toolkit.fluxcd.io", "HelmRelease"): "v2",
    **{("image.toolkit.fluxcd.io", k): "v1" for k in ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")},
    ("notification.toolkit.fluxcd.io", "Alert"): "v1beta3",
    ("notification.toolkit.fluxcd.io", "Provider"): "v1beta3",
    ("notification.toolkit.fluxcd.io", "Receiver"): "v1",
}


# Groups of files that configure a build rather than being applied (kustomization.yaml, Components).
_BUILD_INPUT_GROUPS = frozenset({"kustomize.config.k8s.io"})

# ---------------------------------------------------------------- CRDs


@dataclass
class _Crd:
    group: str
    kind: str
    plural: str
    served: dict[str, dict[str, Any] | None]  # served version → openAPIV3Schema (None: no schema given)
    listed: frozenset[str]  # every version the CRD lists, served or not
    storage: str
    origin: str
    source: str  # "explicit" (add_crds_from), "repository" (add_crd), "cache" (add_cache)
    raw: dict[str, Any] = field(repr=False)

    def best_version(self) -> str:
        if self.storage in self.served:
            return self.storage
        return max(self.served, key=_api_rank) if self.served else ""


def _parse_crd(crd: Any, origin: str, source: str) -> _Crd:
    where = f"{origin}: " if origin else ""
    if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"{where}not a CustomResourceDefinition")
    meta = crd.get("metadata") if isinstance(crd.get("metadata"), dict) else {}
    label = f"{where}CustomResourceDefinition {meta.get('name', '?')}"
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1":
        raise ValueError(
            f"{label}: apiVersion {crd.get('apiVersion')!r} is not supported (use apiextensions.k8s.io/v1)"
        )
    spec = crd.get("spec")
    names = spec.get("names") if isinstance(spec, dict) else None
    versions = spec.get("versions") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("group"), str) or not spec["group"]:
        raise ValueError(f"{label}: missing spec.group")
    if not isinstance(names, dict) or not isinstance(names.get("kind"), str) or not names["kind"]:
        raise ValueError(f"{label}: missing spec.names.kind")
    if not isinstance(versions, list) or not versions:
        raise ValueError(f"{label}: missing spec.versions")
    served: dict[str, dict[str, Any] | None] = {}
    listed: set[str] = set()
    storage = ""
    for v in versions:
        if not isinstance(v, dict) or not isinstance(v.get("name"), str):
            raise ValueError(f"{label}: a spec.versions entry has no name")
        listed.add(v["name"])
        if v.get("storage"):
            storage = v["name"]
        if v.get("served"):
            schema = v.get("schema")
            body = schema.get("openAPIV3Schema") if isinstance(schema, dict) else None
            if body is not None and not isinstance(body, dict):
                raise ValueError(f"{label}: version {v['name']}: openAPIV3Schema is not a mapping")
            served[v["name"]] = body
    plural = names.get("plural") if isinstance(names.get("plural"), str) else names["kind"].lower() + "s"
    return _Crd(spec["group"], names["kind"], plural, served, frozenset(listed), storage, origin, source, crd)


def _crd_documents(doc: Any) -> Iterator[Any]:
    """The CRDs in one YAML document: the document itself, or the items of a v1 List."""
    if not isinstance(doc, dict):
        return
    if doc.get("kind") == "CustomResourceDefinition":
        yield doc
    elif doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        yield from (i for i in doc["items"] if isinstance(i, dict) and i.get("kind") == "CustomResourceDefinition")


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_error(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        return f"line {exc.problem_mark.line + 1}: {exc.problem or exc.context or 'syntax error'}"
    return " ".join(str(exc).split())


def read_yaml_documents(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read: {' '.join(str(exc).split())}") from exc
    try:
        return list(yaml.load_all(text, Loader=_LOADER))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML: {_yaml_error(exc)}") from exc


def _read_json_document(path: Path) -> list[Any]:
    """A cache file written by :meth:`SchemaStore.save_to_cache`; ValueError when it does not read."""
    try:
        return [json.loads(path.read_bytes())]
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: {exc}") from None


_CACHE_MAC = "gitopsgenCacheMac"  # a cached CRD's HMAC (GITOPSGEN_CACHE_SECRET), beside its fields


def _signed(secret: bytes, name: str, docs: list[Any]) -> bool:
    """Whether a CRD cache file is one document carrying a valid HMAC of its name and content."""
    if len(docs) != 1 or not isinstance(docs[0], dict):
        return False
    body = {k: v for k, v in docs[0].items() if k != _CACHE_MAC}
    return mac_matches(secret, name, body, docs[0].get(_CACHE_MAC))


def crd_cache_dir() -> Path:
    """Where CRDs given with --crds are cached: $GITOPSGEN_CACHE_DIR, $XDG_CACHE_HOME/gitopsgen or
    ~/.cache/gitopsgen, subdirectory ``crds/`` (not created here)."""
    return cache_root() / "crds"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------- CRD schemas made strict

_LOOSE_METADATA: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": ["string", "null"]},
        "labels": {"type": ["object", "null"], "additionalProperties": {"type": ["string", "null"]}},
        "annotations": {"type": ["object", "null"], "additionalProperties": {"type": ["string", "null"]}},
    },
}


def _with_null(schema: dict[str, Any]) -> None:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        schema["type"] = [*kind, "null"]
    if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]


def _valid_pattern(pattern: Any) -> bool:
    try:
        re.compile(pattern)
    except (re.error, TypeError):
        return False
    return True


def _strict(schema: Any, *, property_of_object: bool = False) -> Any:
    """A structural CRD schema as the API server applies it, for jsonschema (Draft 4 keywords)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: _strict(v, property_of_object=True) for k, v in value.items()}
        elif key == "additionalProperties" and isinstance(value, dict):
            out[key] = _strict(value, property_of_object=True)  # map values: pruned when null, like fields
        elif key in ("items", "not") and isinstance(value, dict):
            out[key] = _strict(value)
        elif key in ("allOf", "anyOf", "oneOf", "items") and isinstance(value, list):
            out[key] = [_strict(v) for v in value]
        elif key == "pattern" and not _valid_pattern(value):
            STATS["patterns_dropped"] += 1  # Go RE2 syntax Python cannot compile: not checked
        else:
            out[key] = value
    if out.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    preserve = bool(out.get("x-kubernetes-preserve-unknown-fields"))
    if out.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", _LOOSE_METADATA)
    if out.get("type") == "object" and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False  # undeclared fields are unknown fields
    if out.get("nullable") or property_of_object:
        # nullable: null is a value; otherwise the API server prunes a null field before validating it
        _with_null(out)
    return out


def _strict_root(schema: dict[str, Any]) -> dict[str, Any]:
    out = _strict(schema)
    props = out.get("properties")
    if isinstance(props, dict):
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        declared = props.get("metadata") if isinstance(props.get("metadata"), dict) else {}
        metadata = copy.deepcopy(_LOOSE_METADATA)
        for name in ("name", "generateName"):  # the only metadata constraints a CRD may declare
            extra = declared.get("properties", {}).get(name) if isinstance(declared.get("properties"), dict) else None
            if isinstance(extra, dict):
                metadata["properties"][name] = {**extra, "type": "string"}
        props["metadata"] = metadata
    return out


# ---------------------------------------------------------------- CEL


@dataclass(frozen=True)
class _CelRule:
    text: str
    program: Any
    message: str
    message_program: Any | None
    field_path: JsonPath


@dataclass
class _CelNode:
    rules: list[_CelRule] = field(default_factory=list)
    properties: dict[str, _CelNode] = field(default_factory=dict)
    additional: _CelNode | None = None
    items: _CelNode | None = None


@cache
def _cel_env() -> Any:
    """The CEL environment, built on first use (building its parser costs a noticeable part of a warm run)."""
    import celpy  # its import and parser build cost a warm run that checks no CEL rule

    return celpy.Environment()


@cache
def _cel_program(text: str) -> Any | None:
    """The compiled CEL program of a rule, or None when cel-python cannot compile it."""
    try:
        env = _cel_env()
        program = env.program(env.compile(text))
    except Exception:  # cel-python raises assorted errors for syntax it does not support
        STATS["cel_skipped"] += 1
        return None
    STATS["cel_compiled"] += 1
    return program


_FIELD_PATH = re.compile(r"\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]")


def _field_path(text: Any) -> JsonPath:
    """``.spec.items[0]['a.b']`` → ("spec", "items", 0, "a.b"); () when it does not parse."""
    if not isinstance(text, str) or not text:
        return ()
    out: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _FIELD_PATH.match(text, pos)
        if not m:
            return ()
        out.append(m[1] if m[1] is not None else int(m[2]) if m[2] is not None else m[3])
        pos = m.end()
    return tuple(out)


def _cel_rules(schema: dict[str, Any]) -> list[_CelRule]:
    rules: list[_CelRule] = []
    for entry in schema.get("x-kubernetes-validations") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("rule"), str):
            continue
        text = entry["rule"]
        if re.search(r"\b(oldSelf|optionalOldSelf)\b", text):
            STATS["cel_skipped"] += 1  # transition rule: there is no previous object to compare with
            continue
        program = _cel_program(text)
        if program is None:
            continue
        expression = entry.get("messageExpression")
        rules.append(
            _CelRule(
                text=text,
                program=program,
                message=str(entry.get("message") or f"failed rule: {text}"),
                message_program=_cel_program(expression) if isinstance(expression, str) else None,
                field_path=_field_path(entry.get("fieldPath")),
            )
        )
    return rules


def _cel_tree(schema: Any) -> _CelNode | None:
    """The parts of a schema that carry CEL rules, or None when it has none."""
    if not isinstance(schema, dict):
        return None
    node = _CelNode(rules=_cel_rules(schema))
    props = schema.get("properties")
    if isinstance(props, dict):
        for key, sub in props.items():
            child = _cel_tree(sub)
            if child is not None:
                node.properties[key] = child
    node.additional = _cel_tree(schema.get("additionalProperties"))
    node.items = _cel_tree(schema.get("items"))
    if node.rules or node.properties or node.additional or node.items:
        return node
    return None


def _apply_defaults(schema: Any, value: Any) -> Any:
    """The value as the API server validates it: null fields pruned (unless nullable), defaults filled in."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        additional = (
            schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else None
        )
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = props.get(key, additional)
            if item is None and not (isinstance(sub, dict) and sub.get("nullable")):
                continue
            out[key] = _apply_defaults(sub, item)
        for key, sub in props.items():
            if key not in out and isinstance(sub, dict) and "default" in sub:
                out[key] = _apply_defaults(sub, copy.deepcopy(sub["default"]))
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_apply_defaults(schema["items"], item) for item in value]
    return value


def _cel_message(rule: _CelRule, activation: dict[str, Any]) -> str:
    if rule.message_program is not None:
        with contextlib.suppress(Exception):
            result = rule.message_program.evaluate(activation)
            if isinstance(result, str) and result.strip():
                return _one_line(result)
    return _one_line(rule.message)


def _cel_issues(node: _CelNode, value: Any, path: JsonPath, sops: bool, out: list[SchemaIssue]) -> None:
    if value is None:
        return
    if node.rules and not (sops and _has_encrypted(value)):
        import celpy  # imported by _cel_env() already, when the rules were compiled

        try:
            activation = {"self": celpy.json_to_cel(value)}
        except Exception:
            activation = None
        for rule in node.rules if activation is not None else ():
            try:
                result = rule.program.evaluate(activation)
            except Exception:  # a missing field, a Kubernetes CEL function cel-python lacks, ...
                STATS["cel_eval_errors"] += 1
                continue
            if isinstance(result, celpy.CELEvalError) or not isinstance(result, bool | celpy.celtypes.BoolType):
                STATS["cel_eval_errors"] += 1
                continue
            if not bool(result):
                out.append(SchemaIssue(CEL_RULE_VIOLATED.id, path + rule.field_path, _cel_message(rule, activation)))
    if isinstance(value, dict):
        for key, child in node.properties.items():
            if key in value:
                _cel_issues(child, value[key], (*path, key), sops, out)
        if node.additional is not None:
            for key, item in value.items():
                _cel_issues(node.additional, item, (*path, key), sops, out)
    elif isinstance(value, list) and node.items is not None:
        for index, item in enumerate(value):
            _cel_issues(node.items, item, (*path, index), sops, out)


@dataclass(frozen=True)
class _CompiledCrd:
    validator: Any
    schema: dict[str, Any]  # strict
    cel: _CelNode | None


_CRD_COMPILED: dict[str, _CompiledCrd] = {}


def _compile_crd_schema(schema: dict[str, Any] | None) -> _CompiledCrd:
    """One compiled validator (and CEL tree) per distinct schema, shared by every store in the process."""
    key = hashlib.sha256(json.dumps(schema, sort_keys=True, default=str).encode()).hexdigest()
    found = _CRD_COMPILED.get(key)
    if found is None:
        STATS["crd_validators"] += 1
        strict = _strict_root(schema) if isinstance(schema, dict) else {}
        found = _CRD_COMPILED[key] = _CompiledCrd(jsonschema.Draft4Validator(strict), strict, _cel_tree(schema))
    return found


# ---------------------------------------------------------------- messages


def _one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _short(value: Any, limit: int = 50) -> str:
    if isinstance(value, dict):
        return f"{{…{len(value)} fields}}"
    if isinstance(value, list):
        return f"[…{len(value)} items]"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 2] + "…" + text[-1]


def _expected(types: Any) -> list[str]:
    names = [types] if isinstance(types, str) else [t for t in types if isinstance(t, str)]
    return [t for t in names if t != "null"] or names


def _type_message(types: Iterable[str], instance: Any, hide: bool = False) -> str:
    got = _json_type(instance)
    shown = "" if hide or isinstance(instance, dict | list) or instance is None else f" {_short(instance)}"
    return f"expected {' or '.join(dict.fromkeys(types))}, got {got}{shown}"


def _is_encrypted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("ENC[") and value.endswith("]")


def _has_encrypted(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_encrypted(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_encrypted(v) for v in value)
    return _is_encrypted(value)


_REQUIRED = re.compile(r"^(.*) is a required property$")


def _describe(rule: str, error: ValidationError, sops: bool, hide: bool = False) -> list[SchemaIssue]:
    """Short one-line issues for one jsonschema error (several for several unknown fields); ``hide``: never
    show the offending value (a Secret's)."""
    if hide:
        return [SchemaIssue(i.rule, i.path, _hidden(i.message, error.instance)) for i in _describe(rule, error, sops)]
    path: JsonPath = tuple(error.absolute_path)
    instance = error.instance
    if sops and _is_encrypted(instance):
        return []  # a SOPS-encrypted value: a string standing for a value of any type
    validator = error.validator
    if validator in ("oneOf", "anyOf"):
        if instance is None:
            return []  # null is pruned by the API server; several nullable branches accept it
        context = [e for e in error.context or () if not (sops and _is_encrypted(e.instance))]
        if context and all(e.validator == "type" and tuple(e.absolute_path) == path for e in context):
            types = [t for e in context for t in _expected(e.validator_value)]
            return [SchemaIssue(rule, path, _type_message(types, instance))]
        if context:
            return _describe(rule, best_match(context), sops)
    if validator == "type":
        return [SchemaIssue(rule, path, _type_message(_expected(error.validator_value), instance))]
    if validator == "additionalProperties" and isinstance(instance, dict) and isinstance(error.schema, dict):
        props = error.schema.get("properties") if isinstance(error.schema.get("properties"), dict) else {}
        patterns = error.schema.get("patternProperties") or {}
        issues = []
        for key in instance:
            if key in props or any(re.search(p, str(key)) for p in patterns):
                continue
            close = difflib.get_close_matches(str(key), [str(p) for p in props], n=1, cutoff=0.75)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            issues.append(SchemaIssue(rule, (*path, key), _one_line(f'unknown field "{key}"{hint}')))
        if issues:
            return issues
    if validator == "required":
        m = _REQUIRED.match(error.message)
        name = m[1].strip("'\"") if m else "?"
        return [SchemaIssue(rule, path, _one_line(f'missing required field "{name}"'))]
    if validator == "enum" and isinstance(error.validator_value, list):
        allowed = [v for v in error.validator_value if v is not None]
        shown = ", ".join(_short(v, 30) for v in allowed[:8]) + (", …" if len(allowed) > 8 else "")
        return [SchemaIssue(rule, path, _one_line(f"{_short(instance)} is not one of: {shown}"))]
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message.replace(repr(instance), _short(instance))
    return [SchemaIssue(rule, path, _one_line(message))]


def _in_secret_values(error: ValidationError) -> bool:
    """Whether a Secret's error is about anything but its identity (apiVersion, kind, metadata)."""
    path = tuple(error.absolute_path)
    return not path or path[0] not in ("apiVersion", "kind", "metadata")


def _hidden(message: str, instance: Any) -> str:
    """``message`` without the value it is about (every way it may be spelt: JSON, repr, str, shortened)."""
    if isinstance(instance, dict | list) or instance is None:
        return message
    for shown in {_short(instance), _short(instance, 30), repr(instance), json.dumps(instance, default=str)}:
        message = message.replace(shown, "<value hidden>")
    text = str(instance)
    return message.replace(text, "<value hidden>") if len(text) >= 3 else message


def _dedupe(issues: Iterable[SchemaIssue]) -> list[SchemaIssue]:
    return list(dict.fromkeys(issues))


# ---------------------------------------------------------------- input normalisation


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


def _plain(value: Any) -> Any:
    """JSON-compatible copy of YAML data: string keys, timestamps as RFC 3339 strings, binary as base64."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if value.tzinfo else text + "Z"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


# ---------------------------------------------------------------- the store


class SchemaStore:
    """Schemas for one Kubernetes version plus the CRDs added to it; :meth:`check` validates objects."""

    kubernetes_versions = staticmethod(kubernetes_versions)

    def __init__(self, kubernetes_version: str = "1.33") -> None:
        self.kubernetes_version = normalise_kubernetes_version(kubernetes_version)
        self._crds: dict[tuple[str, str], _Crd] = {}
        self._groups: Counter[str] = Counter()
        self._compiled: dict[tuple[str, str, str], _CompiledCrd] = {}

    # -- CRDs

    def _add(self, crd: _Crd) -> bool:
        key = (crd.group, crd.kind)
        old = self._crds.get(key)
        if old is not None and crd.source == "cache" and old.source != "cache":
            return False  # the repository's or --crds' definition wins over the cache
        if old is None:
            self._groups[crd.group] += 1
        self._crds[key] = crd
        for version in list(self._compiled):
            if version[:2] == key:
                del self._compiled[version]
        return True

    def with_crds(self, crds: list[dict[str, Any]], origin: str) -> SchemaStore:
        """A copy of this store that also knows ``crds`` (e.g. a chart's crds/ in one cluster), added like the
        repository's; unusable ones and those a given CRD or a built-in overrides are left out."""
        other = copy.copy(self)
        other._crds, other._groups, other._compiled = dict(self._crds), Counter(self._groups), dict(self._compiled)
        for crd in crds:
            try:
                other.add_crd(crd, origin)
            except ValueError:
                continue
        return other

    def add_given_crd(self, crd: dict[str, Any], origin: str) -> None:
        """Add a CRD the user gave (like one of :meth:`add_crds_from`); ValueError when it is not usable."""
        self._add(_parse_crd(_plain(crd), origin, "explicit"))

    def add_crd(self, crd: dict[str, Any], origin: str = "") -> tuple[str, str] | None:
        """Add a CustomResourceDefinition (apiextensions.k8s.io/v1) found in the repository, unless it
        redefines a built-in kind or conflicts with a CRD given with --crds (those win, as on an API
        server): then it is not added and (rule ID, one-line reason) is returned; None when added or
        identical to the given one.

        Raises ValueError (one line, naming ``origin``) when it is not a usable v1 CRD."""
        parsed = _parse_crd(_plain(crd), origin, "repository")
        builtin = self._builtin_kind(parsed.group, parsed.kind)
        if builtin:
            return CRD_REDEFINES_BUILTIN.id, (
                f"CustomResourceDefinition of {parsed.group or 'core'} {parsed.kind} ignored: {builtin}; "
                f"objects of this kind are checked against the Kubernetes {self.kubernetes_version} schema"
            )
        given = self._crds.get((parsed.group, parsed.kind))
        if given is not None and given.source == "explicit":
            if _plain(given.raw.get("spec")) == parsed.raw.get("spec"):
                return None
            return CRD_CONFLICTS_WITH_GIVEN.id, _one_line(
                f"CustomResourceDefinition of {parsed.group} {parsed.kind} ignored: it differs from the one "
                f"given with --crds ({given.origin}), which is used"
            )
        self._add(parsed)
        return None

    def _builtin_kind(self, group: str, kind: str) -> str:
        """Why (group, kind) cannot be defined by a CRD ("" when it can): a built-in kind of this
        Kubernetes version, or a group without a dot (the API server refuses such a CRD)."""
        builtins = _builtins(self.kubernetes_version)
        if any(k == kind and _split_api(api)[0] == group for api, k in builtins.index):
            return "a CRD cannot redefine a Kubernetes built-in kind"
        if "." not in group:
            return f"a CRD's group must contain a dot (API group {group or 'core'!r} is built in)"
        return ""

    def add_crds_from(self, path: Path, read: Callable[[Path], list[Any]] | None = None) -> int:
        """Add every CRD of a YAML file, or of every ``*.yaml``/``*.yml`` below a directory (hidden
        directories skipped); other documents are ignored. Returns the number of CRDs added; raises
        ValueError (one line) on a missing path, unreadable or broken YAML, or a broken CRD."""
        path = Path(path)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml")
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            files = [path]
        else:
            raise ValueError(f"{path}: no such file or directory")
        count = 0
        for file in files:
            for doc in (read or read_yaml_documents)(file):
                for crd in _crd_documents(doc):
                    self._add(_parse_crd(_plain(crd), str(file), "explicit"))
                    count += 1
        return count

    def save_to_cache(self, directory: Path | None = None) -> list[Path]:
        """Write each CRD added with :meth:`add_crds_from` to ``directory`` (default :func:`crd_cache_dir`)
        as ``<group>_<plural>.json``: deterministic JSON (fast to read back), atomic replace, unchanged
        files left alone; a ``.yaml`` of the same CRD written by an older gitopsgen is removed."""
        directory = Path(directory) if directory is not None else crd_cache_dir()
        written: list[Path] = []
        for (group, _), crd in sorted(self._crds.items()):
            if crd.source != "explicit":
                continue
            meta = crd.raw.get("metadata") if isinstance(crd.raw.get("metadata"), dict) else {}
            body = {
                "apiVersion": crd.raw["apiVersion"],
                "kind": crd.raw["kind"],
                "metadata": {"name": meta.get("name", f"{crd.plural}.{group}")},
                "spec": crd.raw["spec"],
            }
            target = directory / f"{group}_{crd.plural}.json"
            secret = cache_secret()
            if secret is not None:  # see add_cache: an unsigned CRD is not used where a secret is set
                body[_CACHE_MAC] = entry_mac(secret, target.name, _plain(body))
            text = json.dumps(_plain(body), sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
            try:
                unchanged = target.read_text(encoding="utf-8") == text
            except (OSError, UnicodeDecodeError):
                unchanged = False
            if not unchanged:
                _atomic_write(target, text)
            (directory / f"{group}_{crd.plural}.yaml").unlink(missing_ok=True)
            written.append(target)
        return written

    def add_cache(self, directory: Path | None = None) -> int:
        """Add the CRDs cached in ``directory`` (default :func:`crd_cache_dir`); a CRD already known from the
        repository or --crds wins. Unreadable cache files are skipped. Returns the number added."""
        directory = Path(directory) if directory is not None else crd_cache_dir()
        if not directory.is_dir():
            return 0
        count = 0
        secret = cache_secret()
        for file in [*sorted(directory.glob("*.yaml")), *sorted(directory.glob("*.json"))]:
            try:
                docs = _read_json_document(file) if file.suffix == ".json" else read_yaml_documents(file)
                if secret is not None and not _signed(secret, file.name, docs):
                    continue  # GITOPSGEN_CACHE_SECRET set: written by a pipeline without it, or altered
                for doc in docs:
                    if isinstance(doc, dict):
                        doc.pop(_CACHE_MAC, None)
                crds = [_parse_crd(_plain(c), str(file), "cache") for d in docs for c in _crd_documents(d)]
            except ValueError:
                continue
            count += sum(self._add(crd) for crd in crds)
        return count

    # -- lookups

    def digest(self) -> str:
        """SHA-256 of the Kubernetes version and every CRD's spec this store checks against: what the schema
        stage's findings depend on besides the objects (not where a CRD was read from, which differs from
        one CI runner's checkout to another's)."""
        h = hashlib.sha256(self.kubernetes_version.encode())
        for key, crd in sorted(self._crds.items()):
            h.update(json.dumps([key, crd.raw.get("spec")], sort_keys=True, default=str).encode())
        return h.hexdigest()

    def has_schema(self, api_version: str, kind: str) -> bool:
        group, version = _split_api(api_version)
        crd = self._crds.get((group, kind))
        if crd is not None and version in crd.served:
            return True
        return (api_version, kind) in _builtins(self.kubernetes_version).index

    def _crd_compiled(self, crd: _Crd, version: str) -> _CompiledCrd:
        key = (crd.group, crd.kind, version)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = _compile_crd_schema(crd.served[version])
        return found

    # -- checking

    def check(self, obj: dict[str, Any]) -> list[SchemaIssue]:
        """Every schema issue of one object (K001-K005); never raises."""
        try:
            return self._check(obj)
        except Exception as exc:  # last resort: a broken schema or pathological input must not stop the run
            return [SchemaIssue(SCHEMA_INVALID.id, (), _one_line(f"cannot validate: {type(exc).__name__}: {exc}"))]

    def _check(self, obj: Any) -> list[SchemaIssue]:
        if not isinstance(obj, dict):
            return [
                SchemaIssue(SCHEMA_INVALID.id, (), f"not a Kubernetes object: got {_json_type(obj)}, not a mapping")
            ]
        issues = []
        for name in ("apiVersion", "kind"):
            value = obj.get(name)
            if name not in obj:
                issues.append(SchemaIssue(SCHEMA_INVALID.id, (), f"missing {name}"))
            elif not isinstance(value, str) or not value.strip():
                issues.append(SchemaIssue(SCHEMA_INVALID.id, (name,), f"{name} must be a non-empty string"))
        if issues:
            return issues
        api_version, kind = obj["apiVersion"], obj["kind"]
        if not re.fullmatch(r"(?:[^/\s]+/)?[^/\s]+", api_version):
            return [SchemaIssue(SCHEMA_INVALID.id, ("apiVersion",), _one_line(f"malformed apiVersion {api_version!r}"))]
        group, version = _split_api(api_version)
        if group in _BUILD_INPUT_GROUPS:
            return []  # kustomization.yaml and friends are build inputs, never applied; the build stage checks them
        sops = isinstance(obj.get("sops"), dict)
        data = _plain({k: v for k, v in obj.items() if not (sops and k == "sops")})

        crd = self._crds.get((group, kind))
        if crd is not None and version in crd.served:
            compiled = self._crd_compiled(crd, version)
            found = [
                issue
                for error in compiled.validator.iter_errors(data)
                for issue in _describe(CRD_SCHEMA_INVALID.id, error, sops)
            ]
            if compiled.cel is not None:
                _cel_issues(compiled.cel, _apply_defaults(compiled.schema, data), (), sops, found)
            return _dedupe(found)

        builtins = _builtins(self.kubernetes_version)
        validator = builtins.validator(api_version, kind)
        if validator is not None:
            hide = kind == "Secret"  # a Secret's values never reach a message, whatever their type
            return _dedupe(
                issue
                for error in validator.iter_errors(data)
                for issue in _describe(SCHEMA_INVALID.id, error, sops, hide and _in_secret_values(error))
            )

        removed = self._removed(api_version, kind, crd)
        if removed:
            return [SchemaIssue(REMOVED_API_VERSION.id, ("apiVersion",), removed)]
        return [self._unknown(api_version, kind, builtins)]

    def _removed(self, api_version: str, kind: str, crd: _Crd | None) -> str:
        """Why apiVersion/kind is no longer served, with its replacement; "" when it is not a removal."""
        group, version = _split_api(api_version)
        if crd is not None:
            state = "is served: false" if version in crd.listed else "is not listed"
            best = crd.best_version()
            use = f"use {group}/{best}" if best else "the CRD serves no version"
            return f"{api_version} {kind} is no longer served ({version} {state} in the {kind} CRD); {use}"
        if version in _FLUX_RETIRED.get(group, ()) and (group, kind) in _FLUX_SERVED:
            use = f"{group}/{_FLUX_SERVED[(group, kind)]}"
            return f"{api_version} {kind} was removed from Flux (not served by Flux v2.9); use {use}"
        target = self.kubernetes_version
        old = _K8S_OLD_REMOVALS.get((api_version, kind))
        if old is not None:
            release, replacement = old
            use = f"use {replacement}" if "/" not in replacement else f"use {replacement} {kind}"
            return f"{api_version} {kind} was removed in Kubernetes {release}; {use}"
        if not (group == "" or "." not in group or group.endswith(".k8s.io")):
            return ""
        history = [v for v in _k8s_history(api_version, kind) if _version_key(v) < _version_key(target)]
        if not history:
            return ""
        later = [v for v in kubernetes_versions() if _version_key(v) > _version_key(history[-1])]
        release = later[0] if later else target
        candidates = [a for a, k in _builtins(target).index if k == kind and _split_api(a)[0] == group]
        if candidates:
            best = max(candidates, key=lambda a: _api_rank(_split_api(a)[1]))
            return f"{api_version} {kind} was removed in Kubernetes {release}; use {best} {kind}"
        return f"{api_version} {kind} was removed in Kubernetes {release} without a replacement"

    def _unknown(self, api_version: str, kind: str, builtins: _Builtins) -> SchemaIssue:
        group, _ = _split_api(api_version)
        target = self.kubernetes_version
        builtin_group = group in builtins.groups and not any(g == group for g, _ in self._crds)
        if builtin_group or group == "":
            history = _k8s_history(api_version, kind)
            if history:  # only in newer versions
                return SchemaIssue(
                    SCHEMA_INVALID.id,
                    ("apiVersion",),
                    f"{api_version} {kind} is not available in Kubernetes {target} (it is from {history[0]} on)",
                )
            others = sorted(
                (a for a, k in builtins.index if k == kind and _split_api(a)[0] == group),
                key=lambda a: _api_rank(_split_api(a)[1]),
            )
            if others:
                return SchemaIssue(
                    SCHEMA_INVALID.id,
                    ("apiVersion",),
                    f"{api_version} {kind} does not exist in Kubernetes {target}; use {others[-1]}",
                )
            kinds = sorted({k for a, k in builtins.index if a == api_version and not k.endswith("List")})
            close = difflib.get_close_matches(kind, kinds, n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            return SchemaIssue(
                SCHEMA_INVALID.id, ("kind",), f"{api_version} has no kind {kind} in Kubernetes {target}{hint}"
            )
        kinds = sorted(k for g, k in self._crds if g == group)
        close = difflib.get_close_matches(kind, kinds, n=1, cutoff=0.6)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        return SchemaIssue(
            NO_SCHEMA.id,
            ("kind",),
            _one_line(
                f"no schema for {api_version} {kind}{hint}: not a Kubernetes {target} kind and no CRD known; "
                f"supply its CRD with --crds, add it to the repository, or keep it in the CRD cache",
                300,
            ),
        )
