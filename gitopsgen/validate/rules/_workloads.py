"""Walkers over the pod specs of built-in workloads, shared by S003-S006 (a helper module, not a rule).

Owns where each built-in kind keeps its pod template (Pod, PodTemplate, Deployment, StatefulSet,
DaemonSet, ReplicaSet, ReplicationController, Job, CronJob), the containers of a pod spec, the labels
its pods carry and the namespace an object lands in. Every walker tolerates schema-invalid input: a
rule reads whatever shape a repository holds and must not crash on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..model import JsonPath, Manifest

_TEMPLATE_KINDS = {
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ReplicaSet"),
    ("", "ReplicationController"),
    ("batch", "Job"),
}
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _template_path(manifest: Manifest) -> JsonPath | None:
    """Path of the pod template (the object holding ``metadata`` and ``spec``) of a built-in workload."""
    key = (manifest.api_group, manifest.kind)
    if key == ("", "Pod"):
        return ()
    if key == ("", "PodTemplate"):
        return ("template",)
    if key in _TEMPLATE_KINDS:
        return ("spec", "template")
    if key == ("batch", "CronJob"):
        return ("spec", "jobTemplate", "spec", "template")
    return None


def value_at(data: Any, path: JsonPath) -> Any:
    """``data`` followed along ``path`` (map keys and list indexes), or None where a step is missing."""
    for part in path:
        if isinstance(data, Mapping) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and -len(data) <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a list, else an empty one (schema-invalid input must not crash a rule)."""
    return value if isinstance(value, list) else []


def pod_specs(manifest: Manifest) -> Iterator[tuple[dict[str, Any], JsonPath]]:
    """(pod spec, its path in the manifest) of a Pod or of the pod template of a built-in workload."""
    template = _template_path(manifest)
    if template is None:
        return
    path = (*template, "spec")
    spec = value_at(manifest.data, path)
    if isinstance(spec, dict):
        yield spec, path


def pod_template_labels(manifest: Manifest) -> dict[str, str] | None:
    """Labels the pods of a Pod or built-in workload carry; None for other kinds."""
    template = _template_path(manifest)
    if template is None:
        return None
    labels = value_at(manifest.data, (*template, "metadata", "labels"))
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def containers(spec: dict[str, Any], path: JsonPath) -> Iterator[tuple[str, dict[str, Any], JsonPath]]:
    """(list name, container, its path) for every container of a pod spec at ``path``."""
    for list_name in CONTAINER_LISTS:
        items = spec.get(list_name)
        if not isinstance(items, list):
            continue
        for index, container in enumerate(items):
            if isinstance(container, dict):
                yield list_name, container, (*path, list_name, index)


def namespace_of(manifest: Manifest) -> str:
    """The namespace an object lands in; objects without one go to ``default``."""
    return manifest.namespace or "default"
