"""P007 worker-rbac-flow-run-namespace: a kubernetes worker may manage Jobs and read Pods in its flow-run namespace.

Evaluates the cluster's rendered RBAC with :func:`gitopsgen.validate.admission.missing_permissions` for the
ServiceAccount of each worker Deployment and the namespace of its pool's flow-run Jobs (:mod:`._flowrun`).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..admission import Provided, missing_permissions
from ..findings import Finding, Rule, Severity
from ..model import Context
from ._flowrun import flow_run_jobs, worker_service_account

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="P007",
    name="worker-rbac-flow-run-namespace",
    stage="semantics",
    severity=Severity.ERROR,
    summary="A Prefect kubernetes worker is not allowed to run flow-run Jobs in its pool's namespace.",
    doc=(
        "A kubernetes worker creates, watches and deletes its flow runs' Jobs and reads their Pods and logs in "
        "the namespace of the work pool's base job template: it needs create/get/list/watch/delete on "
        "batch jobs, get/list/watch on pods and get on pods/log there. The worker chart's Role and RoleBinding "
        "go to role.namespace (default: the worker's own namespace), so a pool whose flow runs go elsewhere "
        "gets 403 Forbidden on every submission. Checked from the rendered Roles, ClusterRoles and their "
        "bindings for the ServiceAccount the worker Deployment runs as; the finding points at the base job "
        "template whose namespace it is."
    ),
)


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        provided = Provided.of(m.data for m in cluster.manifests)
        for job in flow_run_jobs(cluster):
            account = worker_service_account(cluster, job.release)
            if account is None:
                continue
            missing = missing_permissions(provided, account[0], account[1], job.namespace)
            if missing:
                what = "; ".join(str(p) for p in missing)
                yield job.finding(
                    RULE,
                    f"flow-run Jobs of {job.release.manifest.ref} go to namespace {job.namespace}, where the worker's "
                    f"ServiceAccount {account[0]}/{account[1]} may not: {what}",
                )
