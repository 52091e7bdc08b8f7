"""Rendered objects made comparable: identity, noise stripped, Secret values masked, canonical YAML.

Pure functions. What counts as noise is what changes on every render or every chart release without
changing what runs: Helm's ``helm.sh/chart`` label, ``checksum/*`` annotations (they follow a
ConfigMap or Secret whose own change is shown anyway), and the origin annotations the validator's
kustomize builds add. Secret values are never shown, wherever a Secret is in the object and whatever
its shape (see :func:`mask`): each is replaced by a mask that only says whether it changed.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import yaml

from ..validate.fields import mapping_at

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
        meta = mapping_at(obj, "metadata")
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
    canonical: dict[str, Any] = _canonical(out, top=True)
    return canonical


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# what a Secret shows in clear: who it is and its type; every other field's values are masked
SECRET_CLEAR = frozenset({"apiVersion", "kind", "metadata", "type", "immutable"})


def is_secret(obj: Any) -> bool:
    """A Secret (``kind: Secret``, whatever its apiVersion: a hostile render may spell it oddly)."""
    return isinstance(obj, dict) and obj.get("kind") == "Secret"


def mask(before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[dict[str, Any] | None, ...]:
    """Both sides of one object with every secret value replaced, wherever it is: ``<masked>``, or
    ``<masked: changed>`` on the new side where the value differs from the old one (or is new).

    Masked by construction, not by shape: every Secret anywhere in the object (a ``List``'s items, any
    nesting), all its fields but identity and type whatever their shape (a ``data`` that is not a
    mapping is one masked value), every ``last-applied-configuration`` annotation (it holds the whole
    object as applied), and the ``data`` of an ExternalSecret's ``spec.target.template``."""
    return _mask(before, None, False), _mask(after, before, True)


def _masked_value(value: Any, old: Any, compare: bool) -> Any:
    """One secret value (any shape) masked; a mapping keeps its keys, each value masked."""
    if isinstance(value, dict):
        olds = old if isinstance(old, dict) else {}
        return {k: _masked_value(v, olds.get(k), compare) for k, v in value.items()}
    return MASKED_CHANGED if compare and old != value else MASKED


def _child(old: Any, key: Any) -> Any:
    if isinstance(old, dict) and isinstance(key, str):
        return old.get(key)
    if isinstance(old, list) and isinstance(key, int) and key < len(old):
        return old[key]
    return None


def _mask(value: Any, old: Any, compare: bool) -> Any:
    """``value`` with its secrets masked (``old``: the same place on the base side; ``compare``: whether
    there is a base side at all, so that new values show as changed)."""
    if isinstance(value, list):
        return [_mask(v, _child(old, i), compare) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    secret = is_secret(value)
    external = value.get("kind") == "ExternalSecret"
    out: dict[str, Any] = {}
    for key, child in value.items():
        before = _child(old, key)
        if secret and key not in SECRET_CLEAR:
            out[key] = _masked_value(child, before, compare)
        elif key == "annotations" and isinstance(child, dict) and LAST_APPLIED in child:
            olds = before if isinstance(before, dict) else {}
            out[key] = {
                k: _masked_value(v, olds.get(k), compare) if k == LAST_APPLIED else _mask(v, olds.get(k), compare)
                for k, v in child.items()
            }
        elif external and key == "spec" and isinstance(child, dict):
            out[key] = _mask_external_spec(child, before, compare)
        else:
            out[key] = _mask(child, before, compare)
    return out


def _mask_external_spec(spec: dict[str, Any], old: Any, compare: bool) -> dict[str, Any]:
    """An ExternalSecret's spec with its target template's ``data`` masked (it may inline secret text)."""
    out: dict[str, Any] = _mask(spec, old, compare)
    target = out.get("target")
    template = target.get("template") if isinstance(target, dict) else None
    if isinstance(template, dict) and "data" in template:
        old_template = _child(_child(old, "target"), "template")
        template["data"] = _masked_value(spec["target"]["template"]["data"], _child(old_template, "data"), compare)
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
