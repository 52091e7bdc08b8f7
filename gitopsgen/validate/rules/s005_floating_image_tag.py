"""S005 floating-image-tag: container images are pinned to a version tag or a digest, not a moving tag."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..findings import Finding, Rule, Severity
from ..model import Context
from . import finding_at
from ._workloads import containers, pod_specs

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="S005",
    name="floating-image-tag",
    stage="semantics",
    severity=Severity.WARNING,
    summary="A container image has no tag, the tag latest or another moving tag, and no digest.",
    doc=(
        "A moving tag makes a Git commit stop describing what runs: two nodes can pull different images for "
        "the same manifest, a restart can silently upgrade, and a rollback to an earlier commit does not roll "
        "the image back; Flux also cannot see a change to reconcile. Every image of containers, initContainers "
        "and ephemeralContainers of Pods and of the pod templates of built-in workloads (including objects "
        "rendered from Helm charts) must carry a digest (@sha256:...) or a tag that is not floating. Floating "
        "means: no tag at all (Kubernetes pulls latest); a tag that is one of latest, stable, edge, lts, "
        "current, rolling, main, master, trunk, head, dev, devel, develop, development, nightly, canary, "
        "unstable, snapshot, next; a tag ending in one of them after '-', '_', '.' or '+' (3-latest, "
        "1.2-stable); or a tag starting with latest, stable, edge, lts, current or rolling followed by a "
        "variant (stable-alpine, lts-slim). Branch-build tags such as main-1a2b3c4-1700000000 are pinned and "
        "pass. A digest pins the image whatever the tag. Images still holding a ${variable} are left to the "
        "substitution rules."
    ),
)

FLOATING_WORDS = frozenset(
    {
        "latest",
        "stable",
        "edge",
        "lts",
        "current",
        "rolling",
        "main",
        "master",
        "trunk",
        "head",
        "dev",
        "devel",
        "develop",
        "development",
        "nightly",
        "canary",
        "unstable",
        "snapshot",
        "next",
    }
)
FLOATING_PREFIXES = frozenset({"latest", "stable", "edge", "lts", "current", "rolling"})
_SEPARATORS = re.compile(r"[-_.+]")


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference; tag and digest are None when absent."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = image.rsplit(":", 1)
        return repository, tag, digest
    return image, None, digest


def floating_reason(image: str) -> str | None:
    """Why ``image`` is not pinned, or None when it is (or cannot be judged)."""
    if not image or "${" in image:
        return None
    _, tag, digest = split_image(image.strip())
    if digest:
        return None
    if not tag:
        return "has no tag and no digest (Kubernetes pulls latest)"
    lowered = tag.lower()
    parts = _SEPARATORS.split(lowered)
    if lowered in FLOATING_WORDS or parts[-1] in FLOATING_WORDS or parts[0] in FLOATING_PREFIXES:
        return f"uses the floating tag {tag!r} and no digest"
    return None


def check(ctx: Context) -> Iterator[Finding]:
    for m in ctx.manifests():
        for spec, path in pod_specs(m):
            for list_name, container, cpath in containers(spec, path):
                image = container.get("image")
                if not isinstance(image, str):
                    continue
                reason = floating_reason(image)
                if reason is None:
                    continue
                name = container.get("name", cpath[-1])
                message = f"{m.ref}: {list_name[:-1]} {name} image {image!r} {reason}; pin a version tag or digest"
                yield finding_at(RULE, m, message, *cpath, "image")
