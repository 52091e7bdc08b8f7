"""The user-owned part of each overlay: ``overlays/<c>/<component>/custom/``, a Kustomize Component.

Every generated component overlay lists ``components: [custom]``; the Component's directory is
written once (an empty ``kustomization.yaml``, the *seed*) and never again: extra manifests and
patches of what the overlay generates go there. Pure: names and texts, no I/O.
"""

from __future__ import annotations

from ..intent import Resolved
from .common import Files, overlay_dir

CUSTOM_DIR = "custom"
COMPONENT_API = "kustomize.config.k8s.io/v1alpha1"

SEED = """\
# Yours: gitopsgen includes this Kustomize Component in {overlay}/ and never changes or deletes
# anything in this directory. List extra manifests under resources and patches of the objects
# the overlay generates under patches (kubectl kustomize {overlay} shows the result).
apiVersion: {api}
kind: Component
resources: []
"""


def custom_dir(cluster: str, component: str) -> str:
    return f"{overlay_dir(cluster, component)}/{CUSTOM_DIR}"


def include(files: Files, cluster: str, components: list[str]) -> None:
    """Add ``components: [custom]`` to each component overlay's kustomization (in place)."""
    for component in components:
        docs = files.get(f"{overlay_dir(cluster, component)}/kustomization.yaml")
        if docs:
            docs[0]["components"] = [CUSTOM_DIR]


def seeds(r: Resolved, components: list[str]) -> dict[str, str]:
    """Path → text of each Component's seed kustomization.yaml (written only where absent)."""
    return {
        f"{custom_dir(r.name, c)}/kustomization.yaml": SEED.format(overlay=overlay_dir(r.name, c), api=COMPONENT_API)
        for c in components
    }
