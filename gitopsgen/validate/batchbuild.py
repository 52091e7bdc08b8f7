"""Several Flux Kustomizations built in one kustomize run, where that gives exactly what one run each gives.

Starting a kustomize process costs about 60 ms, a large part of a cold validation. The Flux
Kustomizations that one level of a cluster applies are therefore built together: one throw-away root
whose resources are the per-Kustomization wrappers (:func:`.kustomize.wrapper`, each in its own
directory, with ``buildMetadata: [originAnnotations]`` at the root so every object still says which
file it came from). Each wrapper stamps its objects with :data:`STAMP` (an ``AnnotationsTransformer``
limited to ``metadata.annotations``, so pod templates are untouched); the objects are split back by
it and the stamp removed.

kustomize confines each wrapper's own transformers (namespace, prefix, patches, images, components)
to that wrapper, but a few steps run once for the whole build: name-reference fixing (after renames:
prefixes, suffixes, generator hashes, patches of ``metadata.name``), variable resolution, and the
transformer configurations, CRDs and OpenAPI schema a kustomization declares. So a Kustomization is
built alone (:func:`confined` false) when anything it reaches declares ``vars``, ``configurations``,
``crds``, ``openapi``, plugins (``generators``/``transformers``/``validators``), ``sortOptions`` or
``buildMetadata``; and a batch is thrown away and its members built one by one when its output shows
that a reference could have crossed wrappers (:func:`may_leak`: an object renamed or moved to another
namespace in one wrapper, whose former name appears in an object of another wrapper that could refer
to it), or when the batch fails at all (an ID that two wrappers both produce, a reference kustomize
calls ambiguous, any other error: the one-by-one builds then report it as they always did).
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .kustomize import Built, Transforms, build, run, wrapper
from .model import Document

STAMP = "gitopsgen.io/batch-member"
BATCH_ENV = "GITOPSGEN_KUSTOMIZE_BATCH"  # "0": one kustomize run per Flux Kustomization, as before
MIN_BATCH = 8  # a level is split into one batch per core, but batches smaller than this are not split further
# kustomization fields whose effect is not confined to the kustomization that declares them (or is not
# reasoned about here): a Kustomization reaching one is built on its own
NOT_CONFINED = frozenset(
    {
        "vars",
        "configurations",
        "crds",
        "openapi",
        "generators",
        "transformers",
        "validators",
        "sortOptions",
        "buildMetadata",
        "helmCharts",
        "helmChartInflationGenerator",
        "helmGlobals",
    }
)
_HASH = re.compile(r"-[a-z0-9]{10}$")  # the suffix kustomize's generators add


@dataclass(frozen=True)
class Job:
    """One Flux Kustomization for kustomize: what to build, what the Flux Kustomization adds, and whether
    it may share a run (:func:`confined`)."""

    targets: tuple[Path, ...]
    transforms: Transforms
    confined: bool


def confined(kustomizations: Iterable[Document]) -> bool:
    """Whether none of ``kustomizations`` (every kustomization a build reaches) declares a field whose effect
    reaches beyond it (:data:`NOT_CONFINED`)."""
    return not any(isinstance(d.data, dict) and NOT_CONFINED & set(d.data) for d in kustomizations)


def enabled() -> bool:
    return os.environ.get(BATCH_ENV, "1").strip() != "0"


def build_all(
    root: Path,
    jobs: list[Job],
    command: list[str],
    pool: Executor,
    documents: Callable[[str], list[Document]],
    batch: bool = True,
) -> list[Built]:
    """Every job's build, in order, as :func:`.kustomize.build` would return it; the kustomize runs go to
    ``pool`` (``documents``: a repository file's documents, for :func:`may_leak`; ``batch`` false: one run
    per job)."""
    results: list[Built | None] = [None] * len(jobs)
    together = [i for i, j in enumerate(jobs) if j.confined] if batch else []
    singles = [i for i in range(len(jobs)) if i not in set(together)]
    if len(together) < 2:
        singles, together = sorted(singles + together), []
    batches = [
        (chunk, pool.submit(_batch, root, [jobs[i] for i in chunk], command, documents)) for chunk in _chunks(together)
    ]
    alone: list[tuple[int, Future[Built]]] = [
        (i, pool.submit(build, root, list(jobs[i].targets), jobs[i].transforms, command)) for i in singles
    ]
    for chunk, future in batches:
        built = future.result()
        if built is None:  # not equivalent, or failed: one run each
            alone += [(i, pool.submit(build, root, list(jobs[i].targets), jobs[i].transforms, command)) for i in chunk]
            continue
        for i, b in zip(chunk, built, strict=True):
            results[i] = b
    for i, f in alone:
        results[i] = f.result()
    return [r if r is not None else Built([], "kustomize was not run") for r in results]


def _chunks(indices: list[int]) -> Iterator[list[int]]:
    """``indices`` in one chunk per core, none smaller than :data:`MIN_BATCH` (one chunk when few)."""
    if not indices:
        return
    cores = os.cpu_count() or 2
    size = max(MIN_BATCH, math.ceil(len(indices) / cores))
    for start in range(0, len(indices), size):
        chunk = indices[start : start + size]
        yield chunk


def _batch(
    root: Path, jobs: list[Job], command: list[str], documents: Callable[[str], list[Document]]
) -> list[Built] | None:
    """The jobs built in one kustomize run, split back per job; None when that is not exactly what one run
    each would give (see the module docstring)."""
    if len(jobs) == 1:
        return [build(root, list(jobs[0].targets), jobs[0].transforms, command)]
    with tempfile.TemporaryDirectory(prefix="gitopsgen-kustomize-") as tmp:
        workdir = Path(tmp).resolve()
        members = []
        for n, job in enumerate(jobs):
            member = workdir / f"m{n}"
            member.mkdir()
            k = wrapper(root, member, list(job.targets), job.transforms)
            del k["buildMetadata"]  # the root's applies to everything below it
            k["transformers"] = [_stamp(n)]
            (member / "kustomization.yaml").write_text(yaml.safe_dump(k))
            members.append(member.name)
        top = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": members,
            "buildMetadata": ["originAnnotations", "transformerAnnotations"],  # as each wrapper alone has
        }
        (workdir / "kustomization.yaml").write_text(yaml.safe_dump(top))
        built = run(root, workdir, command)
    if built.error:
        return None
    split: list[list[tuple[dict[str, Any], str]]] = [[] for _ in jobs]
    patched: list[list[frozenset[str]]] = [[] for _ in jobs]  # per object: the kustomizations that patched it
    for i, (obj, origin) in enumerate(built.objects):
        index = _unstamp(obj)
        if index is None or not 0 <= index < len(jobs):
            return None
        split[index].append((obj, origin))
        patched[index].append(built.patched_by[i] if i < len(built.patched_by) else frozenset())
    if may_leak(split, documents):
        return None
    return [Built(objects, patched_by=by) for objects, by in zip(split, patched, strict=True)]


def _stamp(n: int) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "builtin",
            "kind": "AnnotationsTransformer",
            "metadata": {"name": "gitopsgen-batch-member"},
            "annotations": {STAMP: str(n)},
            "fieldSpecs": [{"path": "metadata/annotations", "create": True}],
        }
    )


def _unstamp(obj: dict[str, Any]) -> int | None:
    """Pop the member stamp (and the annotations it leaves empty, as :func:`.kustomize.origin_of` does)."""
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or not isinstance(meta, dict):
        return None
    raw = annotations.pop(STAMP, None)
    if not annotations:
        del meta["annotations"]
    try:
        return int(str(raw))
    except ValueError:
        return None


def _id(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    return str(obj.get("kind", "")), str(meta.get("name", "")), str(meta.get("namespace") or "")


# fields that hold labels or label selectors, never a reference to another object's name (kustomize's
# name references: api/internal/konfig/builtinpluginconsts/namereference.go); of a ``metadata`` only the
# annotations can hold one (an Ingress's auth-secret)
_NOT_REFERENCES = frozenset({"labels", "matchLabels", "matchExpressions", "selector"})


def _strings(value: Any, out: set[str]) -> set[str]:
    """Every string value (not key) in ``value`` that could be a reference to another object's name."""
    if isinstance(value, str):
        out.add(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k == "metadata" and isinstance(v, dict):
                _strings(v.get("annotations"), out)
            elif k not in _NOT_REFERENCES:
                _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)
    return out


def may_leak(split: list[list[tuple[dict[str, Any], str]]], documents: Callable[[str], list[Document]]) -> bool:
    """Whether kustomize's build-wide name-reference fixing could have changed an object of one member because
    of another: some object was renamed or moved (its kind, name and namespace are not those of a document
    of the file it came from), and an object of another member holds one of its possible former names and
    could refer to it (no namespace of its own, the same namespace, or that namespace among its values)."""
    moved: list[tuple[int, set[str], str]] = []
    for n, objects in enumerate(split):
        for obj, origin in objects:
            kind, name, namespace = _id(obj)
            same_kind = [_id(d.data) for d in documents(origin) if d.is_object and d.data.get("kind") == kind]
            if any(s[1] == name and s[2] == namespace for s in same_kind):
                continue
            former = {s[1] for s in same_kind} | {name, _HASH.sub("", name)}
            moved.append((n, former, namespace))
    if not moved:
        return False
    for n, objects in enumerate(split):
        for obj, _ in objects:
            values = _strings(obj, set())
            own = _id(obj)[2]
            for m, former, namespace in moved:
                if m != n and former & values and (not own or not namespace or own == namespace or namespace in values):
                    return True
    return False
