"""CustomResourceDefinitions as the store keeps them (:class:`_Crd`): parsed from the repository, from
``--crds`` files (plain YAML read with libyaml, :func:`read_yaml_documents`) or from the signed CRD cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...yamlio import SAFE_LOADER
from ..fields import mapping_at
from ..resultcache import cache_root, mac_matches
from .builtin import _api_rank

# ---------------------------------------------------------------- CRDs


@dataclass
class _Crd:
    group: str
    kind: str
    plural: str
    served: dict[str, dict[str, Any] | None]  # served version → openAPIV3Schema (None: no schema given)
    listed: frozenset[str]  # every version the CRD lists, served or not
    storage: str
    origin: str
    source: str  # "explicit" (add_crds_from), "repository" (add_crd), "cache" (add_cache)
    raw: dict[str, Any] = field(repr=False)

    def best_version(self) -> str:
        if self.storage in self.served:
            return self.storage
        return max(self.served, key=_api_rank) if self.served else ""


def _parse_crd(crd: Any, origin: str, source: str) -> _Crd:
    where = f"{origin}: " if origin else ""
    if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"{where}not a CustomResourceDefinition")
    meta = mapping_at(crd, "metadata")
    label = f"{where}CustomResourceDefinition {meta.get('name', '?')}"
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1":
        raise ValueError(
            f"{label}: apiVersion {crd.get('apiVersion')!r} is not supported (use apiextensions.k8s.io/v1)"
        )
    spec = crd.get("spec")
    names = spec.get("names") if isinstance(spec, dict) else None
    versions = spec.get("versions") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("group"), str) or not spec["group"]:
        raise ValueError(f"{label}: missing spec.group")
    if not isinstance(names, dict) or not isinstance(names.get("kind"), str) or not names["kind"]:
        raise ValueError(f"{label}: missing spec.names.kind")
    if not isinstance(versions, list) or not versions:
        raise ValueError(f"{label}: missing spec.versions")
    served: dict[str, dict[str, Any] | None] = {}
    listed: set[str] = set()
    storage = ""
    for v in versions:
        if not isinstance(v, dict) or not isinstance(v.get("name"), str):
            raise ValueError(f"{label}: a spec.versions entry has no name")
        listed.add(v["name"])
        if v.get("storage"):
            storage = v["name"]
        if v.get("served"):
            schema = v.get("schema")
            body = schema.get("openAPIV3Schema") if isinstance(schema, dict) else None
            if body is not None and not isinstance(body, dict):
                raise ValueError(f"{label}: version {v['name']}: openAPIV3Schema is not a mapping")
            served[v["name"]] = body
    given = names.get("plural")
    plural = given if isinstance(given, str) else names["kind"].lower() + "s"
    return _Crd(spec["group"], names["kind"], plural, served, frozenset(listed), storage, origin, source, crd)


def _crd_documents(doc: Any) -> Iterator[Any]:
    """The CRDs in one YAML document: the document itself, or the items of a v1 List."""
    if not isinstance(doc, dict):
        return
    if doc.get("kind") == "CustomResourceDefinition":
        yield doc
    elif doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        yield from (i for i in doc["items"] if isinstance(i, dict) and i.get("kind") == "CustomResourceDefinition")


def _yaml_error(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        return f"line {exc.problem_mark.line + 1}: {exc.problem or exc.context or 'syntax error'}"
    return " ".join(str(exc).split())


def read_yaml_documents(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read: {' '.join(str(exc).split())}") from exc
    try:
        return list(yaml.load_all(text, Loader=SAFE_LOADER))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML: {_yaml_error(exc)}") from exc


def _read_json_document(path: Path) -> list[Any]:
    """A cache file written by :meth:`SchemaStore.save_to_cache`; ValueError when it does not read."""
    try:
        return [json.loads(path.read_bytes())]
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: {exc}") from None


_CACHE_MAC = "gitopsgenCacheMac"  # a cached CRD's HMAC (GITOPSGEN_CACHE_SECRET), beside its fields


def _signed(secret: bytes, name: str, docs: list[Any]) -> bool:
    """Whether a CRD cache file is one document carrying a valid HMAC of its name and content."""
    if len(docs) != 1 or not isinstance(docs[0], dict):
        return False
    body = {k: v for k, v in docs[0].items() if k != _CACHE_MAC}
    return mac_matches(secret, name, body, docs[0].get(_CACHE_MAC))


def crd_cache_dir() -> Path:
    """Where CRDs given with --crds are cached: $GITOPSGEN_CACHE_DIR, $XDG_CACHE_HOME/gitopsgen or
    ~/.cache/gitopsgen, subdirectory ``crds/`` (not created here)."""
    return cache_root() / "crds"
