"""The schema stage: each object checked against its schema once per distinct content.

Within a run, identical objects (the same Role in every cluster) are checked once. Across runs, the
results are kept in the result cache as one map per schema set (:meth:`~.schemas.SchemaStore.digest`
and the tool digest): object digest → issues. It is read the first time an object is not known in
this run, and written back, merged with what is on disk by then, when the run added results — so
parallel jobs sharing a cache lose at most each other's newest entries, never correctness. A map that
grows past ``MAX_ENTRIES`` starts again empty.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .entries import operator_accepts
from .findings import Finding
from .model import Manifest
from .resultcache import ResultCache, digest, tool_digest
from .schemas import SchemaIssue, SchemaStore

KIND = "schema"
MAX_ENTRIES = 200_000
NOT_OBJECTS = {"kustomize.config.k8s.io", "config.kubernetes.io"}  # build inputs, not cluster objects


class SchemaChecks:
    def __init__(self, store: SchemaStore, cache: ResultCache | None = None, schemas: str = "") -> None:
        self.store = store
        self.cache = cache if cache is not None and cache.enabled else None
        self.key = digest(KIND, tool_digest(), schemas or store.digest()) if self.cache else ""
        self.seen: dict[str, list[SchemaIssue]] = {}
        self.known: dict[str, Any] | None = None  # the cached map, once read
        self.added: dict[str, Any] = {}

    def _cached(self, key: str) -> list[SchemaIssue] | None:
        if self.cache is None:
            return None
        if self.known is None:
            found = self.cache.get(KIND, self.key)
            self.known = found if isinstance(found, dict) else {}
        value = self.known.get(key)
        if not isinstance(value, list):
            return None
        issues = []
        for item in value:
            if not (isinstance(item, list) and len(item) == 3 and isinstance(item[1], list)):
                return None
            rule, path, message = item
            if not (isinstance(rule, str) and isinstance(message, str) and all(type(p) in (str, int) for p in path)):
                return None
            issues.append(SchemaIssue(rule, tuple(path), message))
        return issues

    def issues(self, data: dict[str, Any]) -> list[SchemaIssue]:
        """The schema issues of one object (from this run, the cache, or the store)."""
        text = json.dumps(data, sort_keys=True, default=str)
        found = self.seen.get(text)
        if found is not None:
            return found
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        found = self._cached(key)
        if found is None:
            found = self.store.check(data)
            if self.cache is not None:
                self.added[key] = [[i.rule, list(i.path), i.message] for i in found]
        self.seen[text] = found
        return found

    def check(self, manifests: list[Manifest], operator: bool = False) -> tuple[int, list[Finding]]:
        """(objects checked, findings) of ``manifests``; build inputs (kustomize's own kinds) are not objects.
        ``operator``: the Flux Operator installs this cluster's Flux, whose CRD patches make more kinds valid."""
        checked = 0
        out: list[Finding] = []
        for m in manifests:
            if m.api_group in NOT_OBJECTS:
                continue
            checked += 1
            for issue in self.issues(m.data):
                if operator and operator_accepts(m.data, issue.rule, issue.path):
                    continue
                file, line = m.where(*issue.path)
                out.append(Finding(file, line, issue.rule, issue.message, object=m.ref, cluster=m.cluster))
        return checked, out

    def save(self) -> None:
        """Write the results this run added (merged with the map on disk now)."""
        if self.cache is None or not self.added:
            return
        current = self.cache.get(KIND, self.key)
        merged = current if isinstance(current, dict) and len(current) < MAX_ENTRIES else {}
        merged.update(self.added)
        self.cache.put(KIND, self.key, merged)
        self.added = {}
