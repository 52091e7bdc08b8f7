"""Intent files: reading ``gitopsgen.yaml`` and ``intent/clusters/<name>.yaml`` into the intent dataclasses
(camelCase keys, unknown keys refused, checked) and the dicts they are written from."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..yamlio import SAFE_LOADER, no_yaml_aliases
from .intent import (
    FLEET_FILE,
    INTENT_DIR,
    AutomationSettings,
    ChartSettings,
    ClusterIntent,
    DatabaseIntent,
    Fleet,
    GitSettings,
    ImageAutomationIntent,
    IngressIntent,
    NotificationSettings,
    PrefectSettings,
    RedisIntent,
    RegistrySettings,
    ServerIntent,
    WorkPoolIntent,
)
from .intentcheck import check_cluster, check_fleet


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _to_yaml_dict(obj: Any) -> Any:
    """Dataclass → plain dict with camelCase keys, dropping None values."""
    if hasattr(obj, "__dataclass_fields__"):
        out: dict[str, Any] = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            if value is None:
                continue
            out[_camel(f.name)] = _to_yaml_dict(value)
        return out
    if isinstance(obj, list):
        return [_to_yaml_dict(v) for v in obj]
    return obj


def _from_yaml_dict(cls: type, data: Any, where: str) -> Any:
    """Plain dict with camelCase keys → dataclass ``cls``; unknown keys are errors."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a mapping")
    by_key = {_camel(f.name): f for f in fields(cls)}
    unknown = sorted(set(map(str, data)) - set(by_key))
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(by_key))})")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        f = by_key[key]
        nested = NESTED.get((cls.__name__, f.name))
        if nested is not None and value is not None:
            if f.name == "worker_pools":
                if not isinstance(value, list):
                    raise InputError(f"{where}.{key} must be a list")
                value = [_from_yaml_dict(nested, v, f"{where}.{key}[{i}]") for i, v in enumerate(value)]
            else:
                value = _from_yaml_dict(nested, value, f"{where}.{key}")
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required key is missing
        raise InputError(f"{where}: {exc}") from None


# (class name, field name) → the dataclass of that nested field: for reading the files and for the docs
NESTED: dict[tuple[str, str], type] = {
    ("Fleet", "git"): GitSettings,
    ("Fleet", "registry"): RegistrySettings,
    ("Fleet", "prefect"): PrefectSettings,
    ("Fleet", "chart"): ChartSettings,
    ("Fleet", "notifications"): NotificationSettings,
    ("Fleet", "image_automation"): AutomationSettings,
    ("ClusterIntent", "server"): ServerIntent,
    ("ClusterIntent", "worker_pools"): WorkPoolIntent,
    ("ClusterIntent", "registry"): RegistrySettings,
    ("ClusterIntent", "image_automation"): ImageAutomationIntent,
    ("ServerIntent", "database"): DatabaseIntent,
    ("ServerIntent", "redis"): RedisIntent,
    ("ServerIntent", "ingress"): IngressIntent,
}


def _load_yaml(path: Path, root: Path) -> Any:
    rel = path.relative_to(root).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=rel) from None
    no_yaml_aliases(text, rel)
    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"invalid YAML: {problem}", file=rel, line=(mark.line + 1) if mark else None) from None


def load_fleet(root: Path) -> Fleet:
    path = root / FLEET_FILE
    if not path.is_file():
        raise InputError(f"{root} has no {FLEET_FILE}: not a gitopsgen repository (run 'gitopsgen init' first)")
    data = _load_yaml(path, root)
    fleet = _from_yaml_dict(Fleet, data, FLEET_FILE)
    try:
        return check_fleet(fleet)
    except InputError as exc:
        raise InputError(str(exc), file=FLEET_FILE) from None


def intent_path(root: Path, name: str) -> Path:
    return root / INTENT_DIR / f"{name}.yaml"


def load_cluster(root: Path, name: str) -> ClusterIntent:
    path = intent_path(root, name)
    rel = path.relative_to(root).as_posix()
    if not path.is_file():
        raise InputError(f"no cluster named {name!r} ({rel} does not exist)")
    cluster: ClusterIntent = _from_yaml_dict(ClusterIntent, _load_yaml(path, root), rel)
    try:
        check_cluster(cluster)
    except InputError as exc:
        raise InputError(str(exc), file=rel) from None
    if cluster.name != name:
        raise InputError(f"name {cluster.name!r} does not match the file name", file=rel)
    return cluster


def cluster_names(root: Path) -> list[str]:
    directory = root / INTENT_DIR
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.yaml") if p.is_file())


def fleet_to_dict(fleet: Fleet) -> dict[str, Any]:
    data: dict[str, Any] = _to_yaml_dict(fleet)
    return data


def cluster_to_dict(cluster: ClusterIntent) -> dict[str, Any]:
    data: dict[str, Any] = _to_yaml_dict(cluster)
    return data
