"""Helm rendering for the Helm stage: values against the chart's values.schema.json, then an in-process render.

:func:`render_chart` takes a chart archive (normally from :class:`gitopsgen.validate.charts.ChartFetcher`),
checks it is safe to open, loads it once per process with helm-python-sdk, validates the merged
values against every values.schema.json in the chart (its own and its subcharts', as Helm does),
renders the templates as ``helm template`` / helm-controller would (no cluster: ``lookup`` returns
nothing; a chosen Kubernetes version and extra API versions for ``.Capabilities``) and splits the
output into objects. Nothing is executed: no post-renderers, no hooks (hook objects are returned
like any other object, with their ``helm.sh/hook`` annotation, for the caller to judge).

Owns rules H002 (values-schema-invalid) and H003 (render-failed); the lead emits them from
:class:`ValuesSchemaError` and :class:`RenderError`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import helm_python
import yaml
from helm_python import _native

from .chartarchive import check_archive
from .findings import Rule, Severity

H002 = Rule(
    id="H002",
    name="values-schema-invalid",
    stage="helm",
    severity=Severity.ERROR,
    summary="A HelmRelease's values do not satisfy the chart's values.schema.json.",
    doc=(
        "Helm validates the release values, merged with the chart's defaults, against the chart's "
        "values.schema.json and against each enabled subchart's schema with that subchart's part of the "
        "values, and refuses to install or upgrade when any check fails; helm-controller then reports the "
        "HelmRelease as failed and nothing is applied. Each finding names the values path (dotted, from the "
        "top of the release values) and the constraint that failed, e.g. a string where the chart wants an "
        "integer, a missing required key or a value outside an enum."
    ),
)

H003 = Rule(
    id="H003",
    name="render-failed",
    stage="helm",
    severity=Severity.ERROR,
    summary="A HelmRelease's chart fails to render with its values.",
    doc=(
        "The chart's templates are rendered in-process the way helm-controller renders them (release name, "
        "namespace, install mode, the configured Kubernetes version, no cluster lookups). A template that "
        "calls fail or required, dereferences a missing value, or produces output that is not valid YAML "
        "makes the install fail on the cluster, so it is reported here with Helm's own message, which names "
        "the template and position. A chart that cannot be loaded, or whose kubeVersion does not admit the "
        "configured Kubernetes version, is reported here too."
    ),
)

DEFAULT_KUBE_VERSION = "1.33"


class ValuesSchemaError(Exception):
    """The values break the chart's values.schema.json; ``errors`` has one line per problem, with its path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class RenderError(Exception):
    """The chart could not be loaded or a template failed; one line, Helm's message kept."""


@dataclass(frozen=True)
class Rendered:
    """What a release applies: objects from the templates and, separately, the chart's crds/ objects."""

    objects: list[tuple[str, dict[str, Any]]]  # (template path inside the chart, object), sorted by path
    crds: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (crds/ file, CRD), chart + subcharts


# ---------------------------------------------------------------- loading


_CHECKED: set[tuple[str, int, int]] = set()
_CHECKED_LOCK = threading.Lock()


def load_chart(archive: Path) -> helm_python.Chart:
    """A freshly loaded chart of ``archive``, whose safety is checked once per process per file version.

    The chart is loaded anew for every render: helm-python-sdk 0.2.2 (like Helm's values coalescing)
    mutates a loaded chart's values while rendering, so a chart object shared between renders makes
    one release's values leak into the next (seen: ``postgresql.enabled: false`` of one release broke
    the render of the next). Loading costs about 1 ms. Raises
    :class:`~gitopsgen.validate.charts.ChartError` for an unsafe archive and :class:`RenderError` for
    one Helm cannot load.
    """
    path = Path(archive).resolve()
    try:
        st = path.stat()
    except OSError as exc:
        raise RenderError(f"cannot read chart archive {archive}: {exc.strerror or exc}") from None
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _CHECKED_LOCK:
        if key not in _CHECKED and path.is_file():
            check_archive(path)
        _CHECKED.add(key)
    try:
        return helm_python.Chart.load(path)
    except helm_python.HelmError as exc:
        raise RenderError(f"cannot load chart {path.name}: {_one_line(str(exc))}") from None


# ---------------------------------------------------------------- values schema


_ITEM = re.compile(r"^(\s*)- at '(.*)': (.*)$")
_HEADER = re.compile(r"^([^\s-].*):$")


def _values_path(prefix: str, pointer: str) -> str:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]] if pointer else []
    out = prefix
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "(values)"


def schema_errors(message: str, top_chart: str) -> list[str]:
    """Helm's schema failure message → one line per failed constraint, ``values.path: problem``, sorted.

    Helm prints ``<chart>:`` then ``- at '/json/pointer': problem`` items, indented under a parent that
    merely says ``validation failed``; subchart errors come under the subchart's name (its alias when
    aliased), whose values live under that key of the parent's values.
    """
    items: list[tuple[int, str, str]] = []
    prefix = ""
    for line in message.splitlines():
        if line.startswith("values don't meet the specifications"):
            continue
        m = _ITEM.match(line)
        if m:
            items.append((len(m[1]), _values_path(prefix, m[2]), m[3].strip()))
            continue
        h = _HEADER.match(line)
        if h:
            prefix = "" if h[1] == top_chart else h[1]
        elif line.strip() and items:
            indent, path, text = items[-1]
            items[-1] = (indent, path, f"{text} {line.strip()}")
        elif line.strip():
            items.append((0, prefix or "(values)", line.strip()))
    out: list[str] = []
    for i, (indent, path, text) in enumerate(items):
        has_children = i + 1 < len(items) and items[i + 1][0] > indent
        if has_children and text == "validation failed":
            continue
        line = f"{path}: {text}"
        if line not in out:
            out.append(line)
    return sorted(out) or [_one_line(message)]  # Helm's order varies from run to run


def validate_values(chart: helm_python.Chart, values: dict[str, Any]) -> list[str]:
    """Schema errors of ``values`` (merged with the chart's defaults, as Helm does); empty when valid."""
    try:
        _native.call_status("helm_schema_validate", chart._raw(), _dumps(values))
    except helm_python.HelmValuesError as exc:
        return schema_errors(str(exc), chart.name)
    return []


# ---------------------------------------------------------------- rendering


def _dumps(values: dict[str, Any]) -> str:
    return json.dumps(values, default=str)


def _one_line(message: str) -> str:
    """Helm's message on one line: the noise prefixes dropped, the position and cause kept."""
    text = " ".join(message.split())
    text = re.sub(r"^execution error at \(([^)]*)\): ", r"\1: ", text)
    text = re.sub(r"^template: ", "", text)
    return text


def kube_version_string(version: str) -> str:
    """``1.33`` → ``v1.33.0`` (Helm's ``.Capabilities.KubeVersion`` form)."""
    parts = version.strip().removeprefix("v").split(".")
    while len(parts) < 3:
        parts.append("0")
    return "v" + ".".join(parts)


class _Loader(yaml.SafeLoader):
    """YAML as the API server reads it: unquoted dates stay strings (no datetime objects)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def split_manifests(template: str, text: str) -> list[dict[str, Any]]:
    """The objects of one rendered template (empty documents skipped); RenderError naming the template."""
    try:
        docs = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RenderError(f"YAML parse error on {template}{where}: {_one_line(str(problem))}") from None
    objects: list[dict[str, Any]] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise RenderError(f"{template}: document {index + 1} is a {type(doc).__name__}, not a Kubernetes object")
        objects.append(doc)
    return objects


def render_chart(
    archive: Path,
    values: dict[str, Any],
    release_name: str,
    namespace: str,
    *,
    kube_version: str = DEFAULT_KUBE_VERSION,
    is_install: bool = True,
    api_versions: Sequence[str] = (),
) -> Rendered:
    """Validate ``values`` against the chart's schemas, then render it as release ``release_name`` in
    ``namespace``.

    Raises :class:`ValuesSchemaError` (all schema errors), :class:`RenderError` (load/template/YAML
    failure, one line) or :class:`~gitopsgen.validate.charts.ChartError` (unsafe archive).
    ``api_versions`` adds ``group/version`` (or ``group/version/Kind``) entries to
    ``.Capabilities.APIVersions`` beyond the built-in ones, e.g. the CRDs the cluster will have.
    """
    try:
        helm_python.validate_release_name(release_name)
    except helm_python.HelmError as exc:
        raise RenderError(f"invalid release name {release_name!r}: {_one_line(str(exc))}") from None
    with load_chart(archive) as chart:
        return _render(chart, values, release_name, namespace, kube_version, is_install, api_versions)


def _render(
    chart: helm_python.Chart,
    values: dict[str, Any],
    release_name: str,
    namespace: str,
    kube_version: str,
    is_install: bool,
    api_versions: Sequence[str],
) -> Rendered:
    errors = validate_values(chart, values)
    if errors:
        raise ValuesSchemaError(errors)
    opts: dict[str, Any] = {
        "name": release_name,
        "namespace": namespace,
        "is_install": is_install,
        "is_upgrade": not is_install,
        "kube_version": kube_version_string(kube_version),
    }
    if api_versions:
        opts["api_versions"] = list(api_versions)
    try:
        # Chart.render() does not expose kube_version/api_versions; the C ABI's options do.
        out = _native.call_string("helm_render", chart._raw(), _dumps(values), json.dumps(opts))
    except helm_python.HelmValuesError as exc:
        raise ValuesSchemaError(schema_errors(str(exc), chart.name)) from None
    except helm_python.HelmError as exc:
        raise RenderError(_one_line(str(exc))) from None
    manifests: dict[str, str] = json.loads(out)
    objects: list[tuple[str, dict[str, Any]]] = []
    for template in sorted(manifests):
        name = PurePosixPath(template).name
        if name == "NOTES.txt" or not name.endswith(_MANIFEST_SUFFIXES):
            continue
        objects.extend((template, obj) for obj in split_manifests(template, manifests[template]))
    crds: list[tuple[str, dict[str, Any]]] = []
    for crd in chart.crds:
        crd_file = str(crd.get("filename") or crd.get("name") or "crds")
        crds.extend((crd_file, obj) for obj in split_manifests(crd_file, str(crd.get("data") or "")))
    return Rendered(objects=objects, crds=crds)
