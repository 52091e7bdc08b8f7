"""Per cluster: every HelmRelease rendered like helm-controller would (stage 5).

The chart comes from the HelmRelease's ``spec.chart.spec.sourceRef`` (a HelmRepository, HTTP or OCI;
or a GitRepository that is this repository, for charts kept in it) or its ``spec.chartRef`` (an
OCIRepository). Values are ``valuesFrom`` (ConfigMaps and Secrets, in order, with ``valuesKey`` and
``targetPath``) merged with ``spec.values`` on top. The release is named like helm-controller names
it and rendered into its target namespace; post-renderers (kustomize patches and images) are applied
with the real kustomize. Rendered objects become Manifests that point at the HelmRelease's line.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..mergemaps import merge_maps
from .build import config_data
from .chartarchive import ChartError
from .charts import H001, ChartFetcher, ChartRequest, ChartUnavailable
from .chartversions import is_exact_version
from .fields import mapping_at
from .findings import Finding, Rule, Severity
from .helmrender import H002, H003, RenderError, ValuesSchemaError
from .helmworker import H006, BoundExceeded, render_bounded
from .kustomize import Transforms, build
from .load import inside, parse_documents
from .model import Cluster, Manifest
from .secrets import by_operator

H004 = Rule(
    "H004",
    "values-from-missing",
    "helm",
    Severity.ERROR,
    "A HelmRelease's valuesFrom ConfigMap, Secret or key is not found.",
    "helm-controller fails a release whose valuesFrom names a ConfigMap or Secret (or a valuesKey in it) that "
    "does not exist, unless the reference is optional: true. The validator looks for the object among what the "
    "cluster's Flux applies; a Secret that is created out of band should be marked optional or provided by an "
    "ExternalSecret or a SOPS-encrypted manifest in the repository. The chart is then rendered without those "
    "values.",
)
H005 = Rule(
    "H005",
    "chart-version-floating",
    "helm",
    Severity.WARNING,
    "A HelmRelease's chart version is a range or missing, not pinned.",
    "With a semver range (or no version, which means the latest) helm-controller upgrades the release whenever "
    "the repository publishes a matching chart, without a commit: what runs is no longer what was reviewed, and "
    "a rollback in git does not roll back. Pin an exact version and let a bot (Renovate, Flux image automation) "
    "propose upgrades as merge requests. The validator renders the highest matching version today.",
)

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "APIService",
    "CSIDriver",
    "RuntimeClass",
    "ClusterSecretStore",
    "ClusterExternalSecret",
    "ClusterIssuer",
    "Node",
}
H007 = Rule(
    "H007",
    "chart-not-fetched",
    "helm",
    Severity.INFO,
    "The charts of a Helm source could not be fetched here (offline, no network, a private registry).",
    "Nothing is known about a chart that could not be downloaded, so the HelmReleases using it are not rendered "
    "and their objects not checked; that is a limit of this run, not a problem of the repository, hence info. "
    "One finding per chart source (HelmRepository or OCIRepository) and cluster, at the source's URL. To render "
    "them, serve the source from a mirror (--helm-mirror URL=MIRROR, a chart repository URL or a directory of "
    "archives; in CI the GITOPSGEN_HELM_MIRROR variable), or run once with network access and keep the chart "
    "cache (--chart-cache DIR). A chart that the source answers is not there (HTTP 404, an unknown tag or "
    "version) is H001.",
)


CRD_KIND = "CustomResourceDefinition"
_PRERELEASE = re.compile(r"\d+(?:\.[\dxX*]+){0,2}-[0-9A-Za-z.-]+")


def prerelease_note(constraint: str) -> str:
    """What to add to H005 when a semver range admits pre-releases: Flux (Masterminds semver) matches a
    pre-release only where a comparator of the range has a pre-release part itself (``>=1.0.0-0``)."""
    if is_exact_version(constraint) or not _PRERELEASE.search(constraint.replace(" - ", " ")):
        return ""
    return " and admits pre-releases (a comparator has a pre-release part): release candidates install too"


@dataclass
class HelmOutcome:
    manifests: list[Manifest] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    releases: int = 0
    unavailable: set[str] = field(default_factory=set)  # chart sources already reported (H007)
    crds: list[dict[str, Any]] = field(default_factory=list)  # the CRDs of the charts' crds/ that are installed
    floating: bool = False  # a chart of a floating version (H005) was fetched and rendered: may change


def release_name(hr: Manifest) -> str:
    """helm-controller v2's release name: spec.releaseName, else [targetNamespace-]name, shortened past 53."""
    spec = hr.data.get("spec") or {}
    if spec.get("releaseName"):
        return str(spec["releaseName"])
    name = f"{spec['targetNamespace']}-{hr.name}" if spec.get("targetNamespace") else hr.name
    if len(name) > 53:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = f"{name[:40]}-{digest}"
    return name


def set_path(values: dict[str, Any], dotted: str, value: Any) -> None:
    """Helm's --set style targetPath: a.b.c (list indexes a[0] are kept as keys, as rarely used)."""
    parts = [p for p in re.split(r"(?<!\\)\.", dotted) if p]
    here = values
    for p in parts[:-1]:
        here = here.setdefault(p.replace("\\.", "."), {})
        if not isinstance(here, dict):
            return
    if parts:
        here[parts[-1].replace("\\.", ".")] = value


class HelmStage:
    def __init__(self, root: Path, fetcher: ChartFetcher, kubernetes_version: str, kustomize: list[str]) -> None:
        self.root = root
        self.fetcher = fetcher
        self.kubernetes_version = kubernetes_version
        self.kustomize = kustomize

    def run(self, cluster: Cluster, repo_sources: set[tuple[str, str]]) -> HelmOutcome:
        out = HelmOutcome()
        for hr in list(cluster.of_kind("HelmRelease", "helm.toolkit.fluxcd.io")):
            out.releases += 1
            self._release(cluster, hr, repo_sources, out)
        return out

    def _finding(self, out: HelmOutcome, rule: Rule, hr: Manifest, message: str, *path: str | int) -> None:
        file, line = hr.where(*path)
        out.findings.append(Finding(file, line, rule.id, message, rule.severity, object=hr.ref, cluster=hr.cluster))

    def _release(self, cluster: Cluster, hr: Manifest, repo_sources: set[tuple[str, str]], out: HelmOutcome) -> None:
        spec = mapping_at(hr.data, "spec")
        archive = self._chart(cluster, hr, spec, repo_sources, out)
        if archive is None:
            return
        values = self._values(cluster, hr, spec, out)
        namespace = str(spec.get("targetNamespace") or hr.namespace or "default")
        name = release_name(hr)
        try:
            rendered = render_bounded(archive, values, name, namespace, kube_version=self.kubernetes_version)
        except BoundExceeded as exc:
            self._finding(out, H006, hr, f"chart not rendered: {exc}", *chart_path(spec))
            return
        except ValuesSchemaError as exc:
            for error in exc.errors:
                self._finding(out, H002, hr, f"values: {error}", *values_path(error))
            return
        except RenderError as exc:
            self._finding(out, H003, hr, f"chart does not render: {exc}", *chart_path(spec))
            return
        except ChartError as exc:
            self._finding(out, H001, hr, str(exc), *chart_path(spec))
            return
        install = mapping_at(spec, "install")
        if install.get("crds", "Create") != "Skip":  # helm-controller creates a chart's crds/ on install
            out.crds += [o for _, o in rendered.crds if isinstance(o, dict) and o.get("kind") == CRD_KIND]
        objects = [obj for _, obj in rendered.objects]
        for obj in objects:
            meta = obj.setdefault("metadata", {})
            if isinstance(meta, dict) and not meta.get("namespace") and obj.get("kind") not in CLUSTER_SCOPED:
                meta["namespace"] = namespace
        objects = self._post_render(hr, spec, objects, out)
        out.manifests += [
            Manifest(obj, hr.cluster, hr.file, hr.line, {}, via=f"HelmRelease {hr.namespace}/{hr.name}")
            for obj in objects
        ]

    def _chart(
        self, cluster: Cluster, hr: Manifest, spec: dict[str, Any], repo_sources: set[tuple[str, str]], out: HelmOutcome
    ) -> Path | None:
        chart_ref = spec.get("chartRef") if isinstance(spec.get("chartRef"), dict) else None
        template = ((spec.get("chart") or {}).get("spec") or {}) if isinstance(spec.get("chart"), dict) else {}
        if chart_ref is not None:
            kind, name = str(chart_ref.get("kind", "")), str(chart_ref.get("name", ""))
            ns = str(chart_ref.get("namespace") or hr.namespace)
            source = cluster.find(kind, ns, name)
            if source is None:
                return None  # F002 reports the dangling reference
            if kind != "OCIRepository":
                self._finding(
                    out, H001, hr, f"chartRef to a {kind} is not rendered by the validator", "spec", "chartRef"
                )
                return None
            oci = mapping_at(source.data, "spec")
            ref = mapping_at(oci, "ref")
            version = str(ref.get("tag") or ref.get("semver") or "")
            floating = not ref.get("digest") and not is_exact_version(version)
            if floating:
                self._finding(
                    out,
                    H005,
                    hr,
                    f"OCIRepository {ns}/{name} follows {version or 'latest'}{prerelease_note(version)}",
                    "spec",
                    "chartRef",
                )
            request = ChartRequest(
                url=str(oci.get("url", "")),
                chart="",
                version=version,
                digest=str(ref.get("digest") or ""),
                insecure=bool(oci.get("insecure")),
            )
        else:
            source_ref = template.get("sourceRef") or {}
            kind, name = str(source_ref.get("kind", "")), str(source_ref.get("name", ""))
            ns = str(source_ref.get("namespace") or hr.namespace)
            chart = str(template.get("chart", ""))
            version = str(template.get("version") or "")
            if kind == "GitRepository" and (ns, name) in repo_sources:
                return self._local_chart(hr, chart, out)
            source = cluster.find(kind, ns, name)
            if source is None:
                return None  # F002
            if kind != "HelmRepository":
                self._finding(out, H001, hr, f"charts from a {kind} are not rendered by the validator", "spec", "chart")
                return None
            floating = not is_exact_version(version)
            if floating:
                self._finding(
                    out,
                    H005,
                    hr,
                    f"chart {chart} version {version or '(latest)'} is not pinned{prerelease_note(version)}",
                    "spec",
                    "chart",
                    "spec",
                    "version" if version else "chart",  # no version: at the chart it leaves floating
                )
            repo_spec = source.data.get("spec") or {}
            url = str(repo_spec.get("url", ""))
            if repo_spec.get("type") == "oci" and not url.startswith("oci://"):
                url = "oci://" + url
            request = ChartRequest(url=url, chart=chart, version=version)
        try:
            archive = self.fetcher.fetch(request)
            out.floating = out.floating or floating
            return archive
        except ChartUnavailable as exc:
            self._unavailable(out, hr, source, request.url, exc)
            return None
        except ChartError as exc:
            self._finding(out, H001, hr, str(exc), *chart_path(spec))
            return None

    def _unavailable(self, out: HelmOutcome, hr: Manifest, source: Manifest, url: str, exc: ChartError) -> None:
        """H007 once per chart source: at its URL, with how to make its charts available."""
        if source.ref in out.unavailable:
            return
        out.unavailable.add(source.ref)
        why = "not in the chart cache (offline)" if self.fetcher.offline else str(exc)
        message = (
            f"charts of {url} cannot be fetched: {why}; the HelmReleases using it are not rendered "
            f"(serve it with --helm-mirror {url}=MIRROR or GITOPSGEN_HELM_MIRROR, or keep a --chart-cache DIR)"
        )
        file, line = source.where("spec", "url")
        out.findings.append(Finding(file, line, H007.id, message, H007.severity, object=source.ref, cluster=hr.cluster))

    def _local_chart(self, hr: Manifest, chart: str, out: HelmOutcome) -> Path | None:
        path = (self.root / chart).resolve()
        try:
            path.relative_to(self.root)
        except ValueError:
            self._finding(out, H001, hr, f"chart path {chart} leaves the repository", "spec", "chart")
            return None
        leaving = next((p for p in sorted(path.rglob("*")) if p.is_symlink() and not inside(self.root, p)), None)
        if leaving is not None:
            where = leaving.relative_to(self.root)
            self._finding(
                out,
                H001,
                hr,
                f"chart {chart} has a symlink leaving the repository: {where}",
                *chart_path(hr.data["spec"]),
            )
            return None
        if not (path / "Chart.yaml").is_file():
            self._finding(out, H001, hr, f"chart path {chart} holds no Chart.yaml", "spec", "chart")
            return None
        return path

    def _values(self, cluster: Cluster, hr: Manifest, spec: dict[str, Any], out: HelmOutcome) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for i, ref in enumerate(spec.get("valuesFrom") or []):
            if not isinstance(ref, dict):
                continue
            kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
            key = str(ref.get("valuesKey") or "values.yaml")
            source = cluster.find(kind, hr.namespace, name)
            text = config_data(source.data, unreadable="").get(key) if source is not None else None
            if (
                text is None
                and kind == "Secret"
                and source is None
                and by_operator(cluster.manifests, hr.namespace, name)
            ):
                continue  # made by a secrets operator: it exists, what it holds is not known here
            if text is None:
                if not ref.get("optional"):
                    what = f"{kind} {hr.namespace}/{name}" + (f" key {key}" if source is not None else "")
                    self._finding(out, H004, hr, f"valuesFrom {what} not found", "spec", "valuesFrom", i)
                continue
            if ref.get("targetPath"):
                set_path(values, str(ref["targetPath"]), text)
                continue
            docs, problems = parse_documents(text, hr.file)  # bounded: no alias bomb reaches the merge
            if problems:
                message = f"valuesFrom {kind} {hr.namespace}/{name} key {key}: {problems[0].message}"
                self._finding(out, H002, hr, message, "spec", "valuesFrom", i)
                continue
            loaded = docs[0].data if docs else None
            if isinstance(loaded, dict):
                values = merge_maps(values, loaded)
        inline = spec.get("values")
        return merge_maps(values, inline) if isinstance(inline, dict) else values

    def _post_render(
        self, hr: Manifest, spec: dict[str, Any], objects: list[dict[str, Any]], out: HelmOutcome
    ) -> list[dict[str, Any]]:
        found = [r.get("kustomize") for r in spec.get("postRenderers") or [] if isinstance(r, dict)]
        renderers: list[dict[str, Any]] = [r for r in found if isinstance(r, dict)]
        if not renderers:
            return objects
        # spec.postRenderStrategy (Flux 2.9): which of the chart's hooks (objects with a helm.sh/hook
        # annotation) the post-renderers see. "combined" (the default, Helm 4's): hooks and templates in one
        # stream; "separate": each in its own run; "nohooks" (Helm 3's): hooks are installed as rendered.
        strategy = spec.get("postRenderStrategy") or "combined"
        if strategy in ("nohooks", "separate"):
            hooks = [o for o in objects if "helm.sh/hook" in ((o.get("metadata") or {}).get("annotations") or {})]
            templates = [o for o in objects if not any(o is h for h in hooks)]
            if strategy == "nohooks":
                return self._run_post_renderers(hr, renderers, templates, out) + hooks
            return self._run_post_renderers(hr, renderers, templates, out) + self._run_post_renderers(
                hr, renderers, hooks, out
            )
        return self._run_post_renderers(hr, renderers, objects, out)

    def _run_post_renderers(
        self, hr: Manifest, renderers: list[dict[str, Any]], objects: list[dict[str, Any]], out: HelmOutcome
    ) -> list[dict[str, Any]]:
        if not objects:
            return objects
        with tempfile.TemporaryDirectory(prefix="gitopsgen-postrender-") as tmp:
            for k in renderers:
                manifest = Path(tmp) / "rendered.yaml"
                manifest.write_text(yaml.safe_dump_all(objects, sort_keys=False))
                built = build(
                    Path(tmp),
                    [manifest],
                    Transforms(patches=tuple(k.get("patches") or []), images=tuple(k.get("images") or [])),
                    self.kustomize,
                )
                if built.error:
                    self._finding(out, H003, hr, f"post-renderer fails: {built.error}", "spec", "postRenderers")
                    return objects
                objects = [obj for obj, _ in built.objects]
        return objects


def chart_path(spec: dict[str, Any]) -> tuple[str, ...]:
    """Where a HelmRelease names its chart: spec.chartRef, or spec.chart.spec."""
    return ("spec", "chartRef") if isinstance(spec.get("chartRef"), dict) else ("spec", "chart")


def values_path(error: str) -> tuple[str, ...]:
    """The HelmRelease path of a values error message that starts with a dotted or slashed values path."""
    head = error.split(":", 1)[0].strip()
    parts = [p for p in re.split(r"[./]", head) if p and " " not in p]
    return ("spec", "values", *parts)
