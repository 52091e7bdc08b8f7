"""The generator's use cases: what files the fleet and each cluster own, and the plans to write them.

Pure planning on top of :mod:`gitopsgen.generate.render` and :mod:`gitopsgen.generate.tree`; the command line
decides whether to apply a plan or to print its diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ..errors import InputError
from ..yamlio import dump_documents
from . import coowned, intentfiles, nextsteps
from . import intent as it
from .credentials import RegistryLogin, seal
from .render import custom, images, render_cluster, render_fleet
from .render.common import (
    COMPONENT_CREDENTIALS,
    COMPONENT_IMAGES,
    COMPONENT_SERVER,
    COMPONENT_WORKER,
    base_dir,
    cluster_dir,
)
from .render.flux import components
from .tree import GENERATED_HEADER, Plan, owned_files, plan, read_manifest, read_text

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
    return dump_documents([intentfiles.fleet_to_dict(fleet)], FLEET_HEADER)


def intent_text(cluster: it.ClusterIntent) -> str:
    return dump_documents([intentfiles.cluster_to_dict(cluster)], INTENT_HEADER.format(name=cluster.name))


def require_scaffold(root: Path) -> it.Fleet:
    fleet = intentfiles.load_fleet(root)
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


FLEET_MANIFEST = "base/.generated-files"


def cluster_manifest(name: str) -> str:
    """The list of the files gitopsgen generated for a cluster (see :func:`gitopsgen.generate.tree.plan`)."""
    return f"overlays/{name}/.generated-files"


def plan_fleet(root: Path, fleet: it.Fleet, renders: Renders = RENDER) -> Plan:
    return plan(root, renders.fleet(fleet), fleet_owned_dirs(), manifest=FLEET_MANIFEST)


def plan_cluster(
    root: Path,
    fleet: it.Fleet,
    cluster: it.ClusterIntent,
    with_intent: bool = False,
    login: RegistryLogin | None = None,
    renders: Renders = RENDER,
    override: frozenset[str] = frozenset(),
) -> Plan:
    """The cluster's files; SOPS pull secrets are encrypted from ``login``, or kept as they are without one.

    Values behind setter markers that Flux image automation wrote are kept (see :mod:`gitopsgen.generate.coowned`),
    except those of the ImagePolicies in ``override`` (``upgrade`` moves them on purpose)."""
    resolved = it.resolve(fleet, cluster)
    files = seal(root, renders.cluster(resolved), login)
    files[nextsteps.cluster_file(cluster.name)] = nextsteps.cluster_markdown(resolved)
    if resolved.cluster.image_automation.enabled:
        _keep_coowned(root, files, resolved, override)
    seeds = custom.seeds(resolved, components(resolved))
    p = plan(root, files, cluster_owned_dirs(cluster.name), manifest=cluster_manifest(cluster.name), seeds=seeds)
    for component in set(BASE_COMPONENTS) - set(components(resolved)):  # an untouched seed goes with its overlay
        rel = f"{custom.custom_dir(cluster.name, component)}/kustomization.yaml"
        text = read_text(root, rel) if not (root / rel).is_symlink() else None
        if _is_seed(rel, text, cluster.name) and rel not in p.delete:
            p.current[rel] = text
            p.delete.append(rel)
    if with_intent:
        p = merge(
            [
                p,
                plan(
                    root,
                    {intentfiles.intent_path(root, cluster.name).relative_to(root).as_posix(): intent_text(cluster)},
                    [],
                ),
            ]
        )
    return p


def plan_remove(root: Path, name: str) -> Plan:
    """Delete what gitopsgen generated for cluster ``name`` and its untouched seeds; refuse (naming it) when
    a file it did not write is left in the cluster's directories."""
    dirs = cluster_owned_dirs(name)
    manifest = cluster_manifest(name)
    listed = read_manifest(root, manifest)
    p = Plan()
    for rel in owned_files(root, dirs):
        text = read_text(root, rel) if not (root / rel).is_symlink() else None
        if listed is not None:
            ours = rel in listed or rel == manifest
        else:
            ours = (text or "").startswith(GENERATED_HEADER)
        ours = ours or _is_seed(rel, text, name)
        if not ours:
            raise InputError(
                f"{rel} was not written by gitopsgen: move it out of {rel.split('/')[0]}/{name}/ (or delete it) "
                f"before removing cluster {name}"
            )
        p.current[rel] = text
        p.delete.append(rel)
    return p


def _is_seed(rel: str, text: str | None, name: str) -> bool:
    """An untouched seed of a custom Component (``overlays/<name>/<component>/custom/kustomization.yaml``)."""
    parts = rel.split("/")
    if len(parts) != 5 or parts[3] != custom.CUSTOM_DIR or parts[4] != "kustomization.yaml":
        return False
    return text == custom.SEED.format(overlay=f"overlays/{name}/{parts[2]}", api=custom.COMPONENT_API)


def coowned_paths(name: str) -> list[str]:
    """The files of a cluster whose marked values Flux image automation updates."""
    return [f"{cluster_dir(name)}/prefect.yaml"]


def _keep_coowned(root: Path, files: dict[str, Any], r: it.Resolved, override: frozenset[str]) -> None:
    policies = images.policies(r)
    for rel in coowned_paths(r.name):
        if not isinstance(files.get(rel), str):
            continue
        current = read_text(root, rel)
        text = coowned.keep(files[rel], current, policies, override)
        # Flux's YAML writer may lay the file out its own way: the same content is no change
        files[rel] = current if current is not None and coowned.same(text, current) else text


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
    fleet = intentfiles.load_fleet(root)
    plans = []
    if _touches(touching, it.FLEET_FILE, fleet_owned_dirs()):
        plans.append(plan_fleet(root, fleet, renders))
    for name in intentfiles.cluster_names(root):
        intent_file = intentfiles.intent_path(root, name).relative_to(root).as_posix()
        if _touches(touching, intent_file, cluster_owned_dirs(name)):
            plans.append(plan_cluster(root, fleet, intentfiles.load_cluster(root, name), login=login, renders=renders))
    if _touches(touching, it.FLEET_FILE, []):
        plans.append(plan_readme(root, fleet))
    return merge(plans)


README = "README.md"


def plan_readme(root: Path, fleet: it.Fleet) -> Plan:
    """The fleet README's generated next-steps section; nothing when the README has no such section."""
    current = read_text(root, README)
    if current is None or nextsteps.BEGIN not in current:
        return Plan()
    return plan(root, {README: nextsteps.update_readme(current, fleet)}, [])


def _touches(paths: set[str] | None, source: str, owned_dirs: list[str]) -> bool:
    if paths is None:
        return True
    return any(p == source or any(p.startswith(d + "/") for d in owned_dirs) for p in paths)
