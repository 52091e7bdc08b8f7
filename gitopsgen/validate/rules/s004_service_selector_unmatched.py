"""S004 service-selector-unmatched: a Service's selector matches the pods of some workload of its namespace."""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, Rule, Severity
from ..model import Context
from . import finding_at
from ._workloads import namespace_of, pod_template_labels

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="S004",
    name="service-selector-unmatched",
    stage="semantics",
    severity=Severity.WARNING,
    summary="A Service's selector matches no pod template of its namespace.",
    doc=(
        "A Service whose spec.selector matches no pods has no endpoints: clients get connection refused or "
        "time out, and an Ingress in front of it answers 503. The usual cause is a label renamed on one side "
        "only, or a Service and its Deployment landing in different namespaces. The rule compares the selector "
        "of every Service (except ExternalName Services and Services without a selector, whose endpoints are "
        "managed by hand) with the pod labels of the Pods, Deployments, StatefulSets, DaemonSets, "
        "ReplicaSets, ReplicationControllers, Jobs, CronJobs and PodTemplates the same cluster applies to the "
        "same namespace (objects without a namespace count as 'default'), including objects rendered from Helm "
        "charts. It is a warning because pods may also come from operators or custom workload kinds the "
        "validator does not know."
    ),
)


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        pods: dict[str, list[dict[str, str]]] = {}
        for m in cluster.manifests:
            labels = pod_template_labels(m)
            if labels is not None:
                pods.setdefault(namespace_of(m), []).append(labels)
        for svc in cluster.of_kind("Service", ""):
            spec = svc.data.get("spec")
            if not isinstance(spec, dict) or spec.get("type") == "ExternalName":
                continue
            raw = spec.get("selector")
            if not isinstance(raw, dict) or not raw:
                continue
            selector = {str(k): str(v) for k, v in raw.items()}
            if any("${" in k or "${" in v for k, v in selector.items()):
                continue
            ns = namespace_of(svc)
            if any(_matches(selector, labels) for labels in pods.get(ns, [])):
                continue
            shown = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
            message = (
                f"{svc.ref}: selector {shown} matches no pod template in namespace {ns} of cluster {cluster.name}; "
                "the Service has no endpoints"
            )
            yield finding_at(RULE, svc, message, "spec", "selector")
