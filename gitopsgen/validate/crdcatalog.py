"""CRD schemas in the CRDs-catalog layout (datreeio/CRDs-catalog, kubeconform's ``-schema-location``):
``<group>/<kind>_<version>.json``, each the JSON schema of one served version (its CRD's openAPIV3Schema,
made strict with ``additionalProperties: false``).

``--crds DIR`` takes such a directory as well as CRD manifests: every schema file becomes a
CustomResourceDefinition of its group with one served version per file. The file name has the kind in
lower case only; its spelling is taken from the kinds the repository uses (``kinds``), else from the
schema's description ("HelmRelease is the Schema for …"), else the lower-case name is used. The
``additionalProperties: false`` the catalog adds is dropped (the schema stage makes every CRD schema strict
itself). Pure apart from reading the files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_FILE = re.compile(r"^(?P<kind>[a-z0-9]+)_(?P<version>v[0-9]+(?:(?:alpha|beta)[0-9]+)?)\.json$")


def _schema_files(directory: Path) -> list[tuple[str, str, str, Path]]:
    """(group, kind in lower case, version, file) for every catalog file below ``directory``."""
    found = []
    for group_dir in sorted(p for p in directory.iterdir() if p.is_dir() and "." in p.name):
        for file in sorted(group_dir.iterdir()):
            m = _FILE.match(file.name)
            if m and file.is_file():
                found.append((group_dir.name, m["kind"], m["version"], file))
    return found


def is_catalog(path: Path) -> bool:
    """Whether ``path`` is a directory in the CRDs-catalog layout (and holds no YAML manifests at its top)."""
    if not path.is_dir() or any(path.glob("*.y*ml")):
        return False
    try:
        return bool(_schema_files(path))
    except OSError:
        return False


def _loose(schema: Any) -> Any:
    """``schema`` without the ``additionalProperties: false`` the catalog adds."""
    if isinstance(schema, dict):
        return {k: _loose(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [_loose(v) for v in schema]
    return schema


def _kind(lower: str, schema: dict[str, Any], known: dict[str, str]) -> str:
    if lower in known:
        return known[lower]
    words = str(schema.get("description", "")).split()
    if words and words[0].lower() == lower:
        return words[0]
    return lower


def _version_order(version: str) -> tuple[int, int, int]:
    """Kubernetes version priority: GA over beta over alpha, then by number (the storage version: highest)."""
    m = re.match(r"v(\d+)(?:(alpha|beta)(\d+))?$", version)
    if not m:
        return (0, 0, 0)
    stage = {"alpha": 0, "beta": 1, None: 2}[m[2]]
    return (stage, int(m[1]), int(m[3] or 0))


def catalog_crds(directory: Path, kinds: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One CustomResourceDefinition per (group, kind) of the catalog ``directory``; ValueError (one line,
    naming the file) when a schema file is not a JSON object."""
    known = {k.lower(): k for k in kinds}
    by_kind: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
    for group, lower, version, file in _schema_files(directory):
        try:
            schema = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{file}: not a JSON schema: {str(exc).splitlines()[0]}") from None
        if not isinstance(schema, dict):
            raise ValueError(f"{file}: not a JSON schema object")
        by_kind.setdefault((group, lower), []).append((version, schema))
    crds = []
    for (group, lower), versions in sorted(by_kind.items()):
        versions.sort(key=lambda v: _version_order(v[0]))
        kind = _kind(lower, versions[-1][1], known)
        plural = lower + ("es" if lower.endswith(("s", "x", "ch", "sh")) else "s")
        crds.append(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{plural}.{group}"},
                "spec": {
                    "group": group,
                    "names": {"kind": kind, "plural": plural},
                    "scope": "Namespaced",
                    "versions": [
                        {
                            "name": version,
                            "served": True,
                            "storage": i == len(versions) - 1,
                            "schema": {"openAPIV3Schema": _loose(schema)},
                        }
                        for i, (version, schema) in enumerate(versions)
                    ],
                },
            }
        )
    return crds
