"""Image automation: ImageRepository + ImagePolicy per automated image, and the ImageUpdateAutomation.

Automated images: the Prefect server image, the Prefect worker image (both from the fleet's Prefect
image, tags ``X.Y.Z-pythonP`` and ``X.Y.Z-pythonP-kubernetes``) and each work pool's default
flow-run image. The setter markers sit on ``postBuild.substitute`` values in
``clusters/<name>/prefect/`` (see :mod:`gitopsgen.generate.render.flux`), so the ImageUpdateAutomation
updates that one directory and never touches another cluster's files.
"""

from __future__ import annotations

from typing import Any

from ...yamlio import Block
from ..coowned import Policy
from ..intent import PUSH_DIRECT, AutomationSettings, Fleet, Resolved, WorkPoolIntent
from .common import (
    COMPONENT_IMAGES,
    FLUX_NAMESPACE,
    PULL_SECRET,
    Files,
    Obj,
    base_dir,
    cluster_dir,
    kustomization,
    meta,
    obj,
    overlay_dir,
    patch_for,
)

IMAGE_API = "image.toolkit.fluxcd.io/v1"
PREFECT_REPOSITORY = "prefect"
SERVER_POLICY = "prefect-server"
WORKER_POLICY = "prefect-worker"
AUTOMATION_NAME = "prefect"


def _tag_pattern(tag_suffix: str) -> str:
    """ImagePolicy ``filterTags.pattern`` of the tags ``X.Y.Z<suffix>`` (the version as group ``version``)."""
    return r"^(?P<version>[0-9]+\.[0-9]+\.[0-9]+)" + tag_suffix.replace(".", r"\.") + "$"


def scan_image(repository: str) -> str:
    """ImageRepository ``spec.image``: Docker Hub images get their explicit host."""
    first = repository.split("/", 1)[0]
    if "/" in repository and ("." in first or ":" in first or first == "localhost"):
        return repository
    return f"docker.io/{repository}"


def flow_policy_name(pool: WorkPoolIntent) -> str:
    return f"flow-{pool.name}"


def automated_pools(r: Resolved) -> list[WorkPoolIntent]:
    return [p for p in r.cluster.worker_pools if p.flow_image and p.flow_image_policy]


def prefect_policy_range(r: Resolved) -> str:
    return r.cluster.image_automation.prefect_policy or f"~{r.prefect_version}"


def image_repository(name: str, image: str, interval: str) -> Obj:
    return obj(
        IMAGE_API,
        "ImageRepository",
        name,
        FLUX_NAMESPACE,
        {"image": scan_image(image), "interval": interval, "secretRef": {"name": PULL_SECRET}},
    )


def image_policy(name: str, repository: str, semver_range: str, tag_suffix: str | None = None) -> Obj:
    spec: dict[str, Any] = {"imageRepositoryRef": {"name": repository}}
    if tag_suffix is not None:
        spec["filterTags"] = {"pattern": _tag_pattern(tag_suffix), "extract": "$version"}
    spec["policy"] = {"semver": {"range": semver_range}}
    return obj(IMAGE_API, "ImagePolicy", name, FLUX_NAMESPACE, spec)


def base(fleet: Fleet) -> Files:
    d = base_dir(COMPONENT_IMAGES)
    python = f"-python{fleet.prefect.python}"
    default_range = f"~{fleet.prefect.version}"
    return {
        f"{d}/kustomization.yaml": [kustomization(["prefect-images.yaml"])],
        f"{d}/prefect-images.yaml": [
            image_repository(PREFECT_REPOSITORY, fleet.prefect.image, "10m"),
            image_policy(SERVER_POLICY, PREFECT_REPOSITORY, default_range, python),
            image_policy(WORKER_POLICY, PREFECT_REPOSITORY, default_range, f"{python}-kubernetes"),
        ],
    }


def overlay(r: Resolved) -> Files:
    d = overlay_dir(r.name, COMPONENT_IMAGES)
    interval = r.cluster.image_automation.interval
    docs: list[Any] = []
    for pool in automated_pools(r):
        assert pool.flow_image and pool.flow_image_policy
        name = flow_policy_name(pool)
        docs.append(image_repository(name, pool.flow_image, interval))
        docs.append(image_policy(name, name, pool.flow_image_policy))
    patches = []
    files: Files = {}
    for policy in (SERVER_POLICY, WORKER_POLICY):
        path = f"{policy}-policy-patch.yaml"
        patches.append(patch_for(path, "ImagePolicy", policy))
        files[f"{d}/{path}"] = [
            {
                "apiVersion": IMAGE_API,
                "kind": "ImagePolicy",
                "metadata": meta(policy, FLUX_NAMESPACE, labels=False),
                "spec": {"policy": {"semver": {"range": prefect_policy_range(r)}}},
            }
        ]
    repo_patch = "prefect-repository-patch.yaml"
    patches.append(patch_for(repo_patch, "ImageRepository", PREFECT_REPOSITORY))
    files[f"{d}/{repo_patch}"] = [
        {
            "apiVersion": IMAGE_API,
            "kind": "ImageRepository",
            "metadata": meta(PREFECT_REPOSITORY, FLUX_NAMESPACE, labels=False),
            "spec": {"interval": interval},
        }
    ]
    resources = ["../../../base/image-automation"]
    if docs:
        resources.append("flow-images.yaml")
        files[f"{d}/flow-images.yaml"] = docs
    files[f"{d}/kustomization.yaml"] = [kustomization(resources, patches)]
    return files


COMMIT_TEMPLATE = """\
{{ .AutomationObject.Name }}: update images of cluster %(cluster)s

{{ range $ref, $changes := .Changed.ObjectChanges -}}
{{ $ref.Kind }} {{ $ref.Name }}:
{{- range $_, $change := $changes }}
- {{ $change.OldValue }} -> {{ $change.NewValue }}
{{- end }}
{{ end -}}
"""


def push_spec(r: Resolved) -> dict[str, Any]:
    """``spec.git.push``: by default a per-cluster branch with GitLab merge-request push options, so a tag
    bump is reviewed and validated like any change; ``direct``: the branch Flux follows."""
    branch = r.fleet.git.branch
    if r.image_push == PUSH_DIRECT:
        return {"branch": branch}
    return {
        "branch": r.fleet.image_automation.branch_for(r.name),
        "options": {
            "merge_request.create": "",
            "merge_request.target": branch,
            "merge_request.title": f"Image updates of cluster {r.name}",
            "merge_request.remove_source_branch": "",
        },
    }


def policies(r: Resolved) -> dict[str, Policy]:
    """ImagePolicy name → what it accepts, for the values behind this cluster's setter markers."""
    python = f"-python{r.fleet.prefect.python}"
    out: dict[str, Policy] = {}
    for name, suffix in ((SERVER_POLICY, python), (WORKER_POLICY, f"{python}-kubernetes")):
        out[name] = Policy(prefect_policy_range(r), tag_pattern=_tag_pattern(suffix))
    for pool in automated_pools(r):
        assert pool.flow_image_policy
        out[flow_policy_name(pool)] = Policy(pool.flow_image_policy, repository=pool.flow_image)
    return out


def update_automation(r: Resolved) -> Obj:
    """The ImageUpdateAutomation of one cluster, writing only to clusters/<name>/prefect."""
    settings: AutomationSettings = r.fleet.image_automation
    branch = r.fleet.git.branch
    git: dict[str, Any] = {
        "checkout": {"ref": {"branch": branch}},
        "commit": {
            "author": {"name": settings.author_name, "email": settings.author_email},
            "messageTemplate": Block(COMMIT_TEMPLATE % {"cluster": r.name}),
        },
        "push": push_spec(r),
    }
    return obj(
        IMAGE_API,
        "ImageUpdateAutomation",
        AUTOMATION_NAME,
        FLUX_NAMESPACE,
        {
            "interval": "30m",
            "sourceRef": {"kind": "GitRepository", "name": r.fleet.git.flux_source, "namespace": FLUX_NAMESPACE},
            "git": git,
            "update": {"path": f"./{cluster_dir(r.name)}", "strategy": "Setters"},
        },
    )
