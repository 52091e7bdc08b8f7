"""What Flux would apply in one cluster, as YAML (``gitopsgen build``): the validator's own build of the cluster
(kustomize, Flux's transforms, postBuild substitution, Helm renders), optionally narrowed to one Flux
Kustomization — what it applies and what the HelmReleases it applies render."""

from __future__ import annotations

from .model import Manifest

KUSTOMIZATION = "Kustomization "
HELMRELEASE = "HelmRelease "


def _ref(via: str, prefix: str) -> str | None:
    return via[len(prefix) :] if via.startswith(prefix) else None


def applied_by(manifests: list[Manifest], kustomization: str) -> list[Manifest]:
    """The manifests one Flux Kustomization applies (``NAME`` or ``NAMESPACE/NAME``), and those rendered from the
    HelmReleases among them."""

    def matches(ref: str | None) -> bool:
        if ref is None:
            return False
        return ref == kustomization if "/" in kustomization else ref.split("/", 1)[-1] == kustomization

    direct = [m for m in manifests if matches(_ref(m.via, KUSTOMIZATION))]
    releases = {f"{m.namespace}/{m.name}" for m in direct if m.kind == "HelmRelease"}  # as helmstage names them
    return direct + [m for m in manifests if _ref(m.via, HELMRELEASE) in releases]


def kustomization_names(manifests: list[Manifest]) -> list[str]:
    return sorted({ref for m in manifests if (ref := _ref(m.via, KUSTOMIZATION))})


def header(m: Manifest) -> str:
    """A comment naming where the object comes from: file:line and what applied or rendered it."""
    where = f"{m.file}:{m.line}" if m.line else m.file
    return f"# Source: {where}" + (f" ({m.via})" if m.via else "")
