"""The generator's use cases: what files the fleet and each cluster own, and the plans to write them.

Pure planning on top of :mod:`gitopsgen.render` and :mod:`gitopsgen.tree`; the command line
decides whether to apply a plan or to print its diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from . import intent as it
from .credentials import RegistryLogin, seal
from .errors import InputError
from .render import render_cluster, render_fleet
from .render.common import (
    COMPONENT_CREDENTIALS,
    COMPONENT_IMAGES,
    COMPONENT_SERVER,
    COMPONENT_WORKER,
    base_dir,
    cluster_dir,
)
from .tree import Plan, plan
from .yamlout import dump_documents

BASE_COMPONENTS = [COMPONENT_CREDENTIALS, COMPONENT_SERVER, COMPONENT_WORKER, COMPONENT_IMAGES]
INTENT_HEADER = (
    "Intent of cluster {name}: what gitopsgen generates overlays/{name}/ and clusters/{name}/prefect/ from.\n"
    "Edit it, then run 'gitopsgen generate'."
)
FLEET_HEADER = (
    "Fleet defaults of gitopsgen: every cluster starts from these (intent/clusters/<name>.yaml overrides).\n"
    "Edit, then run 'gitopsgen generate'."
)


def fleet_owned_dirs() -> list[str]:
    return [base_dir(c) for c in BASE_COMPONENTS]


def cluster_owned_dirs(name: str) -> list[str]:
    return [f"overlays/{name}", cluster_dir(name)]


def fleet_text(fleet: it.Fleet) -> str:
    return dump_documents([it.fleet_to_dict(fleet)], FLEET_HEADER)


def intent_text(cluster: it.ClusterIntent) -> str:
    return dump_documents([it.cluster_to_dict(cluster)], INTENT_HEADER.format(name=cluster.name))


def require_scaffold(root: Path) -> it.Fleet:
    fleet = it.load_fleet(root)
    missing = [d for d in fleet_owned_dirs() if not (root / d / "kustomization.yaml").is_file()]
    if missing:
        raise InputError(f"{root} lacks the scaffold ({missing[0]}/kustomization.yaml): run 'gitopsgen init'")
    return fleet


class Renders(Protocol):
    """Where a plan gets rendered files from (the validator's drift check memoises them)."""

    def fleet(self, fleet: it.Fleet) -> dict[str, str]: ...

    def cluster(self, resolved: it.Resolved) -> dict[str, Any]: ...


class Render:
    """Render every time (what the write commands do)."""

    def fleet(self, fleet: it.Fleet) -> dict[str, str]:
        return render_fleet(fleet)

    def cluster(self, resolved: it.Resolved) -> dict[str, Any]:
        return render_cluster(resolved)


RENDER = Render()


def plan_fleet(root: Path, fleet: it.Fleet, renders: Renders = RENDER) -> Plan:
    return plan(root, renders.fleet(fleet), fleet_owned_dirs())


def plan_cluster(
    root: Path,
    fleet: it.Fleet,
    cluster: it.ClusterIntent,
    with_intent: bool = False,
    login: RegistryLogin | None = None,
    renders: Renders = RENDER,
) -> Plan:
    """The cluster's files; SOPS pull secrets are encrypted from ``login``, or kept as they are without one."""
    files = seal(root, renders.cluster(it.resolve(fleet, cluster)), login)
    if with_intent:
        files[it.intent_path(root, cluster.name).relative_to(root).as_posix()] = intent_text(cluster)
    return plan(root, files, cluster_owned_dirs(cluster.name))


def merge(plans: list[Plan]) -> Plan:
    out = Plan()
    for p in plans:
        out.write.update(p.write)
        out.delete.extend(p.delete)
        out.current.update(p.current)
    return out


def plan_all(
    root: Path, login: RegistryLogin | None = None, renders: Renders = RENDER, touching: set[str] | None = None
) -> Plan:
    """Everything the intent generates: the fleet base and every cluster (``login``: re-encrypt SOPS pull secrets).

    ``touching``: only the parts that own one of these repository paths or are generated from it (a
    cluster's intent file; the fleet intent touches every part)."""
    if touching is not None and it.FLEET_FILE in touching:
        touching = None
    fleet = it.load_fleet(root)
    plans = []
    if _touches(touching, it.FLEET_FILE, fleet_owned_dirs()):
        plans.append(plan_fleet(root, fleet, renders))
    for name in it.cluster_names(root):
        intent_file = it.intent_path(root, name).relative_to(root).as_posix()
        if _touches(touching, intent_file, cluster_owned_dirs(name)):
            plans.append(plan_cluster(root, fleet, it.load_cluster(root, name), login=login, renders=renders))
    return merge(plans)


def _touches(paths: set[str] | None, source: str, owned_dirs: list[str]) -> bool:
    if paths is None:
        return True
    return any(p == source or any(p.startswith(d + "/") for d in owned_dirs) for p in paths)
