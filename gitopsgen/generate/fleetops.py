"""Fleet operations on intent: upgrading Prefect / chart versions and removing a cluster.

Pure planning: each operation reads the repository and returns a :class:`FleetOp`, a
:class:`gitopsgen.generate.tree.Plan` (the intent files that change *and* every generated file that changes
with them) plus a summary for the command line and for commit messages. Nothing is written here;
the command line applies the plan all-or-nothing with :func:`gitopsgen.generate.treewrite.apply`.

Intent files are edited in place (ruamel round trip): only the version keys change, the user's
comments and layout stay.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from .. import __version__
from ..errors import InputError
from . import checks, coowned, generator, generatorversion, intentcheck, intentfiles
from . import intent as it
from .render import images
from .render.protect import removal
from .tree import Plan, plan

# kind → (label, ClusterIntent field, fleet section, intent key)
_KINDS: dict[str, tuple[str, str, str, str]] = {
    "prefect": ("Prefect", "prefect_version", "prefect", "prefectVersion"),
    "chart": ("chart", "chart_version", "chart", "chartVersion"),
}
_VERSION = re.compile(r"^v?([0-9]+(?:\.[0-9]+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


@dataclass
class FleetOp:
    """A planned fleet operation: the files to write/delete, what it does, and warnings for stderr."""

    plan: Plan
    summary: list[str] = field(default_factory=list)  # one line per change, e.g. "Upgrade Prefect 3.8.3 → 3.8.4 on …"
    notes: list[str] = field(default_factory=list)  # things the user should know (pinned clusters, flux-system)

    @property
    def message(self) -> str:
        """A commit message: the summary as subject (and body when there are several changes)."""
        if len(self.summary) <= 1:
            return "".join(self.summary)
        subject = "; ".join(self.summary)
        if len(subject) > 72:
            subject = f"{self.summary[0]} (+{len(self.summary) - 1} more)"
        return "\n".join([subject, "", *self.summary])


# ---------------------------------------------------------------- versions


def version_key(value: str) -> tuple[Any, ...]:
    """Sort key of a semver-like version: numeric parts, then pre-releases before the release."""
    m = _VERSION.match(value)
    if not m:
        raise InputError(f"version {value!r} is not a version X.Y.Z")
    numbers = [int(n) for n in m.group(1).split(".")]
    numbers += [0] * (3 - len(numbers))
    pre = m.group(2)
    if pre is None:
        return (tuple(numbers), 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (tuple(numbers), 0, ids)


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is older than, as old as, or newer than ``b`` (build metadata ignored)."""
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)


# ---------------------------------------------------------------- round-trip edits


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def set_key(text: str, keys: Sequence[str], value: str | None, where: str) -> str:
    """``text`` with the mapping value at ``keys`` set to ``value`` (None: removed), comments kept."""
    y = _yaml()
    data = y.load(text)
    if data is None:
        data = CommentedMap()
    node = data
    for key in keys[:-1]:
        if not isinstance(node, dict):
            raise InputError(f"{'.'.join(keys)} cannot be set: {key!r} is not inside a mapping", file=where)
        child = node.get(key)
        if not isinstance(child, dict):
            if value is None:
                return text
            child = CommentedMap()
            node[key] = child
        node = child
    last = keys[-1]
    if value is None:
        node.pop(last, None)
    else:
        scalar: Any = value if isinstance(yaml.safe_load(value), str) else SingleQuotedScalarString(value)
        if last in node:
            node[last] = scalar
        else:  # keep the order the intent is written in: prefectVersion before chartVersion
            after = [k for k in ("chartVersion",) if k in node and last == "prefectVersion"]
            pos = list(node).index(after[0]) if after else len(node)
            node.insert(pos, last, scalar)
    buf = io.StringIO()
    y.dump(data, buf)
    return buf.getvalue()


def record_generator_version(root: Path, p: Plan) -> None:
    """Add to ``p`` the edit of gitopsgen.yaml that records this release as the fleet's generator (comments kept)."""
    text = p.write.get(it.FLEET_FILE) or _read(root, it.FLEET_FILE)
    p.current.setdefault(it.FLEET_FILE, _read(root, it.FLEET_FILE))
    p.write[it.FLEET_FILE] = set_key(text, [generatorversion.FIELD], __version__, it.FLEET_FILE)


def _read(root: Path, rel: str) -> str:
    try:
        return (root / rel).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=rel) from None


# ---------------------------------------------------------------- upgrade


@dataclass(frozen=True)
class _Move:
    kind: str
    cluster: str
    old: str
    new: str


def _known(root: Path, names: Sequence[str]) -> list[str]:
    known = intentfiles.cluster_names(root)
    out: list[str] = []
    for name in names:
        checks.dns_label(name, "cluster name", max_len=40)
        if name not in known:
            rel = intentfiles.intent_path(root, name).relative_to(root).as_posix()
            raise InputError(f"no cluster named {name!r} ({rel} does not exist; known: {', '.join(known) or 'none'})")
        if name not in out:
            out.append(name)
    return out


def _pinned(cluster: it.ClusterIntent, attr: str, value: str | None) -> it.ClusterIntent:
    """``cluster`` with its ``prefect_version`` or ``chart_version`` pin set to ``value`` (None: no pin)."""
    if attr == "prefect_version":
        return replace(cluster, prefect_version=value)
    if attr == "chart_version":
        return replace(cluster, chart_version=value)
    raise ValueError(f"not a version pin: {attr}")


def plan_upgrade(
    root: Path,
    *,
    prefect: str | None = None,
    chart: str | None = None,
    clusters: Sequence[str] = (),
    include_pinned: bool = False,
    allow_downgrade: bool = False,
) -> FleetOp:
    """Move the Prefect and/or chart version, fleet-wide (the default in gitopsgen.yaml) or on ``clusters``.

    Fleet-wide, clusters that pin their own version keep it (listed in ``notes``) unless
    ``include_pinned``: then their pins are dropped, so they follow the new default. Per cluster, the
    pin is set, or dropped where the new version is the fleet default. Downgrades are refused unless
    ``allow_downgrade``. The plan holds the changed intent files and every generated file that changes.
    """
    requested = {k: v for k, v in (("prefect", prefect), ("chart", chart)) if v is not None}
    if not requested:
        raise InputError("nothing to upgrade to: give --prefect VERSION and/or --chart VERSION")
    if clusters and include_pinned:
        raise InputError("--include-pinned is for fleet-wide upgrades (without --cluster): --cluster sets pins")
    for kind, new in requested.items():
        checks.version(new, f"{_KINDS[kind][0]} version")
    fleet = generator.require_scaffold(root)
    targets = _known(root, clusters)
    names = targets or intentfiles.cluster_names(root)
    intents = {n: intentfiles.load_cluster(root, n) for n in names}
    new_fleet = fleet
    new_intents = dict(intents)
    moves: list[_Move] = []
    fleet_moves: list[_Move] = []  # cluster "" = the fleet default
    notes: list[str] = []
    for kind, new in requested.items():
        label, attr, section, _ = _KINDS[kind]
        default = getattr(fleet, section).version
        if not targets:
            if new != default:
                new_fleet = replace(new_fleet, **{section: replace(getattr(new_fleet, section), version=new)})
                fleet_moves.append(_Move(kind, "", default, new))
            for n, c in intents.items():
                pin = getattr(c, attr)
                if pin is None:
                    if new != default:
                        moves.append(_Move(kind, n, default, new))
                elif include_pinned:
                    if pin != new:
                        new_intents[n] = _pinned(new_intents[n], attr, None)
                        moves.append(_Move(kind, n, pin, new))
                        notes.append(f"{n}: {label} pin {pin} dropped: {n} follows the fleet default again")
                elif pin != new:
                    notes.append(f"{n}: pinned to {label} {pin}, not upgraded (--include-pinned moves pins too)")
        else:
            for n in targets:
                current = getattr(intents[n], attr) or default
                if current == new:
                    continue
                new_intents[n] = _pinned(new_intents[n], attr, None if new == default else new)
                moves.append(_Move(kind, n, current, new))
                if new == default and getattr(intents[n], attr) is not None:
                    notes.append(f"{n}: {label} {new} is the fleet default: pin dropped, {n} follows the fleet again")
    downgrades = [m for m in fleet_moves + moves if compare_versions(m.new, m.old) < 0]
    if downgrades and not allow_downgrade:
        groups: dict[tuple[str, str, str], list[str]] = {}
        for m in downgrades:
            groups.setdefault((_KINDS[m.kind][0], m.old, m.new), []).append(m.cluster or "fleet default")
        what = "; ".join(f"{label} {old} → {new} ({', '.join(w)})" for (label, old, new), w in groups.items())
        raise InputError(f"refusing to downgrade {what}: pass --allow-downgrade to do it")
    if new_fleet != fleet:
        intentcheck.check_fleet(new_fleet)
    plans: list[Plan] = []
    if new_fleet != fleet:
        text = _read(root, it.FLEET_FILE)
        for m in fleet_moves:
            text = set_key(text, (_KINDS[m.kind][2], "version"), m.new, it.FLEET_FILE)
        plans.append(plan(root, {it.FLEET_FILE: text}, []))
        plans.append(generator.plan_fleet(root, new_fleet))
    changed = sorted({m.cluster for m in moves})
    for n in changed:
        cluster = intentcheck.check_cluster(new_intents[n])
        if cluster != intents[n]:
            rel = intentfiles.intent_path(root, n).relative_to(root).as_posix()
            text = _read(root, rel)
            for _, attr, _, key in _KINDS.values():
                if getattr(cluster, attr) != getattr(intents[n], attr):
                    text = set_key(text, (key,), getattr(cluster, attr), rel)
            plans.append(plan(root, {rel: text}, []))
        # a Prefect move sets the server and worker tags on purpose, over what image automation wrote
        moved_prefect = any(m.cluster == n and m.kind == "prefect" for m in moves)
        override = frozenset({images.SERVER_POLICY, images.WORKER_POLICY}) if moved_prefect else frozenset()
        cluster_plan = generator.plan_cluster(root, new_fleet, cluster, override=override)
        plans.append(cluster_plan)
        if override:
            for rel in generator.coowned_paths(n):
                if rel in cluster_plan.write:
                    policies = images.policies(it.resolve(new_fleet, cluster))
                    for key, was, now in coowned.moved_back(
                        cluster_plan.write[rel], cluster_plan.current.get(rel), policies
                    ):
                        notes.append(f"{n}: image automation had moved {key} to {was}; the upgrade sets {now}")
    return FleetOp(plan=generator.merge(plans), summary=_upgrade_summary(fleet_moves, moves), notes=notes)


def _upgrade_summary(fleet_moves: list[_Move], moves: list[_Move]) -> list[str]:
    lines: list[str] = []
    for kind in _KINDS:
        groups: dict[tuple[str, str], list[str]] = {}
        for m in moves:
            if m.kind == kind:
                groups.setdefault((m.old, m.new), []).append(m.cluster)
        fleet_move = next((m for m in fleet_moves if m.kind == kind), None)
        if fleet_move is not None:
            groups.setdefault((fleet_move.old, fleet_move.new), [])
        for (old, new), names in groups.items():
            verb = "Downgrade" if compare_versions(new, old) < 0 else "Upgrade"
            line = f"{verb} {_KINDS[kind][0]} {old} → {new}"
            if names:
                line += f" on {', '.join(sorted(names))}"
            if fleet_move is not None and (old, new) == (fleet_move.old, fleet_move.new):
                line += " (fleet default)" if names else " (fleet default; no cluster follows it)"
            lines.append(line)
    return lines


# ---------------------------------------------------------------- remove-cluster


def plan_remove_cluster(root: Path, name: str) -> FleetOp:
    """Delete the cluster's intent, ``overlays/<name>/`` and ``clusters/<name>/prefect/``; nothing else.

    ``clusters/<name>/flux-system/`` (Flux bootstrap) is never touched. ``notes`` say what Flux then deletes
    on the cluster and what it keeps (namespaces, volumes, server Secrets: protected from pruning). Other
    clusters' intents are copies (``add-cluster --from`` copies, it does not refer), so no other cluster
    depends on this one.
    """
    checks.dns_label(name, "cluster name", max_len=40)
    fleet = generator.require_scaffold(root)
    _known(root, [name])
    rel = intentfiles.intent_path(root, name).relative_to(root).as_posix()
    p = generator.plan_remove(root, name)
    p.current[rel] = _read(root, rel)
    p.delete.append(rel)
    notes: list[str] = []
    try:
        gone = removal(it.resolve(fleet, intentfiles.load_cluster(root, name)))
    except InputError:  # an intent that no longer loads: say it generally
        gone = None
    if gone is not None:
        notes.append(
            f"once this reaches the branch Flux follows, the flux-system Kustomization no longer finds "
            f"clusters/{name}/prefect/ and, with prune: true, deletes on {name}: {'; '.join(gone.deleted)}"
        )
        notes.append(
            f"kept on {name} (prune: disabled, helm.sh/resource-policy: keep): {'; '.join(gone.kept)}; "
            "delete them by hand once backed up"
        )
    else:
        notes.append(
            f"once this reaches the branch Flux follows, Flux prunes the prefect Kustomizations of {name} and what "
            "they applied (HelmReleases uninstalled); namespaces, volumes and server Secrets are kept"
        )
    bootstrap = f"clusters/{name}/flux-system"
    if (root / bootstrap).exists():
        notes.append(f"{bootstrap}/ (Flux bootstrap) is kept")
        notes.append(
            f"to decommission Flux on {name}: after that prune, run 'flux uninstall --context <{name}>', "
            f"then delete {bootstrap}/ from the repository"
        )
    return FleetOp(plan=p, summary=[f"Remove cluster {name}"], notes=notes)


__all__ = ["FleetOp", "compare_versions", "plan_remove_cluster", "plan_upgrade", "set_key", "version_key"]
