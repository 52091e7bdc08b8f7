"""The reference pages generated from the code: ``docs/configuration.md`` (every key of gitopsgen.yaml and of the
intent files, walked from the intent dataclasses) and ``docs/rules.md`` (the validator's rule catalogue).

``python -m gitopsgen.docs`` writes both; a test fails when the committed pages differ from what the code
generates, or when an intent field has no description here.
"""

from __future__ import annotations

import sys
import typing
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any

from .generate import intent as it
from .generate import intentfiles

# "Class.field" → what it means; every field of every intent dataclass must be here (tests/test_docs.py)
FIELD_DOCS: dict[str, str] = {
    "Fleet.generator_version": "The gitopsgen release that generated the tree; the fleet CI installs exactly this "
    "release and `generate --check` names a different one. Written by `init` and `generate`.",
    "Fleet.git": "The repository Flux reads the fleet from.",
    "GitSettings.url": "URL Flux clones the repository from (the `flux-system` GitRepository's `spec.url`); "
    "`init` takes it from the `origin` remote when not given.",
    "GitSettings.branch": "Branch Flux follows; `init` takes the repository's current branch when not given.",
    "GitSettings.flux_source": "Name of the GitRepository in `flux-system` that `flux bootstrap` created; the "
    "generated Flux Kustomizations read from it.",
    "Fleet.registry": "Default container registry and how its pull secrets reach the clusters.",
    "RegistrySettings.host": "Registry host the clusters pull images from (e.g. Harbor or a GitLab registry).",
    "RegistrySettings.secret_store": "ClusterSecretStore (External Secrets Operator) the pull secrets and the "
    "GitLab token come from.",
    "RegistrySettings.remote_key": "Remote key of the registry login in the store (properties `username`, "
    "`password`); default `prefect/<cluster>/registry`.",
    "RegistrySettings.credentials": "`external-secrets` (default: ExternalSecrets from `secretStore`) or `sops` "
    "(SOPS-encrypted Secrets in git, decrypted by kustomize-controller).",
    "RegistrySettings.age_recipients": "With `sops`: the age recipients the pull secrets are encrypted to.",
    "Fleet.prefect": "Prefect defaults of every cluster.",
    "PrefectSettings.version": "Prefect version of server, worker and default flow-run images (`upgrade --prefect`).",
    "PrefectSettings.python": "Python version in the Prefect image tags (`<version>-python<python>`).",
    "PrefectSettings.image": "Prefect image repository.",
    "Fleet.chart": "The official Prefect Helm charts.",
    "ChartSettings.repository": "Helm repository of `prefect-server` and `prefect-worker` (https:// or oci://).",
    "ChartSettings.version": "Chart version of both charts (`upgrade --chart`).",
    "Fleet.notifications": "Flux commit statuses in GitLab (notification-controller Provider + Alert).",
    "NotificationSettings.gitlab_project": "https URL of the GitLab project; default: derived from `git.url`.",
    "NotificationSettings.token_secret": "Secret in `flux-system` holding the GitLab token (key `token`).",
    "NotificationSettings.token_remote_key": "Remote key of that token in the secret store.",
    "Fleet.image_automation": "Commits of Flux's ImageUpdateAutomation.",
    "AutomationSettings.author_name": "Commit author name of image updates.",
    "AutomationSettings.author_email": "Commit author email of image updates.",
    "AutomationSettings.push": "`merge-request` (default: image updates go to a branch of their own with GitLab "
    "merge-request push options, reviewed and validated like every change) or `direct` (commits on `git.branch`; "
    "a protected branch rejects them).",
    "AutomationSettings.push_branch": "With `merge-request`: the branch name; `{cluster}` is replaced by the "
    "cluster's name (default `image-updates/{cluster}`).",
    "ClusterIntent.name": "Cluster name: `clusters/<name>/`, `overlays/<name>/`; must match the file name.",
    "ClusterIntent.cluster_uid": "The worker chart's `worker.clusterUid` (Helm `lookup` is empty under Flux); "
    "default derived from the name.",
    "ClusterIntent.server": "The Prefect server of this cluster.",
    "ServerIntent.mode": "`single` (one API with SQLite on a volume) or `ha` (API replicas on PostgreSQL + Redis).",
    "ServerIntent.replicas": "API replicas (`ha`).",
    "ServerIntent.storage_size": "SQLite volume size (`single`).",
    "ServerIntent.storage_class": "SQLite volume storage class (`single`); default: the cluster's default class.",
    "ServerIntent.database": "PostgreSQL (`ha`): the Secret with its connection URL.",
    "DatabaseIntent.secret": "Secret in `prefect` holding the PostgreSQL connection URL.",
    "DatabaseIntent.key": "Key of the URL in that Secret.",
    "ServerIntent.redis": "Redis (`ha`): the chart's bundled Redis, or an external host.",
    "RedisIntent.host": "External Redis host; unset: the chart's bundled Redis.",
    "RedisIntent.port": "External Redis port.",
    "RedisIntent.secret": "Secret with keys `redis-password` and `docket-url`.",
    "RedisIntent.image": "Bundled Redis image `REGISTRY/REPO:TAG` (bitnami layout); default: from the fleet registry.",
    "ServerIntent.ingress": "Ingress of the UI and API.",
    "IngressIntent.host": "Host name of the UI and API.",
    "IngressIntent.class_name": "IngressClass.",
    "IngressIntent.tls_secret": "TLS Secret for the host.",
    "ServerIntent.auth_secret": "Secret (key `auth-string`, `user:password`) enabling basic auth on the API; the "
    "workers authenticate with it.",
    "ClusterIntent.worker_pools": "Prefect work pools: one worker Deployment (HelmRelease) each.",
    "WorkPoolIntent.name": "Work pool name.",
    "WorkPoolIntent.namespace": "Namespace the pool's flow-run Jobs run in.",
    "WorkPoolIntent.namespaces": "Further flow-run namespaces the pool's deployments may target "
    "(`job_variables.namespace`); the worker's Role, the flow-run ServiceAccount, the pull and auth Secrets are "
    "provided there too.",
    "WorkPoolIntent.queues": "Work queues, highest priority first.",
    "WorkPoolIntent.replicas": "Worker replicas.",
    "WorkPoolIntent.flow_image": "Default flow-run image repository of the pool.",
    "WorkPoolIntent.flow_image_tag": "Its tag (image automation may move it within `flowImagePolicy`).",
    "WorkPoolIntent.flow_image_policy": "Semver range image automation follows for the flow-run image.",
    "WorkPoolIntent.finished_job_ttl": "Seconds a finished flow-run Job is kept (`ttlSecondsAfterFinished`).",
    "WorkPoolIntent.cpu_request": "Default CPU request of a flow run.",
    "WorkPoolIntent.memory_request": "Default memory request of a flow run.",
    "WorkPoolIntent.cpu_limit": "Default CPU limit of a flow run (unset: none).",
    "WorkPoolIntent.memory_limit": "Default memory limit of a flow run.",
    "WorkPoolIntent.values": "prefect-worker chart values of this pool's release, merged over the cluster's and "
    "gitopsgen's (checked against the chart's values schema when the chart is at hand).",
    "ClusterIntent.registry": "This cluster's registry settings (each key overrides the fleet's).",
    "ClusterIntent.image_automation": "Flux image automation for this cluster.",
    "ImageAutomationIntent.enabled": "Let Flux bump image tags (ImageRepository, ImagePolicy, ImageUpdateAutomation).",
    "ImageAutomationIntent.prefect_policy": "Semver range for Prefect server/worker images; default: patch "
    "releases of the pinned Prefect version.",
    "ImageAutomationIntent.interval": "How often Flux scans the registry.",
    "ImageAutomationIntent.push": "`merge-request` or `direct` for this cluster; default: the fleet's "
    "`imageAutomation.push`.",
    "ClusterIntent.prefect_version": "Pins this cluster's Prefect version (default: the fleet's).",
    "ClusterIntent.chart_version": "Pins this cluster's chart version (default: the fleet's).",
    "ClusterIntent.values": "Chart values per component (`prefect-server`, `prefect-worker`), merged over what "
    "gitopsgen renders (your value wins).",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _nested(cls: type, name: str) -> type | None:
    return intentfiles.NESTED.get((cls.__name__, name))


def _default(f: Any) -> str:
    if f.default is not MISSING:
        return "" if f.default is None else f"`{f.default}`"
    if f.default_factory is not MISSING:
        value = f.default_factory()
        return "" if is_dataclass(value) else f"`{value}`"
    return "required"


def _type(cls: type, f: Any) -> str:
    """The field's type as a reader says it: ``str``, ``list[str]``, ``int, optional``."""
    hint = typing.get_type_hints(cls)[f.name]
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    text = getattr(hint, "__name__", None) if not typing.get_args(hint) else str(hint)
    text = (text or str(hint)).replace("typing.", "")
    return f"{text}, optional" if optional else text


def walk(cls: type, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key path, type, default, description) of every field under ``cls``, depth first."""
    rows: list[tuple[str, str, str, str]] = []
    for f in fields(cls):
        path = f"{prefix}{_camel(f.name)}"
        nested = _nested(cls, f.name)
        doc = FIELD_DOCS.get(f"{cls.__name__}.{f.name}", "")
        if nested is not None:
            list_of = f.name == "worker_pools"
            rows.append((path + ("[]" if list_of else ""), "list" if list_of else "mapping", "", doc))
            rows += walk(nested, path + ("[]." if list_of else "."))
        else:
            rows.append((path, _type(cls, f), _default(f), doc))
    return rows


def undocumented() -> list[str]:
    missing: list[str] = []
    seen: set[type] = set()

    def visit(cls: type) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for f in fields(cls):
            if f"{cls.__name__}.{f.name}" not in FIELD_DOCS:
                missing.append(f"{cls.__name__}.{f.name}")
            nested = _nested(cls, f.name)
            if nested is not None:
                visit(nested)

    visit(it.Fleet)
    visit(it.ClusterIntent)
    return missing


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    out = ["| key | type | default | meaning |", "|---|---|---|---|"]
    out += [f"| `{p}` | {_cell(t)} | {_cell(d)} | {_cell(doc)} |" for p, t, d, doc in rows]
    return out


def configuration_reference() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the code by `python -m gitopsgen.docs`; `tests/test_docs.py` fails when it is stale.",
        "",
        f"## `{it.FLEET_FILE}` (fleet defaults)",
        "",
        *_table(walk(it.Fleet)),
        "",
        f"## `{it.INTENT_DIR}/<name>.yaml` (one cluster)",
        "",
        "Written by `add-cluster`; every key the fleet also has overrides the fleet's for this cluster.",
        "",
        *_table(walk(it.ClusterIntent)),
        "",
    ]
    return "\n".join(lines)


def rules_reference() -> str:
    from .validate.catalogue import RULES as rules

    lines = [
        "# Validator rules",
        "",
        "Generated from the rule catalogue by `python -m gitopsgen.docs` (also: `gitopsgen rules [ID]`). Severity "
        "policy: **error** = Flux, the API server, the chart or the kubelet would reject it, or the workload cannot "
        "start; **warning** = a risk; **info** = what was not checked and why. Configure with `disable: [ID]` or "
        "`rules: {ID: {enabled, severity}}`; silence one line with `# gitopsgen: ignore=ID`.",
        "",
        "| ID | name | stage | severity | summary |",
        "|---|---|---|---|---|",
    ]
    ordered = [rules[k] for k in sorted(rules)]
    lines += [
        f"| [{r.id}](#{r.id.lower()}) | {r.name} | {r.stage} | {r.severity.value} | {_cell(r.summary)} |"
        for r in ordered
    ]
    for r in ordered:
        lines += ["", f"## {r.id}", "", f"**{r.name}** ({r.stage}, {r.severity.value}). {r.doc}"]
    return "\n".join(lines) + "\n"


PAGES = {"docs/configuration.md": configuration_reference, "docs/rules.md": rules_reference}


def main(argv: list[str] | None = None) -> int:
    root = Path(argv[0] if argv else ".")
    for rel, make in PAGES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make(), encoding="utf-8")
        print(f"wrote {rel}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
