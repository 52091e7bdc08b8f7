"""Which Flux sources hold this repository, and where a path inside a source lands in it.

A Flux Kustomization builds ``spec.path`` inside the artifact of its ``sourceRef``. The artifact is
this repository when the source is the cluster's sync source (the ``flux-system`` GitRepository or
OCIRepository of bootstrap or of a FluxInstance, see :mod:`.entries`) or a GitRepository with the
same URL. An ``ExternalArtifact`` made by an ``ArtifactGenerator`` (Flux >= 2.7 source-watcher) whose
sources are this repository is a re-arrangement of it: each ``copy`` operation puts a directory of the
repository (``@alias/dir/**``) under a path of the artifact (``@artifact/dest/``), so a path in the
artifact is mapped back through the longest destination that holds it. The builds then run in the
repository itself, which is what the artifact holds where the copies keep the directories' relative
layout (a kustomization's ``../base`` still reaches the copied base). Any other source (another
repository, a Bucket, a chart) is not built: :meth:`SourceMap.resolve` says why.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .entries import SYNC_NAME, Entry, normal_path
from .fields import mapping_at
from .model import Document

ARTIFACT_GROUP = "source.extensions.fluxcd.io"


def _meta(data: dict[str, Any]) -> dict[str, Any]:
    meta = data.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(data: dict[str, Any]) -> dict[str, Any]:
    spec = data.get("spec")
    return spec if isinstance(spec, dict) else {}


def url_key(url: Any) -> str:
    """A Git URL compared loosely: no scheme, user, port, trailing ``/`` or ``.git`` (ssh and https alike)."""
    text = str(url or "").strip().lower().rstrip("/").removesuffix(".git")
    if "://" in text:
        text = text.split("://", 1)[1]
    elif ":" in text:
        text = text.replace(":", "/", 1)  # scp-like git@host:group/project
    host, _, path = text.partition("/")
    return f"{host.rsplit('@', 1)[-1].split(':')[0]}/{path}"


@dataclass(frozen=True)
class Resolved:
    """Where a Flux Kustomization's path is in this repository (``directory``), or why it is not built."""

    directory: str | None
    why: str = ""  # when directory is None: what the source is ("" — not a source of ours, nothing to say)
    source: tuple[str, str, str] = ("", "", "")  # (kind, namespace, name) of the source


@dataclass
class SourceMap:
    """The repository's sources, from its documents and its entries."""

    urls: set[str] = field(default_factory=set)  # url_key of this repository's URLs
    repo: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, namespace, name) that are this repository
    # (namespace, ExternalArtifact name) → per ArtifactGenerator document that makes it (clusters may each
    # have their own): [(artifact prefix, repository directory)], longest prefix first
    artifacts: dict[tuple[str, str], list[list[tuple[str, str]]]] = field(default_factory=dict)
    others: dict[tuple[str, str, str], str] = field(default_factory=dict)  # other sources → their URL

    @classmethod
    def of(cls, documents: Iterable[Document], entries: Iterable[Entry]) -> SourceMap:
        docs = [d for d in documents if d.is_object]
        out = cls(repo={("GitRepository", SYNC_NAME, SYNC_NAME)})
        for e in entries:
            out.repo.add(e.source)
            if e.url:
                out.urls.add(url_key(e.url))
        for d in docs:
            if d.data.get("kind") in ("GitRepository", "OCIRepository") and _meta(d.data).get("name") == SYNC_NAME:
                url = _spec(d.data).get("url")
                if url:
                    out.urls.add(url_key(url))
        for d in docs:
            kind = str(d.data.get("kind"))
            if kind in ("GitRepository", "OCIRepository", "Bucket") and "toolkit.fluxcd.io" in str(
                d.data.get("apiVersion", "")
            ):
                key = (kind, str(_meta(d.data).get("namespace") or SYNC_NAME), str(_meta(d.data).get("name", "")))
                url = str(_spec(d.data).get("url") or _spec(d.data).get("bucketName") or "")
                if kind == "GitRepository" and url_key(url) in out.urls:
                    out.repo.add(key)
                elif key not in out.repo:
                    out.others[key] = url
        for d in docs:
            if d.data.get("kind") == "ArtifactGenerator" and str(d.data.get("apiVersion", "")).startswith(
                ARTIFACT_GROUP + "/"
            ):
                for ref, mapping in out.generated(d.data).items():
                    out.artifacts.setdefault(ref, []).append(mapping)
        return out

    def generated(self, data: dict[str, Any]) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """The ExternalArtifacts an ArtifactGenerator makes, (namespace, name) → where its paths come from
        in this repository (copies from other sources are left out)."""
        out: dict[tuple[str, str], list[tuple[str, str]]] = {}
        namespace = str(_meta(data).get("namespace") or SYNC_NAME)
        aliases: dict[str, bool] = {}
        for s in _spec(data).get("sources") or []:
            if isinstance(s, dict):
                key = (str(s.get("kind", "")), str(s.get("namespace") or namespace), str(s.get("name", "")))
                aliases[str(s.get("alias", ""))] = key in self.repo
        for a in _spec(data).get("artifacts") or []:
            if not isinstance(a, dict) or not a.get("name"):
                continue
            mapping: list[tuple[str, str]] = []
            for c in a.get("copy") or []:
                pair = _copy(c, aliases) if isinstance(c, dict) else None
                if pair is not None:
                    mapping.append(pair)
            out[(namespace, str(a["name"]))] = sorted(mapping, key=lambda p: -len(p[0]))
        return out

    def directories(self, ks: dict[str, Any], namespace: str) -> list[str] | None:
        """Every directory of this repository ``ks`` may build, whichever ArtifactGenerator makes its
        ExternalArtifact (for the static input map); None when the path is not a plain one."""
        spec = _spec(ks)
        ref = mapping_at(spec, "sourceRef")
        key = (str(ref.get("namespace") or namespace or SYNC_NAME), str(ref.get("name", "")))
        if ref.get("kind") != "ExternalArtifact":
            found = self.resolve(ks, namespace).directory
            return None if found is None else [found]
        out = []
        for mapping in self.artifacts.get(key, []):
            found = self.resolve(ks, namespace, {key: mapping}).directory
            if found is None:
                return None
            out.append(found)
        return out

    def resolve(
        self,
        ks: dict[str, Any],
        namespace: str,
        artifacts: dict[tuple[str, str], list[tuple[str, str]]] | None = None,
    ) -> Resolved:
        """Where the Flux Kustomization ``ks`` (applied in ``namespace``) builds from in this repository
        (``artifacts``: the ExternalArtifacts of the ArtifactGenerators the cluster applies, see
        :meth:`generated`)."""
        spec = _spec(ks)
        ref = mapping_at(spec, "sourceRef")
        source = (
            str(ref.get("kind") or "GitRepository"),
            str(ref.get("namespace") or namespace or SYNC_NAME),
            str(ref.get("name", "")),
        )
        path = normal_path(spec.get("path") or "./")
        if source in self.repo or (source[0] == "GitRepository" and source[1:] == (SYNC_NAME, SYNC_NAME)):
            return Resolved(path, "" if path is not None else "spec.path is not a plain path", source)
        if source[0] == "ExternalArtifact" and artifacts is not None and (source[1], source[2]) in artifacts:
            if path is None:
                return Resolved(None, "spec.path is not a plain path", source)
            for prefix, directory in artifacts[(source[1], source[2])]:
                if prefix == "." or path == prefix or path.startswith(prefix + "/"):
                    rest = path if prefix == "." else path[len(prefix) + 1 :]
                    return Resolved(posixpath.normpath(f"{directory}/{rest}") if rest else directory, "", source)
            return Resolved(None, f"ExternalArtifact {source[1]}/{source[2]} copies nothing to {path}", source)
        if source[0] == "ExternalArtifact":
            return Resolved(
                None, f"no ArtifactGenerator of this cluster makes ExternalArtifact {source[1]}/{source[2]}", source
            )
        if source in self.others:
            url = self.others[source]
            return Resolved(None, f"{source[0]} {source[1]}/{source[2]} ({url}) is not this repository", source)
        return Resolved(None, "", source)


def _copy(c: dict[str, Any], aliases: dict[str, bool]) -> tuple[str, str] | None:
    """(artifact prefix, repository directory) of one copy operation from this repository, or None."""
    src, dst = str(c.get("from", "")), str(c.get("to", ""))
    if not src.startswith("@") or not dst.startswith("@artifact/") or "{" in src + dst:
        return None
    alias, _, pattern = src[1:].partition("/")
    if not aliases.get(alias):
        return None
    contents = pattern.endswith(("/**", "/*")) or pattern in ("**", "*", "")
    base = pattern.rstrip("*").rstrip("/")
    if any(ch in base for ch in "*?["):
        return None  # a glob in the middle: not a directory copy
    directory = normal_path(base or ".")
    dest = normal_path(dst.removeprefix("@artifact/") or ".")
    if directory is None or dest is None:
        return None
    if not contents and dst.endswith("/") and directory != ".":
        dest = posixpath.normpath(f"{dest}/{posixpath.basename(directory)}")  # cp dir dest/: dest/dir
    return dest, directory
