"""The loaded repository indexed for the builders (read-only, shared by all clusters): its documents by file,
kind and name, its clusters (entries) and its sources; and which document an object built from a file is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .batchbuild import enabled as batch_enabled
from .entries import Entry, discover
from .kustomize import Scanner
from .load import Loaded
from .model import Document
from .sourceignore import SourceIgnore
from .sources import SourceMap


class Repository:
    """The loaded repository, indexed for the builders (read-only, shared by all clusters): its documents,
    its clusters (:mod:`.entries`) and its sources (:mod:`.sources`)."""

    def __init__(
        self,
        root: Path,
        loaded: Loaded,
        command: list[str],
        clusters_dir: str = "clusters",
        named: tuple[str, ...] = (),
    ) -> None:
        self.root = root
        self.loaded = loaded
        self.command = command
        self.batch = batch_enabled()  # several Flux Kustomizations per kustomize run (:mod:`.batchbuild`)
        self.by_file: dict[str, list[Document]] = {f: lf.documents for f, lf in loaded.files.items()}
        self.ignore = SourceIgnore.of(root)
        self.scanner = Scanner(root, self.by_file, self.ignore.ignored)
        self.clusters_dir = clusters_dir
        entries, self.bad_entries = discover(root, loaded.documents, clusters_dir, named)
        self.entries: dict[str, Entry] = {e.name: e for e in entries}
        self.sources = SourceMap.of(loaded.documents, entries)
        self.git_urls: set[str] = set(self.sources.urls)
        self.repo_sources: set[tuple[str, str]] = {(ns, n) for k, ns, n in self.sources.repo if k == "GitRepository"}
        self._by_name: dict[tuple[str, str], list[Document]] = {}
        self._file_index: dict[str, _FileIndex] = {}
        self._longest_first: list[str] | None = None
        for d in loaded.documents:
            if d.is_object:
                self._by_name.setdefault((str(d.data["kind"]), _meta(d.data).get("name", "")), []).append(d)

    def cluster_names(self) -> list[str]:
        return sorted(self.entries)

    def documents_of(self, file: str) -> list[Document]:
        return self.by_file.get(file, [])

    def documents_of_kind(self, kind: str) -> list[Document]:
        return [d for (k, _), docs in self._by_name.items() if k == kind for d in docs]

    def documents_named(self, kind: str, name: str) -> list[Document]:
        return self._by_name.get((kind, name), [])

    def files_longest_first(self) -> list[str]:
        """The repository's files, longest path first (sorted once: build errors look them up by name)."""
        if self._longest_first is None:
            self._longest_first = sorted(self.by_file, key=len, reverse=True)
        return self._longest_first

    def _kinds_of(self, file: str) -> _FileIndex:
        """``file``'s object documents by kind and by (kind, name), made once per file: looking every object
        of a large file up in a list of its documents would be quadratic."""
        found = self._file_index.get(file)
        if found is None:
            by_kind: dict[object, list[Document]] = {}
            by_name: dict[tuple[object, object], list[Document]] = {}
            for d in self.by_file.get(file, []):
                if d.is_object:
                    kind = _hashable(d.data.get("kind"))
                    by_kind.setdefault(kind, []).append(d)
                    by_name.setdefault((kind, _hashable(_meta(d.data).get("name"))), []).append(d)
            found = self._file_index[file] = (by_kind, by_name)
        return found

    def match_document(self, file: str, obj: dict[str, Any]) -> Document | None:
        """The document of ``file`` that an object built from it most likely is."""
        by_kind, by_name = self._kinds_of(file)
        kind = _hashable(obj.get("kind"))
        candidates = by_kind.get(kind, [])
        if not candidates:
            return None
        name = str(_meta(obj).get("name", ""))
        exact = by_name.get((kind, name), [])
        if exact:
            ns = _meta(obj).get("namespace")
            return next((d for d in exact if _meta(d.data).get("namespace") == ns), exact[0])
        partial = [d for d in candidates if str(_meta(d.data).get("name", "")) in name]
        if partial:
            return max(partial, key=lambda d: len(str(_meta(d.data).get("name", ""))))
        return candidates[0] if len(candidates) == 1 else None


_FileIndex = tuple[dict[object, list["Document"]], dict[tuple[object, object], list["Document"]]]


def _hashable(value: Any) -> object:
    """``value`` as a dictionary key (a kind or name that is a mapping or list, in a hostile file: its repr)."""
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}
