"""The schema store: one Kubernetes version's built-in kinds plus the CRDs added to it (cache, --crds,
the repository, with the precedence an API server gives), and :meth:`SchemaStore.check`, every issue of
one object.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...atomicfile import atomic_write
from ..fields import mapping_at
from ..resultcache import cache_secret, entry_mac
from .builtin import (
    _api_rank,
    _Builtins,
    _builtins,
    _k8s_history,
    _split_api,
    _version_key,
    kubernetes_versions,
    normalise_kubernetes_version,
)
from .cel import _apply_defaults, _cel_issues, _compile_crd_schema, _CompiledCrd
from .crds import (
    _CACHE_MAC,
    _Crd,
    _crd_documents,
    _parse_crd,
    _read_json_document,
    _signed,
    crd_cache_dir,
    read_yaml_documents,
)
from .messages import _dedupe, _describe, _in_secret_values, _json_type, _one_line, _plain
from .removed import BUILD_INPUT_GROUPS, FLUX_RETIRED, FLUX_SERVED, K8S_OLD_REMOVALS
from .rules import K001, K002, K004, K005, K006, K007, SchemaIssue

# ---------------------------------------------------------------- the store


class SchemaStore:
    """Schemas for one Kubernetes version plus the CRDs added to it; :meth:`check` validates objects."""

    kubernetes_versions = staticmethod(kubernetes_versions)

    def __init__(self, kubernetes_version: str = "1.33") -> None:
        self.kubernetes_version = normalise_kubernetes_version(kubernetes_version)
        self._crds: dict[tuple[str, str], _Crd] = {}
        self._groups: Counter[str] = Counter()
        self._compiled: dict[tuple[str, str, str], _CompiledCrd] = {}

    # -- CRDs

    def _add(self, crd: _Crd) -> bool:
        key = (crd.group, crd.kind)
        old = self._crds.get(key)
        if old is not None and crd.source == "cache" and old.source != "cache":
            return False  # the repository's or --crds' definition wins over the cache
        if old is None:
            self._groups[crd.group] += 1
        self._crds[key] = crd
        for version in list(self._compiled):
            if version[:2] == key:
                del self._compiled[version]
        return True

    def add_crd(self, crd: dict[str, Any], origin: str = "") -> tuple[str, str] | None:
        """Add a CustomResourceDefinition (apiextensions.k8s.io/v1) found in the repository, unless it
        redefines a built-in kind or conflicts with a CRD given with --crds (those win, as on an API
        server): then it is not added and (rule ID, one-line reason) is returned; None when added or
        identical to the given one.

        Raises ValueError (one line, naming ``origin``) when it is not a usable v1 CRD."""
        parsed = _parse_crd(_plain(crd), origin, "repository")
        builtin = self._builtin_kind(parsed.group, parsed.kind)
        if builtin:
            return K006.id, (
                f"CustomResourceDefinition of {parsed.group or 'core'} {parsed.kind} ignored: {builtin}; "
                f"objects of this kind are checked against the Kubernetes {self.kubernetes_version} schema"
            )
        given = self._crds.get((parsed.group, parsed.kind))
        if given is not None and given.source == "explicit":
            if _plain(given.raw.get("spec")) == parsed.raw.get("spec"):
                return None
            return K007.id, _one_line(
                f"CustomResourceDefinition of {parsed.group} {parsed.kind} ignored: it differs from the one "
                f"given with --crds ({given.origin}), which is used"
            )
        self._add(parsed)
        return None

    def _builtin_kind(self, group: str, kind: str) -> str:
        """Why (group, kind) cannot be defined by a CRD ("" when it can): a built-in kind of this
        Kubernetes version, or a group without a dot (the API server refuses such a CRD)."""
        builtins = _builtins(self.kubernetes_version)
        if any(k == kind and _split_api(api)[0] == group for api, k in builtins.index):
            return "a CRD cannot redefine a Kubernetes built-in kind"
        if "." not in group:
            return f"a CRD's group must contain a dot (API group {group or 'core'!r} is built in)"
        return ""

    def add_crds_from(self, path: Path, read: Callable[[Path], list[Any]] | None = None) -> int:
        """Add every CRD of a YAML file, or of every ``*.yaml``/``*.yml`` below a directory (hidden
        directories skipped); other documents are ignored. Returns the number of CRDs added; raises
        ValueError (one line) on a missing path, unreadable or broken YAML, or a broken CRD."""
        path = Path(path)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml")
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            files = [path]
        else:
            raise ValueError(f"{path}: no such file or directory")
        count = 0
        for file in files:
            for doc in (read or read_yaml_documents)(file):
                for crd in _crd_documents(doc):
                    self._add(_parse_crd(_plain(crd), str(file), "explicit"))
                    count += 1
        return count

    def save_to_cache(self, directory: Path | None = None) -> list[Path]:
        """Write each CRD added with :meth:`add_crds_from` to ``directory`` (default :func:`crd_cache_dir`)
        as ``<group>_<plural>.json``: deterministic JSON (fast to read back), atomic replace, unchanged
        files left alone; a ``.yaml`` of the same CRD written by an older gitopsgen is removed."""
        directory = Path(directory) if directory is not None else crd_cache_dir()
        written: list[Path] = []
        for (group, _), crd in sorted(self._crds.items()):
            if crd.source != "explicit":
                continue
            meta = mapping_at(crd.raw, "metadata")
            body = {
                "apiVersion": crd.raw["apiVersion"],
                "kind": crd.raw["kind"],
                "metadata": {"name": meta.get("name", f"{crd.plural}.{group}")},
                "spec": crd.raw["spec"],
            }
            target = directory / f"{group}_{crd.plural}.json"
            secret = cache_secret()
            if secret is not None:  # see add_cache: an unsigned CRD is not used where a secret is set
                body[_CACHE_MAC] = entry_mac(secret, target.name, _plain(body))
            text = json.dumps(_plain(body), sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
            try:
                unchanged = target.read_text(encoding="utf-8") == text
            except (OSError, UnicodeDecodeError):
                unchanged = False
            if not unchanged:
                atomic_write(target, text)
            (directory / f"{group}_{crd.plural}.yaml").unlink(missing_ok=True)
            written.append(target)
        return written

    def add_cache(self, directory: Path | None = None) -> int:
        """Add the CRDs cached in ``directory`` (default :func:`crd_cache_dir`); a CRD already known from the
        repository or --crds wins. Unreadable cache files are skipped. Returns the number added."""
        directory = Path(directory) if directory is not None else crd_cache_dir()
        if not directory.is_dir():
            return 0
        count = 0
        secret = cache_secret()
        for file in [*sorted(directory.glob("*.yaml")), *sorted(directory.glob("*.json"))]:
            try:
                docs = _read_json_document(file) if file.suffix == ".json" else read_yaml_documents(file)
                if secret is not None and not _signed(secret, file.name, docs):
                    continue  # GITOPSGEN_CACHE_SECRET set: written by a pipeline without it, or altered
                for doc in docs:
                    if isinstance(doc, dict):
                        doc.pop(_CACHE_MAC, None)
                crds = [_parse_crd(_plain(c), str(file), "cache") for d in docs for c in _crd_documents(d)]
            except ValueError:
                continue
            count += sum(self._add(crd) for crd in crds)
        return count

    # -- lookups

    def digest(self) -> str:
        """SHA-256 of the Kubernetes version and every CRD's spec this store checks against: what the schema
        stage's findings depend on besides the objects (not where a CRD was read from, which differs from
        one CI runner's checkout to another's)."""
        h = hashlib.sha256(self.kubernetes_version.encode())
        for key, crd in sorted(self._crds.items()):
            h.update(json.dumps([key, crd.raw.get("spec")], sort_keys=True, default=str).encode())
        return h.hexdigest()

    def has_schema(self, api_version: str, kind: str) -> bool:
        group, version = _split_api(api_version)
        crd = self._crds.get((group, kind))
        if crd is not None and version in crd.served:
            return True
        return (api_version, kind) in _builtins(self.kubernetes_version).index

    def _crd_compiled(self, crd: _Crd, version: str) -> _CompiledCrd:
        key = (crd.group, crd.kind, version)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = _compile_crd_schema(crd.served[version])
        return found

    # -- checking

    def check(self, obj: dict[str, Any]) -> list[SchemaIssue]:
        """Every schema issue of one object (K001-K005); never raises."""
        try:
            return self._check(obj)
        except Exception as exc:  # last resort: a broken schema or pathological input must not stop the run
            return [SchemaIssue(K001.id, (), _one_line(f"cannot validate: {type(exc).__name__}: {exc}"))]

    def _check(self, obj: Any) -> list[SchemaIssue]:
        if not isinstance(obj, dict):
            return [SchemaIssue(K001.id, (), f"not a Kubernetes object: got {_json_type(obj)}, not a mapping")]
        issues = []
        for name in ("apiVersion", "kind"):
            value = obj.get(name)
            if name not in obj:
                issues.append(SchemaIssue(K001.id, (), f"missing {name}"))
            elif not isinstance(value, str) or not value.strip():
                issues.append(SchemaIssue(K001.id, (name,), f"{name} must be a non-empty string"))
        if issues:
            return issues
        api_version, kind = obj["apiVersion"], obj["kind"]
        if not re.fullmatch(r"(?:[^/\s]+/)?[^/\s]+", api_version):
            return [SchemaIssue(K001.id, ("apiVersion",), _one_line(f"malformed apiVersion {api_version!r}"))]
        group, version = _split_api(api_version)
        if group in BUILD_INPUT_GROUPS:
            return []  # kustomization.yaml and friends are build inputs, never applied; the build stage checks them
        sops = isinstance(obj.get("sops"), dict)
        data = _plain({k: v for k, v in obj.items() if not (sops and k == "sops")})

        crd = self._crds.get((group, kind))
        if crd is not None and version in crd.served:
            compiled = self._crd_compiled(crd, version)
            found = [
                issue for error in compiled.validator.iter_errors(data) for issue in _describe(K002.id, error, sops)
            ]
            if compiled.cel is not None:
                _cel_issues(compiled.cel, _apply_defaults(compiled.schema, data), (), sops, found)
            return _dedupe(found)

        builtins = _builtins(self.kubernetes_version)
        validator = builtins.validator(api_version, kind)
        if validator is not None:
            hide = kind == "Secret"  # a Secret's values never reach a message, whatever their type
            return _dedupe(
                issue
                for error in validator.iter_errors(data)
                for issue in _describe(K001.id, error, sops, hide and _in_secret_values(error))
            )

        removed = self._removed(api_version, kind, crd)
        if removed:
            return [SchemaIssue(K004.id, ("apiVersion",), removed)]
        return [self._unknown(api_version, kind, builtins)]

    def _removed(self, api_version: str, kind: str, crd: _Crd | None) -> str:
        """Why apiVersion/kind is no longer served, with its replacement; "" when it is not a removal."""
        group, version = _split_api(api_version)
        if crd is not None:
            state = "is served: false" if version in crd.listed else "is not listed"
            best = crd.best_version()
            use = f"use {group}/{best}" if best else "the CRD serves no version"
            return f"{api_version} {kind} is no longer served ({version} {state} in the {kind} CRD); {use}"
        if version in FLUX_RETIRED.get(group, ()) and (group, kind) in FLUX_SERVED:
            use = f"{group}/{FLUX_SERVED[(group, kind)]}"
            return f"{api_version} {kind} was removed from Flux (not served by Flux v2.9); use {use}"
        target = self.kubernetes_version
        old = K8S_OLD_REMOVALS.get((api_version, kind))
        if old is not None:
            release, replacement = old
            use = f"use {replacement}" if "/" not in replacement else f"use {replacement} {kind}"
            return f"{api_version} {kind} was removed in Kubernetes {release}; {use}"
        if not (group == "" or "." not in group or group.endswith(".k8s.io")):
            return ""
        history = [v for v in _k8s_history(api_version, kind) if _version_key(v) < _version_key(target)]
        if not history:
            return ""
        later = [v for v in kubernetes_versions() if _version_key(v) > _version_key(history[-1])]
        release = later[0] if later else target
        candidates = [a for a, k in _builtins(target).index if k == kind and _split_api(a)[0] == group]
        if candidates:
            best = max(candidates, key=lambda a: _api_rank(_split_api(a)[1]))
            return f"{api_version} {kind} was removed in Kubernetes {release}; use {best} {kind}"
        return f"{api_version} {kind} was removed in Kubernetes {release} without a replacement"

    def _unknown(self, api_version: str, kind: str, builtins: _Builtins) -> SchemaIssue:
        group, _ = _split_api(api_version)
        target = self.kubernetes_version
        builtin_group = group in builtins.groups and not any(g == group for g, _ in self._crds)
        if builtin_group or group == "":
            history = _k8s_history(api_version, kind)
            if history:  # only in newer versions
                return SchemaIssue(
                    K001.id,
                    ("apiVersion",),
                    f"{api_version} {kind} is not available in Kubernetes {target} (it is from {history[0]} on)",
                )
            others = sorted(
                (a for a, k in builtins.index if k == kind and _split_api(a)[0] == group),
                key=lambda a: _api_rank(_split_api(a)[1]),
            )
            if others:
                return SchemaIssue(
                    K001.id,
                    ("apiVersion",),
                    f"{api_version} {kind} does not exist in Kubernetes {target}; use {others[-1]}",
                )
            kinds = sorted({k for a, k in builtins.index if a == api_version and not k.endswith("List")})
            close = difflib.get_close_matches(kind, kinds, n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            return SchemaIssue(K001.id, ("kind",), f"{api_version} has no kind {kind} in Kubernetes {target}{hint}")
        kinds = sorted(k for g, k in self._crds if g == group)
        close = difflib.get_close_matches(kind, kinds, n=1, cutoff=0.6)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        return SchemaIssue(
            K005.id,
            ("kind",),
            _one_line(
                f"no schema for {api_version} {kind}{hint}: not a Kubernetes {target} kind and no CRD known; "
                f"supply its CRD with --crds, add it to the repository, or keep it in the CRD cache",
                300,
            ),
        )
