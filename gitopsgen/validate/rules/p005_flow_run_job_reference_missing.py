"""P005 flow-run-job-reference-missing: what a work pool's flow-run Jobs reference must exist where they run.

Builds each kubernetes work pool's flow-run Job from its base job template (:mod:`._flowrun`) and checks it
with :func:`gitopsgen.validate.admission.pod_problems` against the cluster's rendered objects.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..admission import Provided, pod_problems
from ..findings import Finding, Rule, Severity
from ..model import Context
from ._flowrun import flow_run_jobs

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="P005",
    name="flow-run-job-reference-missing",
    stage="semantics",
    severity=Severity.ERROR,
    summary="A Prefect work pool's flow-run Jobs refer to a namespace, ServiceAccount or Secret that is not "
    "provided where they run.",
    doc=(
        "A kubernetes worker submits every flow run as a Job built from its work pool's base job template, in the "
        "template's namespace. The Job is refused when that namespace does not exist, and its Pod never starts "
        "(CreateContainerConfigError, ImagePullBackOff) when its ServiceAccount, an imagePullSecret, or a Secret "
        "or ConfigMap named by env valueFrom, envFrom or a volume is missing in that namespace. With basic auth "
        "from an existing Secret, the worker chart sets PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_"
        "SECRET_NAME and prefect-kubernetes makes every Job read PREFECT_API_AUTH_STRING from that Secret in the "
        "flow-run namespace, so the Secret must be provided there too, not only beside the worker. The Job is "
        "built from the template's variable defaults; provided means a Secret, ExternalSecret, SealedSecret or "
        "ClusterExternalSecret (a ConfigMap, ServiceAccount or Namespace) in the cluster's build. The finding "
        "points at the base job template, or at basicAuth.existingSecret for the auth Secret."
    ),
)


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        provided = Provided.of(m.data for m in cluster.manifests)
        for job in flow_run_jobs(cluster):
            pool = job.release.manifest.ref
            for problem in pod_problems(job.job, provided):
                if problem.kind in ("reference", "namespace"):
                    yield job.finding(RULE, f"flow-run Jobs of {pool}: {problem.message}", problem.path)
