"""Flux Operator ResourceSets expanded the way the operator builds them, so the objects they make are checked.

A ResourceSet (``fluxcd.controlplane.io/v1``) makes objects from templates (``spec.resources``, each an
object, and ``spec.resourcesTemplate``, a multi-document YAML text, or the same per ``spec.steps``) once per
input set (controlplaneio-fluxcd/flux-operator ``internal/builder/resourceset.go`` and
``internal/inputs``):

- input sets come from ``spec.inputs`` and from the ResourceSetInputProviders named in ``spec.inputsFrom``
  (by name or label selector, same namespace); each set gets a ``provider`` key naming its source. Only a
  provider of type ``Static`` is known offline: its one input set is ``spec.defaultValues`` plus an ``id``
  (the operator hashes the object's UID, which a repository does not have: a stand-in hash of its name is
  used). Input sets are flattened (``inputStrategy: Flatten``, the default) or permuted (``Permute``: every
  combination, each provider's set under its normalized name);
- with no input set at all, each template is built once with an empty ``inputs``;
- a ``resources`` entry is turned into YAML, executed as a template (:mod:`.rstemplate`) and read back, so
  what a value becomes is decided by the YAML it renders to (``<< inputs.replicas >>`` is a number, quote
  it to keep a string); objects annotated ``fluxcd.controlplane.io/reconcile: disabled`` are left out and
  duplicates (group, kind, namespace, name) are kept once.

A ResourceSet is not expanded — one info finding (F009) says why — when an input comes from a provider
that is not Static or is not in the cluster, or a template uses what :mod:`.rstemplate` does not evaluate.
A template the operator would fail on (a missing input key, output that is not objects) is F008. The
objects made point at the template field that wrote them. Pure: no I/O.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from typing import Any

import yaml

from .fields import mapping_at
from .findings import Finding, Rule, Severity
from .load import parse_documents
from .model import JsonPath, Manifest
from .rstemplate import TemplateError, Unsupported, render

GROUP = "fluxcd.controlplane.io"
DISABLED = ("fluxcd.controlplane.io/reconcile", "disabled")
MAX_SETS = 10000  # the operator's bound on permutations

F008 = Rule(
    "F008",
    "resourceset-build-failed",
    "flux",
    Severity.ERROR,
    "A Flux Operator ResourceSet's templates fail to build with its inputs.",
    "The Flux Operator builds a ResourceSet's resources by executing each template (spec.resources, "
    "spec.resourcesTemplate, or those of spec.steps) as a Go text template with << >> delimiters once per "
    "input set, with missingkey=error: a template that names an input the set does not have (<< inputs.x >> "
    "where x is not in spec.inputs or the provider's values), an action that does not parse, or output that "
    "is not Kubernetes objects fails the whole ResourceSet and nothing of it is applied. Static inputs "
    "(spec.inputs, ResourceSetInputProviders of type Static) are expanded by the validator so that the "
    "objects made are checked like any other; the finding points at the template field.",
)
F009 = Rule(
    "F009",
    "resourceset-not-expanded",
    "flux",
    Severity.INFO,
    "A ResourceSet's inputs or templates are not known offline: the objects it makes are not checked.",
    "A ResourceSet whose inputs come from a ResourceSetInputProvider that asks a service (Git branches, pull "
    "requests, OCI tags, an ExternalArtifact) or that the cluster does not have, or whose templates use "
    "constructs the validator does not evaluate (if, range, with, variables, less common functions), is "
    "applied as an object but the objects it would make are not built or checked. This finding says which "
    "and why, once per ResourceSet.",
)


def is_resourceset(m: Manifest) -> bool:
    return m.kind == "ResourceSet" and m.api_group == GROUP


def _spec(data: dict[str, Any]) -> dict[str, Any]:
    spec = data.get("spec")
    return spec if isinstance(spec, dict) else {}


class _Skip(Exception):
    """The ResourceSet is not expanded (F009), with the reason."""


def normalized_key(name: str) -> str:
    """The operator's key for a provider's input sets under the Permute strategy."""
    out = []
    for ch in name.lower():
        if ch.isspace() or (not ch.isalnum() and ch.isprintable() and not ch.isalpha()):
            out.append("_")
        elif "a" <= ch <= "z" or "0" <= ch <= "9":
            out.append(ch)
    return "_".join(w for w in "".join(out).split("_") if w)


def _provider(m: Manifest) -> dict[str, str]:
    return {"apiVersion": str(m.data.get("apiVersion", "")), "kind": m.kind, "name": m.name, "namespace": m.namespace}


def _static_inputs(p: Manifest) -> list[dict[str, Any]]:
    spec = _spec(p.data)
    kind = str(spec.get("type", ""))
    if kind != "Static":
        raise _Skip(f"its inputs come from ResourceSetInputProvider {p.namespace}/{p.name} of type {kind or '?'}")
    defaults = mapping_at(spec, "defaultValues")
    stand_in = str(zlib.adler32(f"{p.namespace}/{p.name}".encode()))
    return [{**defaults, "id": stand_in}]


def _matches(selector: Any, labels: dict[str, Any]) -> bool:
    if not isinstance(selector, dict):
        return False
    if selector.get("matchExpressions"):
        raise _Skip("an inputsFrom selector uses matchExpressions")
    wanted = selector.get("matchLabels") or {}
    return isinstance(wanted, dict) and all(str(labels.get(k)) == str(v) for k, v in wanted.items())


def input_sets(rs: Manifest, manifests: Iterable[Manifest]) -> list[dict[str, Any]]:
    """The combined input sets of ``rs`` (``manifests``: the cluster's objects, for its providers)."""
    spec = _spec(rs.data)
    own = [dict(i) for i in spec.get("inputs") or [] if isinstance(i, dict)]
    providers: list[tuple[Manifest, list[dict[str, Any]]]] = []
    candidates = [
        m
        for m in manifests
        if m.kind == "ResourceSetInputProvider" and m.api_group == GROUP and m.namespace == rs.namespace
    ]
    for ref in spec.get("inputsFrom") or []:
        if not isinstance(ref, dict):
            continue
        if ref.get("name"):
            found = [m for m in candidates if m.name == str(ref["name"])]
            if not found:
                raise _Skip(f"ResourceSetInputProvider {rs.namespace}/{ref['name']} is not applied by this cluster")
        else:
            found = [m for m in candidates if _matches(ref.get("selector"), m.meta.get("labels") or {})]
        for m in found:
            if all(m is not p for p, _ in providers):
                providers.append((m, _static_inputs(m)))
    providers.sort(key=lambda pm: (str(pm[0].data.get("apiVersion")), pm[0].kind, pm[0].namespace, pm[0].name))
    groups: list[tuple[str, list[dict[str, Any]]]] = [(rs.name, [{**i, "provider": _provider(rs)} for i in own])]
    groups += [(p.name, [{**i, "provider": _provider(p)} for i in sets]) for p, sets in providers]
    strategy = mapping_at(spec, "inputStrategy")
    if str(strategy.get("name") or "Flatten") == "Flatten":
        return [i for _, sets in groups for i in sets]
    keep_empty = bool(strategy.get("includeEmptyProviders"))
    combined: list[dict[str, Any]] = [{}]
    used = False
    for name, sets in groups:
        if not sets and not keep_empty:
            continue
        used = True
        key = normalized_key(name)
        combined = [{**c, key: s} for c in combined for s in sets]
        if len(combined) > MAX_SETS:
            raise TemplateError(f"more than {MAX_SETS} input permutations")
    return combined if used else []


def _disabled(obj: dict[str, Any]) -> bool:
    meta = mapping_at(obj, "metadata")
    notes = mapping_at(meta, "annotations")
    return str(notes.get(DISABLED[0], "")).lower() == DISABLED[1]


def _key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = mapping_at(obj, "metadata")
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return group, str(obj.get("kind", "")), str(meta.get("namespace", "") or ""), str(meta.get("name", ""))


def _read(text: str, where: str) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise TemplateError(f"{where} does not render to YAML: {str(exc).splitlines()[0]}") from None
    for d in docs:
        if not isinstance(d, dict) or not d.get("apiVersion") or not d.get("kind"):
            raise TemplateError(f"{where} renders a document that is not a Kubernetes object")
    return docs


class _Made:
    """The objects of one template list, deduplicated, with where each was written."""

    def __init__(self) -> None:
        self.objects: list[tuple[dict[str, Any], JsonPath, dict[JsonPath, int] | None]] = []
        self.keys: set[tuple[str, str, str, str]] = set()

    def add(self, obj: dict[str, Any], at: JsonPath, lines: dict[JsonPath, int] | None, dedup: bool = True) -> None:
        if _disabled(obj):
            return
        key = _key(obj)
        if dedup and key in self.keys:
            return
        self.keys.add(key)
        self.objects.append((obj, at, lines))


def _build(holder: dict[str, Any], at: JsonPath, sets: list[dict[str, Any]], made: _Made, base_line: int) -> None:
    """The objects of one resources/resourcesTemplate holder (the spec or a step) into ``made``; a
    :class:`~.rstemplate.TemplateError` carries the ``path`` of the template that failed."""
    for i, tmpl in enumerate(holder.get("resources") or []):
        text = yaml.safe_dump(json.loads(json.dumps(tmpl)), default_flow_style=False, sort_keys=True, width=1 << 30)
        try:
            for inputs in sets or [{}]:
                for obj in _read(render(text, inputs), f"resources[{i}]"):
                    made.add(obj, (*at, "resources", i), None, dedup=bool(sets))
        except TemplateError as exc:
            exc.path = (*at, "resources", i)  # type: ignore[attr-defined]
            raise
    template = holder.get("resourcesTemplate")
    if isinstance(template, str) and template.strip():
        try:
            for inputs in sets or [{}]:
                text = render(template, inputs)
                _read(text, "resourcesTemplate")
                docs, problems = parse_documents(text, "resourcesTemplate")
                if problems:
                    raise TemplateError(f"resourcesTemplate does not render to YAML: {problems[0].message}")
                for d in docs:
                    if isinstance(d.data, dict):
                        lines = {p: base_line + n for p, n in d.lines.items()}
                        made.add(d.data, (*at, "resourcesTemplate"), lines | {(): base_line + d.line})
        except TemplateError as exc:
            exc.path = (*at, "resourcesTemplate")  # type: ignore[attr-defined]
            raise


def expand(rs: Manifest, manifests: Iterable[Manifest]) -> tuple[list[Manifest], list[Finding]]:
    """The objects ``rs`` makes in its cluster (``manifests``: what the cluster applies so far), and the
    finding when it cannot be expanded (F009) or fails as the operator would fail it (F008)."""
    if _disabled(rs.data):
        return [], []
    spec = _spec(rs.data)
    via = f"ResourceSet {rs.namespace}/{rs.name}"

    def finding(rule: Rule, message: str, *path: str | int) -> Finding:
        return Finding(*rs.where(*path), rule.id, message, rule.severity, object=rs.ref, cluster=rs.cluster)

    holders: list[tuple[dict[str, Any], JsonPath]] = [(spec, ("spec",))]
    steps = spec.get("steps")
    if isinstance(steps, list) and steps:
        holders = [(s, ("spec", "steps", i)) for i, s in enumerate(steps) if isinstance(s, dict)]
    try:
        sets = input_sets(rs, manifests)
    except _Skip as why:
        return [], [finding(F009, f"not expanded: {why}", "spec", "inputsFrom")]
    except TemplateError as exc:
        return [], [finding(F008, str(exc), "spec", "inputStrategy")]
    out: list[Manifest] = []
    step_of: dict[tuple[str, str, str, str], str] = {}
    for holder, at in holders:
        made = _Made()
        try:
            _build(holder, at, sets, made, rs.line_of(*at, "resourcesTemplate"))
        except Unsupported as what:
            return [], [finding(F009, f"not expanded: its templates use {what}, not evaluated here", *at)]
        except TemplateError as exc:
            return [], [finding(F008, f"template fails: {exc}", *getattr(exc, "path", at))]
        step = str(holder.get("name", "")) if len(at) > 1 else ""
        for obj, path, lines in made.objects:
            key = _key(obj)
            if step and step_of.setdefault(key, step) != step:
                message = f"{key[1]} {key[2]}/{key[3]} of step {step!r} is already made by step {step_of[key]!r}"
                return [], [finding(F008, f"template fails: {message}", *at)]
            if lines is None:  # a spec.resources entry: its fields' lines, where the template wrote them
                prefix = len(path)
                lines = {p[prefix:]: n for p, n in rs.lines.items() if p[:prefix] == path}
                line = rs.line_of(*path)
            else:
                line = lines.get((), rs.line_of(*path))
            out.append(Manifest(obj, rs.cluster, rs.file, line, lines, via=via))
    return out, []
