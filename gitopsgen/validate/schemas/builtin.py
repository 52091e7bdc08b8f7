"""Kubernetes' built-in kinds: the versions whose strict schemas kubernetes-validate bundles, each
version's ``_definitions.json`` read once and one validator compiled per (version, apiVersion, kind),
and the precedence of API versions (GA > beta > alpha).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from referencing import Registry, Resource

from .rules import STATS

# ---------------------------------------------------------------- Kubernetes versions

_SCHEMA_ROOT = Path(kubernetes_validate.__file__).resolve().parent / "kubernetes-json-schema"
_VERSION_DIR = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-local-strict$")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


@cache
def _version_dirs() -> dict[str, Path]:
    """Version "1.33" → the strict schema directory of that version (the newest patch release if several)."""
    found: list[tuple[tuple[int, int, int], Path]] = []
    if _SCHEMA_ROOT.is_dir():
        for entry in _SCHEMA_ROOT.iterdir():
            m = _VERSION_DIR.match(entry.name)
            if m and (entry / "_definitions.json").is_file():
                found.append(((int(m[1]), int(m[2]), int(m[3])), entry))
    return {f"{v[0]}.{v[1]}": path for v, path in sorted(found)}


def kubernetes_versions() -> list[str]:
    """Kubernetes versions (major.minor) whose schemas kubernetes-validate bundles, oldest first."""
    return list(_version_dirs())


def normalise_kubernetes_version(version: str) -> str:
    """``"v1.33.2"``/``"1.33"`` → ``"1.33"``; ValueError naming the available versions when not bundled."""
    m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?", str(version).strip())
    key = f"{int(m[1])}.{int(m[2])}" if m else str(version)
    if key not in _version_dirs():
        raise ValueError(f"unknown Kubernetes version {version!r}; available: {', '.join(kubernetes_versions())}")
    return key


def _split_api(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


_API_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def _api_rank(version: str) -> tuple[int, int, int]:
    """Kubernetes version priority: GA > beta > alpha, then by number (v2 > v1, v1beta2 > v1beta1)."""
    m = _API_VERSION.match(version)
    if not m:
        return (-1, 0, 0)
    stability = {None: 2, "beta": 1, "alpha": 0}[m[2]]
    return (stability, int(m[1]), int(m[3] or 0))


# ---------------------------------------------------------------- built-in kinds

_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"


def _load_definitions(version: str) -> dict[str, Any]:
    STATS["definitions_loaded"] += 1
    with open(_version_dirs()[version] / "_definitions.json", "rb") as f:
        definitions: dict[str, Any] = json.load(f)
    return definitions


def _gvk_index(definitions: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(apiVersion, kind) → definition name, for every top-level kind of one Kubernetes version."""
    out: dict[tuple[str, str], str] = {}
    for name, schema in definitions.get("$defs", {}).items():
        if not isinstance(schema, dict):
            continue
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            group, version, kind = gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")
            out.setdefault((f"{group}/{version}" if group else version, kind), name)
    return out


class _Builtins:
    """One Kubernetes version's schemas: the definitions (read once), the kind index, compiled validators."""

    def __init__(self, version: str) -> None:
        definitions = _load_definitions(version)
        self.version = version
        self.base = str(definitions.get("$id", _DEFINITIONS_ID))
        self.index = _gvk_index(definitions)
        self.groups = {_split_api(api)[0] for api, _ in self.index}
        self.registry: Registry[Any] = Registry().with_resource(self.base, Resource.from_contents(definitions))
        self.validators: dict[tuple[str, str], Any] = {}

    def validator(self, api_version: str, kind: str) -> Any | None:
        key = (api_version, kind)
        found = self.validators.get(key)
        if found is None:
            name = self.index.get(key)
            if name is None:
                return None
            STATS["builtin_validators"] += 1
            found = jsonschema.Draft202012Validator({"$ref": f"{self.base}#/$defs/{name}"}, registry=self.registry)
            self.validators[key] = found
        return found


_BUILTINS: dict[str, _Builtins] = {}
_KINDS: dict[str, frozenset[tuple[str, str]]] = {}


def _builtins(version: str) -> _Builtins:
    found = _BUILTINS.get(version)
    if found is None:
        found = _BUILTINS[version] = _Builtins(version)
        _KINDS[version] = frozenset(found.index)
    return found


def _kinds(version: str) -> frozenset[tuple[str, str]]:
    """(apiVersion, kind) of every top-level kind of a version, without keeping its definitions around."""
    found = _KINDS.get(version)
    if found is None:
        found = _KINDS[version] = frozenset(_gvk_index(_load_definitions(version)))
    return found


def _k8s_history(api_version: str, kind: str) -> list[str]:
    """The bundled Kubernetes versions that serve apiVersion/kind."""
    return [v for v in kubernetes_versions() if (api_version, kind) in _kinds(v)]
