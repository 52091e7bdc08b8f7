"""S002 image-policy-marker: Flux image-automation setter markers are well-formed and name a real ImagePolicy.

Markers are YAML line comments, so this rule reads the raw texts (``ctx.texts``); the ImagePolicies
and ImageRepositories they lead to are looked up in every cluster's build and in the repository's
own documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..fields import mapping_at
from ..findings import Finding, Rule, Severity
from ..model import Context

SCOPE = "repository"  # see rules/__init__.py
RULE = Rule(
    id="S002",
    name="image-policy-marker",
    stage="semantics",
    severity=Severity.ERROR,
    summary="A Flux image-automation marker is malformed or names a missing ImagePolicy or ImageRepository.",
    doc=(
        "Flux's image-automation-controller rewrites the YAML scalars that carry a setter marker in their line "
        'comment: {"$imagepolicy": "NAMESPACE:NAME"} for a whole image reference, or NAMESPACE:NAME:tag, '
        ':name or :digest for one part of it (the long kyaml form {"$ref": '
        '"#/definitions/io.k8s.cli.setters.NAMESPACE:NAME[:FIELD]"} is read the same way). A marker that is '
        "not valid JSON, lacks the namespace, or has another field is silently ignored by the controller, and "
        "so is one naming an ImagePolicy that does not exist: the image then never updates and nothing "
        "reports it. The rule reads every marker that follows a value on its line (comment-only lines, such "
        "as commented-out fields, are not read) and requires the ImagePolicy NAMESPACE/NAME to exist, in some "
        "cluster's build or in the repository's documents (a document without a namespace matches any), and "
        "its spec.imageRepositoryRef to name an existing ImageRepository (in the policy's namespace unless "
        "the reference gives one)."
    ),
)

_TOKEN = re.compile(r'"\$imagepolicy"|io\.k8s\.cli\.setters\.')
_REF_PREFIX = "#/definitions/io.k8s.cli.setters."
_SETTER = re.compile(
    r"^(?P<ns>[a-z0-9]([-a-z0-9]*[a-z0-9])?):(?P<name>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)(:(?P<field>[^:]*))?$"
)
FIELDS = ("tag", "name", "digest")


@dataclass(frozen=True)
class Marker:
    file: str
    line: int  # 1-based
    column: int  # 1-based, of the '#'
    comment: str  # the comment after its '#'


@dataclass(frozen=True)
class Setter:
    namespace: str
    name: str
    field: str  # "" for the whole image reference


def comment_start(line: str) -> int | None:
    """Index of the '#' that opens the line's comment, outside quoted scalars; None without a comment."""
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if quote == "'" and c == "'":
                if line[i + 1 : i + 2] == "'":
                    i += 1
                else:
                    quote = ""
            elif quote == '"' and c == "\\":
                i += 1
            elif quote == '"' and c == '"':
                quote = ""
        elif c in "'\"" and (i == 0 or line[i - 1] in " \t:[{,-?"):
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
        i += 1
    return None


def markers(file: str, text: str) -> Iterator[Marker]:
    """Setter markers in the line comments of ``text`` that follow a value (comment-only lines are skipped)."""
    for number, line in enumerate(text.splitlines(), 1):
        if not _TOKEN.search(line):
            continue
        start = comment_start(line)
        if start is None or not line[:start].strip():
            continue
        comment = line[start:].lstrip("#")
        if _TOKEN.search(comment):
            yield Marker(file, number, start + 1, comment.strip())


def parse_marker(comment: str) -> Setter | str:
    """The setter a marker comment names, or why the controller would ignore it."""
    try:
        value: Any = json.loads(comment)
    except ValueError:
        return f"marker {comment!r} is not a JSON object, so Flux ignores it"
    if not isinstance(value, dict):
        return f"marker {comment!r} is not a JSON object, so Flux ignores it"
    if "$imagepolicy" in value:
        setter = value["$imagepolicy"]
    elif isinstance(value.get("$ref"), str) and value["$ref"].startswith(_REF_PREFIX):
        setter = value["$ref"][len(_REF_PREFIX) :]
    else:
        return f'marker {comment!r} has no "$imagepolicy" key, so Flux ignores it'
    if not isinstance(setter, str) or not all(isinstance(v, str) for v in value.values()):
        return f"marker {comment!r} must map to strings only, so Flux ignores it"
    match = _SETTER.match(setter)
    if match is None:
        return f"marker names {setter!r}; Flux expects NAMESPACE:NAME or NAMESPACE:NAME:tag|name|digest"
    field = match.group("field")
    if field is not None and field not in FIELDS:
        return f"marker names {setter!r}: field {field!r} is not one of tag, name, digest"
    return Setter(match.group("ns"), match.group("name"), field or "")


@dataclass(frozen=True)
class _Policy:
    namespace: str  # "" when unknown (a document without one): matches any
    name: str
    repository: tuple[str, str] | None  # (namespace or "", name) of spec.imageRepositoryRef


def _objects(ctx: Context) -> Iterator[dict[str, Any]]:
    for m in ctx.manifests():
        yield m.data
    yield from ctx.images
    for d in ctx.documents:
        if d.is_object:
            yield d.data


def _is_image_kind(obj: dict[str, Any], kind: str) -> bool:
    return obj.get("kind") == kind and str(obj.get("apiVersion", "")).startswith("image.toolkit.fluxcd.io/")


def _meta(obj: dict[str, Any]) -> tuple[str, str]:
    meta = mapping_at(obj, "metadata")
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _index(objects: Iterable[dict[str, Any]]) -> tuple[list[_Policy], set[tuple[str, str]]]:
    policies: list[_Policy] = []
    repositories: set[tuple[str, str]] = set()
    for obj in objects:
        if _is_image_kind(obj, "ImageRepository"):
            repositories.add(_meta(obj))
        elif _is_image_kind(obj, "ImagePolicy"):
            ns, name = _meta(obj)
            spec = mapping_at(obj, "spec")
            ref = spec.get("imageRepositoryRef")
            repo = None
            if isinstance(ref, dict) and ref.get("name"):
                repo = (str(ref.get("namespace") or ns), str(ref["name"]))
            policies.append(_Policy(ns, name, repo))
    return policies, repositories


def _same(a: str, b: str) -> bool:
    return not a or not b or a == b


def resolve(setter: Setter, policies: list[_Policy], repositories: set[tuple[str, str]]) -> str | None:
    """Why a well-formed setter does not resolve, or None when it does."""
    found = [p for p in policies if p.name == setter.name and _same(p.namespace, setter.namespace)]
    if not found:
        return (
            f"marker names ImagePolicy {setter.namespace}/{setter.name}, which is in no cluster's build and "
            "nowhere in the repository"
        )
    refs = [p.repository for p in found if p.repository is not None]
    if not refs:
        return None
    for ns, name in refs:
        if any(r_name == name and _same(r_ns, ns or setter.namespace) for r_ns, r_name in repositories):
            return None
    ns, name = refs[0]
    return (
        f"ImagePolicy {setter.namespace}/{setter.name} (named by this marker) refers to ImageRepository "
        f"{ns or setter.namespace}/{name}, which does not exist"
    )


def check(ctx: Context) -> Iterator[Finding]:
    policies, repositories = _index(_objects(ctx))
    # a --changed-since run reports findings of no cluster only for changed files: read only their markers
    files = sorted(ctx.texts) if ctx.changed is None else sorted(set(ctx.texts) & ctx.changed)
    for file in files:
        for marker in markers(file, ctx.texts[file]):
            parsed = parse_marker(marker.comment)
            problem = parsed if isinstance(parsed, str) else resolve(parsed, policies, repositories)
            if problem is None:
                continue
            yield Finding(
                file=marker.file,
                line=marker.line,
                rule=RULE.id,
                message=problem,
                severity=RULE.severity,
                column=marker.column,
            )
