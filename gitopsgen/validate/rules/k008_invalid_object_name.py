"""K008 invalid-object-name: an object's metadata.name breaks the API server's name rule for its kind."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..findings import Finding, Rule, Severity
from ..model import Context, Manifest
from . import finding_at

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="K008",
    name="invalid-object-name",
    stage="semantics",
    severity=Severity.ERROR,
    summary="An object's name is not one the API server accepts for its kind.",
    doc=(
        "The API server validates every object's metadata.name by kind and rejects the apply (so Flux's "
        "Kustomization or Helm release fails): Services need an RFC 1035 label (lowercase letters, digits "
        "and '-', starting with a letter, at most 63 characters) because the name becomes a DNS name; "
        "Namespaces an RFC 1123 label (the same, may start with a digit); RBAC roles and bindings any path "
        "segment (no '/' or '%', not '.' or '..'); every other kind, custom resources included, an RFC 1123 "
        "subdomain (lowercase letters, digits, '-' and '.', at most 253 characters). Uppercase letters and "
        "underscores are the usual mistake. The finding points at metadata.name, in the file that set it."
    ),
)

_LABEL_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_LABEL_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_PATH_SEGMENT_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
_NOT_OBJECTS = ("kustomize.config.k8s.io", "config.kubernetes.io")


def problem(kind: str, group: str, name: str) -> str:
    """Why ``name`` is not a valid name for ``kind`` (of API ``group``), or ""."""
    if kind in _PATH_SEGMENT_KINDS and group == "rbac.authorization.k8s.io":
        if name in (".", "..") or "/" in name or "%" in name:
            return "may not be '.' or '..' or contain '/' or '%'"
        return ""
    if kind == "Service" and group == "":
        ok, what, limit = _LABEL_1035.fullmatch(name), "an RFC 1035 label", 63
    elif kind == "Namespace" and group == "":
        ok, what, limit = _LABEL_1123.fullmatch(name), "an RFC 1123 label", 63
    else:
        ok, what, limit = _SUBDOMAIN.fullmatch(name), "an RFC 1123 subdomain", 253
    if ok and len(name) <= limit:
        return ""
    rule = {
        "an RFC 1035 label": "lowercase letters, digits and '-', starting with a letter and ending with a letter "
        "or digit",
        "an RFC 1123 label": "lowercase letters, digits and '-', starting and ending with a letter or digit",
        "an RFC 1123 subdomain": "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
    }[what]
    return f"must be {what} ({rule}, at most {limit} characters)"


def _check(m: Manifest) -> Finding | None:
    if m.api_group in _NOT_OBJECTS or not m.name or "$" in m.name:
        return None
    why = problem(m.kind, m.api_group, m.name)
    if not why:
        return None
    return finding_at(RULE, m, f"{m.kind} name {m.name!r} {why}: the API server rejects it", "metadata", "name")


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        for m in cluster.manifests:
            found = _check(m)
            if found is not None:
                yield found
