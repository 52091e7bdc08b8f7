"""Regression: Flux repositories written elsewhere (../shared/realworld), validated as a new user would.

No configuration, no network (``offline``, an empty chart cache), Flux's CRDs given as CI gives them.
For each repository: the clusters its entry points define are found, every Flux Kustomization of each
cluster is built and every HelmRelease seen, and the only errors are the true ones its README names
(flux2-multi-tenancy's kyverno OCIRepository is still ``source.toolkit.fluxcd.io/v1beta2``, which
Flux 2.8 removed). Charts that cannot be fetched are one info finding per chart source, never an error.
"""

from __future__ import annotations

import pytest
from conftest import shared

from gitopsgen.validate import engine
from gitopsgen.validate.config import Settings
from gitopsgen.validate.findings import Finding, Severity

pytestmark = pytest.mark.slow

# repository → (clusters, Flux Kustomizations built, HelmReleases seen, the true errors as (rule, file, line))
EXPECTED: dict[str, tuple[list[str], int, int, set[tuple[str, str, int]]]] = {
    # per cluster: flux-system, infra-controllers, infra-configs, apps (the last three from ExternalArtifacts);
    # HelmReleases: cert-manager, envoy-gateway, podinfo
    "flux2-kustomize-helm-example": (["production", "staging"], 8, 6, set()),
    # flux-system, monitoring-controllers, monitoring-configs; kube-prometheus-stack, loki, promtail
    "flux2-monitoring-example": (["test"], 3, 3, set()),
    # flux-system, infra-controllers (kyverno, kyverno-policies…), tenants, dev-team; tenants' repo not built
    "flux2-multi-tenancy": (
        ["production", "staging"],
        12,
        0,
        {("K004", "infrastructure/kyverno/source.yaml", 1)},
    ),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, engine.Result]:
    settings = Settings(
        crds=(shared("flux-crds"),),
        offline=True,
        chart_cache=tmp_path_factory.mktemp("empty-chart-cache"),
        cache=False,
    )
    return {name: engine.validate(shared("realworld", name), settings) for name in EXPECTED}


def errors(findings: list[Finding]) -> set[tuple[str, str, int]]:
    return {(f.rule, f.file, f.line) for f in findings if f.severity == Severity.ERROR}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_cluster_is_found_without_configuration(name: str, results: dict[str, engine.Result]) -> None:
    assert results[name].clusters == EXPECTED[name][0], results[name].entries


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_flux_kustomization_is_built_and_every_helmrelease_seen(
    name: str, results: dict[str, engine.Result]
) -> None:
    stats = results[name].stats
    assert (stats["kustomizations"], stats["helm_releases"]) == EXPECTED[name][1:3], results[name].findings


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_only_the_true_errors(name: str, results: dict[str, engine.Result]) -> None:
    found = results[name].findings
    assert errors(found) == EXPECTED[name][3], [f for f in found if f.severity == Severity.ERROR]


def test_how_each_cluster_was_found_is_said(results: dict[str, engine.Result]) -> None:
    """Their gotk-sync.yaml files are placeholders (bootstrap writes them): the clusters/ directories are used."""
    assert results["flux2-multi-tenancy"].entries == [
        f"cluster {c}: clusters/{c}/ (no flux-system sync file: an implicit flux-system Kustomization)"
        for c in ("production", "staging")
    ]


def test_unfetchable_charts_are_one_info_finding_per_source(results: dict[str, engine.Result]) -> None:
    h006 = [f for f in results["flux2-kustomize-helm-example"].findings if f.rule == "H007"]
    assert all(f.severity == Severity.INFO for f in h006)
    # podinfo's HelmRepository is the same file in both clusters: one finding listing both
    podinfo = [f for f in h006 if f.file == "apps/base/podinfo/repository.yaml"]
    assert len(podinfo) == 1 and podinfo[0].cluster == "production,staging", h006
    assert len(h006) == 3, h006


def test_other_repositories_are_not_built_but_said(results: dict[str, engine.Result]) -> None:
    f005 = [f for f in results["flux2-multi-tenancy"].findings if f.rule == "F005"]
    assert f005 and all(f.severity == Severity.INFO for f in f005)
    assert any("kyverno" in f.message for f in f005), f005


def test_no_directory_is_left_unreached(results: dict[str, engine.Result]) -> None:
    """apps/ and infrastructure/ of the flagship example are reached through the ArtifactGenerator."""
    result = results["flux2-kustomize-helm-example"]
    assert not [f for f in result.findings if f.rule == "F002"], result.findings
    assert result.stats["objects"] > 0
