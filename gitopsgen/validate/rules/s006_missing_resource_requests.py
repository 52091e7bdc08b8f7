"""S006 missing-resource-requests: long-running containers request CPU and memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..findings import Finding, Rule, Severity
from ..model import Context
from . import finding_at
from ._workloads import containers, pod_specs

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="S006",
    name="missing-resource-requests",
    stage="semantics",
    severity=Severity.WARNING,
    summary="A container requests no CPU or no memory.",
    doc=(
        "The scheduler places pods by their requests. A container without a CPU or memory request counts as "
        "zero: its pods pile onto full nodes, run in the BestEffort QoS class and are the first evicted under "
        "memory pressure. Every container of Pods and of the pod templates of built-in workloads (including "
        "objects rendered from Helm charts) must have resources.requests.cpu and resources.requests.memory; "
        "a limit without a request counts as a request, since the API server copies the limit into the "
        "missing request. Checked are the app containers and the sidecar init containers (restartPolicy: "
        "Always), which run for the pod's whole life and add to its requests. Ordinary init containers are "
        "not checked: they run one at a time before the app containers, the scheduler only uses the largest "
        "of them when it exceeds the sum of the app containers, and an unset init request therefore never "
        "lowers the pod's reservation. Ephemeral containers cannot have resources at all."
    ),
)


def _has(resources: Any, section: str, name: str) -> bool:
    if not isinstance(resources, dict):
        return False
    values = resources.get(section)
    return isinstance(values, dict) and values.get(name) not in (None, "")


def missing_requests(container: dict[str, Any]) -> list[str]:
    """The resources (cpu, memory) a container neither requests nor limits."""
    resources = container.get("resources")
    return [r for r in ("cpu", "memory") if not (_has(resources, "requests", r) or _has(resources, "limits", r))]


def check(ctx: Context) -> Iterator[Finding]:
    for m in ctx.manifests():
        for spec, path in pod_specs(m):
            for list_name, container, cpath in containers(spec, path):
                if list_name == "ephemeralContainers":
                    continue
                if list_name == "initContainers" and container.get("restartPolicy") != "Always":
                    continue
                missing = missing_requests(container)
                if not missing:
                    continue
                kind = "sidecar container" if list_name == "initContainers" else "container"
                name = container.get("name", cpath[-1])
                what = " and ".join(f"resources.requests.{r}" for r in missing)
                message = f"{m.ref}: {kind} {name} has no {what}"
                yield finding_at(RULE, m, message, *cpath, "resources", "requests")
