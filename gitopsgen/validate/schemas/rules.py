"""The schema stage's rules (K001-K007) and the issue a schema check reports (:class:`SchemaIssue`), with
:data:`STATS`, the counts of expensive work done in this process.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..findings import Rule, Severity

JsonPath = tuple[str | int, ...]

# ---------------------------------------------------------------- rules

K001 = Rule(
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
K002 = Rule(
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
K003 = Rule(
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
K004 = Rule(
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
K005 = Rule(
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

K006 = Rule(
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
K007 = Rule(
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
