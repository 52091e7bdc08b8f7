"""The flow-run Jobs a cluster's Prefect kubernetes workers would submit (a helper module, not a rule).

Shared by P005-P007. For every prefect-worker release of type kubernetes it finds the work pool's base job
template (``worker.config.baseJobTemplate.configuration``, a JSON string, or the ConfigMap named by
``existingConfigMapName``), fills its ``job_manifest`` with the variables' defaults the way Prefect's
``apply_values`` does (a whole-string ``{{ var }}`` takes the value, a missing or null value drops the key),
and adds what prefect-kubernetes adds to every Job of that worker: ``PREFECT_API_AUTH_STRING`` as a
``secretKeyRef`` to the worker's ``basicAuth.existingSecret`` (the worker chart sets
``PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME`` to it). The runtime harness builds the
same Job with prefect-kubernetes' own code; both are checked by :mod:`gitopsgen.validate.admission`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..fields import list_at
from ..findings import Finding, Rule
from ..model import Cluster, Manifest
from . import finding_at
from ._prefect import KeyPath, Release, dig, releases

WORKER_CHART = "prefect-worker"
TEMPLATE: KeyPath = ("worker", "config", "baseJobTemplate", "configuration")
EXISTING: KeyPath = ("worker", "config", "baseJobTemplate", "existingConfigMapName")
AUTH_SECRET: KeyPath = ("worker", "selfHostedServerApiConfig", "basicAuth", "existingSecret")
_PLACEHOLDER = re.compile(r"^\{\{\s*([\w.-]+)\s*\}\}$")
_INLINE = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}")


@dataclass(eq=False)
class FlowRunJob:
    """The Job a worker would submit for a flow run with its pool's defaults, and where findings point."""

    release: Release
    job: dict[str, Any]
    auth_env: int | None  # index of PREFECT_API_AUTH_STRING in containers[0].env, when the worker adds it
    source: Manifest | None  # the ConfigMap holding the template, when it is not inline

    @property
    def namespace(self) -> str:
        return str(dig(self.job, "metadata", "namespace") or "default")

    def finding(self, rule: Rule, message: str, job_path: tuple[str | int, ...] = ()) -> Finding:
        auth_path = ("spec", "template", "spec", "containers", 0, "env", self.auth_env)
        if self.auth_env is not None and job_path[: len(auth_path)] == auth_path:
            return self.release.finding(rule, message, AUTH_SECRET)
        if self.source is not None:
            return finding_at(rule, self.source, message, "data", "baseJobTemplate.json")
        return self.release.finding(rule, message, TEMPLATE)


def apply_values(template: Any, values: dict[str, Any]) -> Any:
    """Prefect's placeholder filling for one template value; ``None`` means "drop this key"."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            filled = apply_values(value, values)
            if filled is not None:
                out[key] = filled
        return out
    if isinstance(template, list):
        return [v for v in (apply_values(item, values) for item in template) if v is not None]
    if isinstance(template, str):
        whole = _PLACEHOLDER.match(template)
        if whole:
            return copy.deepcopy(values.get(whole.group(1)))
        return _INLINE.sub(lambda m: "" if values.get(m.group(1)) is None else str(values[m.group(1)]), template)
    return template


def _template(release: Release, cluster: Cluster) -> tuple[Any, Manifest | None]:
    text = release.get(*TEMPLATE)
    source = None
    if not text and release.get(*EXISTING):
        source = cluster.find("ConfigMap", release.namespace, str(release.get(*EXISTING)))
        text = dig(source.data, "data", "baseJobTemplate.json") if source is not None else None
    if not isinstance(text, str) or not text.strip() or "${" in text:
        return None, source
    try:
        return json.loads(text), source
    except ValueError:
        return None, source


def flow_run_jobs(cluster: Cluster) -> Iterator[FlowRunJob]:
    """The flow-run Job of every kubernetes work pool of the cluster's self-hosted prefect-worker releases."""
    for release in releases(cluster, WORKER_CHART):
        if release.get("worker", "config", "type") not in (None, "kubernetes") or not release.complete:
            continue
        template, source = _template(release, cluster)
        manifest = dig(template, "job_configuration", "job_manifest")
        if not isinstance(manifest, dict):
            continue
        props = dig(template, "variables", "properties")
        defaults = (
            {k: v.get("default") for k, v in props.items() if isinstance(v, dict)} if isinstance(props, dict) else {}
        )
        job = apply_values(manifest, defaults)
        if not isinstance(job, dict):
            continue
        job.setdefault("metadata", {})
        if not dig(job, "metadata", "namespace"):
            job["metadata"]["namespace"] = "default"
        auth_env = None
        first = dig(job, "spec", "template", "spec", "containers", 0)
        secret = release.get(*AUTH_SECRET)
        enabled = release.get("worker", "selfHostedServerApiConfig", "basicAuth", "enabled") is True
        if isinstance(first, dict) and enabled and isinstance(secret, str) and secret:
            env = list_at(first, "env")
            env = [e for e in env if not (isinstance(e, dict) and e.get("name") == "PREFECT_API_AUTH_STRING")]
            env.append(
                {
                    "name": "PREFECT_API_AUTH_STRING",
                    "valueFrom": {"secretKeyRef": {"name": secret, "key": "auth-string"}},
                }
            )
            first["env"] = env
            auth_env = len(env) - 1
        yield FlowRunJob(release, job, auth_env, source)


def worker_service_account(cluster: Cluster, release: Release) -> tuple[str, str] | None:
    """(namespace, name) of the ServiceAccount the release's worker Deployment runs as, from the rendered objects."""
    for m in cluster.of_kind("Deployment", "apps"):
        if m.via != f"HelmRelease {release.manifest.namespace}/{release.manifest.name}":
            continue
        spec = dig(m.data, "spec", "template", "spec")
        names = [c.get("name") for c in (dig(spec, "containers") or []) if isinstance(c, dict)]
        if "prefect-worker" in names:
            return m.namespace or release.namespace, str(dig(spec, "serviceAccountName") or "default")
    return None
