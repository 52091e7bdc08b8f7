"""Parse results kept in the result cache by file content: the loader's (:class:`ParseCache`) and the
plain YAML of ``--crds`` files (:class:`YamlFiles`).

Parsing a repository's YAML with line numbers is most of a warm run's time (every file, every run),
while reading a JSON copy of the result is a tenth of it. :class:`ParseCache` stores, per distinct
file content (SHA-256 of the bytes, with the loader's limits and the tool digest), the documents
(position, first line, data, path→line map) and the findings of that content, without the file's
name: the same content under another path is the same parse. Only results that JSON gives back
exactly are stored (no timestamps, non-string keys or NaN), so a cached parse is the parse.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from .findings import Finding
from .model import Document
from .rawfile import Limits
from .resultcache import ResultCache, digest, tool_digest
from .schemas import read_yaml_documents

KIND = "parse"


class ParseCache:
    def __init__(self, cache: ResultCache, limits: Limits) -> None:
        self.cache = cache
        self.salt = digest(KIND, tool_digest(), repr(limits))

    def _key(self, raw: bytes) -> str:
        return hashlib.sha256(self.salt.encode() + raw).hexdigest()

    def get(self, raw: bytes, rel: str) -> tuple[list[Document], list[Finding]] | None:
        """The parse of ``raw`` as file ``rel``, or None (not cached, or an entry of the wrong shape)."""
        value = self.cache.get(KIND, self._key(raw))
        try:
            docs, findings = value  # type: ignore[misc]
            documents = [_document(rel, *d) for d in docs]
            problems = [replace(Finding.from_json(f), file=rel) for f in findings]
        except (TypeError, ValueError):
            return None
        return documents, problems

    def put(self, raw: bytes, documents: list[Document], findings: list[Finding]) -> None:
        docs = [[d.index, d.line, d.data, [[list(p), at] for p, at in d.lines.items()]] for d in documents]
        problems = [f.to_json() for f in findings]
        value = [docs, problems]
        if _json_exact(value):
            self.cache.put(KIND, self._key(raw), value)


class YamlFiles:
    """The documents of YAML files read with PyYAML alone (``--crds``: megabytes of CRDs on every run)."""

    def __init__(self, cache: ResultCache) -> None:
        self.cache = cache
        self.salt = digest("yaml-documents", tool_digest())

    def documents(self, path: Path) -> list[Any]:
        """The documents of ``path``, parsed once per content (JSON-exact documents only are kept)."""
        try:
            raw = path.read_bytes()
        except OSError:
            return read_yaml_documents(path)  # its error message
        key = hashlib.sha256(self.salt.encode() + raw).hexdigest()
        found = self.cache.get("yaml", key)
        if isinstance(found, list):
            return found
        documents = read_yaml_documents(path)
        if _json_exact(documents):
            self.cache.put("yaml", key, documents)
        return documents


def _json_exact(value: Any) -> bool:
    """Whether JSON gives ``value`` back as it is (no dates, non-string keys, NaN, tuples)."""
    try:
        return bool(json.loads(json.dumps(value)) == value)
    except (TypeError, ValueError, RecursionError):
        return False


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError("not an integer")
    return value


def _document(rel: str, index: Any, line: Any, data: Any, lines: Any) -> Document:
    return Document(rel, _int(index), _int(line), data, {tuple(path): _int(at) for path, at in lines})
