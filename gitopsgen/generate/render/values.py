"""The user's chart values from the intent, merged into the generated HelmRelease patches (pure).

``values.prefect-server`` goes over the server overlay's values; ``values.prefect-worker`` over every
pool's, then the pool's own ``values``. Mappings merge key by key, anything else (lists, scalars)
replaces what gitopsgen rendered: the user's value wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...mergemaps import merge_maps
from ..intent import Resolved
from .common import COMPONENT_SERVER, COMPONENT_WORKER, Files, base_dir, overlay_dir


def _merge_into(files: Files, path: str, layers: list[dict[str, Any] | None]) -> None:
    docs = files.get(path)
    if not docs:
        return
    spec = docs[0]["spec"]
    for layer in layers:
        if layer:
            spec["values"] = merge_maps(spec.get("values", {}), layer)


def merge(files: Files, r: Resolved) -> None:
    """Merge the intent's values into the overlays' HelmRelease patches (in place)."""
    values = r.cluster.values or {}
    _merge_into(
        files, f"{overlay_dir(r.name, COMPONENT_SERVER)}/helmrelease-patch.yaml", [values.get("prefect-server")]
    )
    for pool in r.cluster.worker_pools:
        path = f"{overlay_dir(r.name, COMPONENT_WORKER)}/pools/{pool.name}/helmrelease-patch.yaml"
        _merge_into(files, path, [values.get("prefect-worker"), pool.values])


@dataclass(frozen=True)
class ReleaseValues:
    """The values a generated HelmRelease gives its chart: the base's, then the overlay patch's (user's included)."""

    release: str
    chart: str
    version: str
    repository: str
    values: dict[str, Any]


def releases(base: Files, overlay: Files, r: Resolved) -> list[ReleaseValues]:
    """Each HelmRelease of the cluster with its values merged as kustomize merges the patch over the base
    (mappings key by key, lists replaced), for checking them against the chart's values schema."""
    out: list[ReleaseValues] = []
    targets = [(COMPONENT_SERVER, f"{overlay_dir(r.name, COMPONENT_SERVER)}/helmrelease-patch.yaml", "")]
    targets += [
        (COMPONENT_WORKER, f"{overlay_dir(r.name, COMPONENT_WORKER)}/pools/{p.name}/helmrelease-patch.yaml", p.name)
        for p in r.cluster.worker_pools
    ]
    for component, path, pool in targets:
        (base_release,) = [d for d in base[f"{base_dir(component)}/helmrelease.yaml"] if d["kind"] == "HelmRelease"]
        patch = overlay[path][0]
        spec = base_release["spec"]
        name = base_release["metadata"]["name"] + (f"-{pool}" if pool else "")
        out.append(
            ReleaseValues(
                release=name,
                chart=spec["chart"]["spec"]["chart"],
                version=patch["spec"]["chart"]["spec"].get("version", spec["chart"]["spec"]["version"]),
                repository=r.fleet.chart.repository,
                values=merge_maps(spec.get("values", {}), patch["spec"].get("values", {})),
            )
        )
    return out
