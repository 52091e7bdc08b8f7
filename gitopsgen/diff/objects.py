"""Rendered objects made comparable: identity, noise stripped, Secret values masked, canonical YAML.

Pure functions. What counts as noise is what changes on every render or every chart release without
changing what runs: Helm's ``helm.sh/chart`` label, ``checksum/*`` annotations (they follow a
ConfigMap or Secret whose own change is shown anyway), and the origin annotations the validator's
kustomize builds add. Secret ``data``/``stringData`` values are never shown: each is replaced by a
mask that only says whether it changed.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import yaml

NOISE_LABELS = frozenset({"helm.sh/chart"})
NOISE_ANNOTATIONS = frozenset({"config.k8s.io/id"})
NOISE_ANNOTATION_PREFIXES = (
    "checksum/",
    "config.kubernetes.io/",
    "internal.config.kubernetes.io/",
    "kustomize.config.k8s.io/",
)
MASKED = "<masked>"
MASKED_CHANGED = "<masked: changed>"
TOP_ORDER = ("apiVersion", "kind", "metadata")
SECRET_FIELDS = ("data", "stringData")


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Who an object is in a cluster: API group, kind, namespace, name (the apiVersion's version may change)."""

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjectKey:
        api = str(obj.get("apiVersion", ""))
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        return cls(
            api.rpartition("/")[0] if "/" in api else "",
            str(obj.get("kind", "")),
            str(meta.get("namespace") or ""),
            str(meta.get("name", "")),
        )

    @property
    def title(self) -> str:
        """``Deployment prefect/prefect-server`` (the API group is in ``path``, the diff's header)."""
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def path(self, cluster: str) -> str:
        """A file-like name for unified-diff headers: ``cluster-1/apps/Deployment/prefect/prefect-server``."""
        return "/".join(p for p in (cluster, self.group or "core", self.kind, self.namespace or "_", self.name))


def _strip_metadata(meta: dict[str, Any]) -> None:
    labels = meta.get("labels")
    if isinstance(labels, dict):
        for key in [k for k in labels if k in NOISE_LABELS]:
            del labels[key]
        if not labels:
            del meta["labels"]
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for key in [k for k in annotations if k in NOISE_ANNOTATIONS or str(k).startswith(NOISE_ANNOTATION_PREFIXES)]:
            del annotations[key]
        if not annotations:
            del meta["annotations"]


def _strip(value: Any) -> None:
    """Remove noise from every ``metadata`` (the object's, pod templates', job templates')."""
    if isinstance(value, dict):
        for key, child in list(value.items()):
            if key == "metadata" and isinstance(child, dict):
                _strip_metadata(child)
                if not child:  # a pod template's metadata that held only noise
                    del value[key]
                    continue
            _strip(child)
    elif isinstance(value, list):
        for child in value:
            _strip(child)


def _json_lines(value: str) -> str:
    """A JSON object or array held in a string (a base job template, a dockerconfigjson), one key per line."""
    text = value.strip()
    if len(text) < 2 or text[0] not in "{[" or text[-1] not in "}]":
        return value
    try:
        parsed = json.loads(text)
    except ValueError:
        return value
    return json.dumps(parsed, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _canonical(value: Any, top: bool = False) -> Any:
    """Keys sorted (apiVersion, kind, metadata first at the top), so that key order never shows as a change;
    JSON documents inside strings laid out one key per line, so that a change in one shows as that line."""
    if isinstance(value, str):
        return _json_lines(value)
    if isinstance(value, dict):
        keys = sorted(value, key=str)
        if top:
            keys = [k for k in TOP_ORDER if k in value] + [k for k in keys if k not in TOP_ORDER]
        return {k: _canonical(value[k]) for k in keys}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def normalize(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without noise, in canonical key order (Secret values still in clear: see ``mask``)."""
    out = copy.deepcopy(obj)
    _strip(out)
    return _canonical(out, top=True)


def is_secret(obj: dict[str, Any] | None) -> bool:
    return isinstance(obj, dict) and obj.get("kind") == "Secret" and str(obj.get("apiVersion")) == "v1"


def mask(before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[dict[str, Any] | None, ...]:
    """Both sides of one object with Secret values replaced: ``<masked>``, or ``<masked: changed>`` on the
    new side where the value differs from the old one (or is new)."""
    if not is_secret(before) and not is_secret(after):
        return before, after
    old_values = {f: dict(before.get(f) or {}) for f in SECRET_FIELDS} if is_secret(before) else {}
    masked_before = _masked(before, None) if is_secret(before) else before
    masked_after = _masked(after, old_values) if is_secret(after) else after
    return masked_before, masked_after


def _masked(obj: dict[str, Any] | None, old: dict[str, dict[str, Any]] | None) -> dict[str, Any] | None:
    assert obj is not None
    out = dict(obj)
    for f in SECRET_FIELDS:
        values = obj.get(f)
        if not isinstance(values, dict):
            continue
        masked: dict[str, str] = {}
        for key, value in values.items():
            changed = old is not None and (key not in old.get(f, {}) or old[f][key] != value)
            masked[key] = MASKED_CHANGED if changed else MASKED
        out[f] = masked
    return out


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(obj: dict[str, Any] | None) -> str:
    """Canonical, line-oriented YAML (multi-line strings as blocks, so a JSON or script change diffs by line)."""
    if obj is None:
        return ""
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)
