"""Building several Flux Kustomizations in one kustomize run gives exactly what one run each gives.

Equivalence, both ways with the real kustomize: every validator fixture, every ``../shared/realworld``
repository and a generated fleet are rendered one run per Flux Kustomization and batched, and every
object (cluster, file, line, content, line map, patch overrides, how it was applied) and every finding
of a whole validation must be the same. Then the cases where a batch would not be equivalent: a
generated (hash-suffixed) ConfigMap in one Kustomization whose original name another Kustomization's
Deployment uses, an object ID two Kustomizations both produce, and ``vars`` (resolved build-wide).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED, shared

from gitopsgen.validate import engine, kustomize
from gitopsgen.validate.batchbuild import BATCH_ENV, Job, build_all, confined
from gitopsgen.validate.config import Settings
from gitopsgen.validate.kustomize import Transforms, build, kustomize_command
from gitopsgen.validate.load import parse_documents

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures"
CHART_URL = "https://prefecthq.github.io/prefect-helm"
REALWORLD = (
    sorted(p.name for p in (SHARED / "realworld").iterdir() if p.is_dir()) if (SHARED / "realworld").is_dir() else []
)


def fixture_repos() -> list[str]:
    return [f"{r.name}/{case}" for r in sorted(FIXTURES.iterdir()) if r.is_dir() for case in ("pass", "fail")]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        crds=(shared("flux-crds"), shared("external-secrets-crds")),
        helm_mirrors=((CHART_URL, str(shared("helm-repo"))),),
        chart_cache=tmp_path_factory.mktemp("charts"),
        ignore=("expect.yaml",),
        cache=False,
    )


def rendered(root: Path, settings: Settings, batch: bool) -> tuple[list[Any], int]:
    """Every object of every cluster as the builds leave it, and the kustomize processes started."""
    ws = engine.Workspace.open(root, settings)
    ws.repo.batch = batch
    before = kustomize.RUNS.value
    out = []
    for r in ws.render(ws.repo.cluster_names()):
        c = r.build.cluster
        out.append((c.name, sorted(json.dumps(f.to_json()) for f in r.findings)))
        for m in c.manifests:
            lines = sorted((repr(k), v) for k, v in m.lines.items())
            overrides = sorted((repr(k), v) for k, v in m.overrides.items())
            out.append((m.file, m.line, m.via, json.dumps(m.data, sort_keys=True, default=str), lines, overrides))
    return out, kustomize.RUNS.value - before


def both_ways(root: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Assert the two ways agree on ``root``; the kustomize processes of (one run each, batched)."""
    alone, runs_alone = rendered(root, settings, batch=False)
    batched, runs_batched = rendered(root, settings, batch=True)
    assert batched == alone
    monkeypatch.setenv(BATCH_ENV, "0")
    findings_alone = [f.to_json() for f in engine.validate(root, settings).findings]
    monkeypatch.setenv(BATCH_ENV, "1")
    assert [f.to_json() for f in engine.validate(root, settings).findings] == findings_alone
    return runs_alone, runs_batched


@pytest.mark.parametrize("case", fixture_repos())
def test_every_fixture_builds_the_same_both_ways(case: str, settings: Settings, monkeypatch) -> None:
    both_ways(FIXTURES / case, settings, monkeypatch)


@pytest.mark.parametrize("name", REALWORLD)
def test_every_realworld_repository_builds_the_same_both_ways(name: str, tmp_path: Path, monkeypatch) -> None:
    offline = Settings(crds=(shared("flux-crds"),), offline=True, chart_cache=tmp_path, cache=False)
    both_ways(shared("realworld", name), offline, monkeypatch)


def test_a_fleet_builds_the_same_both_ways_with_fewer_processes(built_fleet: Path, settings: Settings, monkeypatch):
    runs_alone, runs_batched = both_ways(built_fleet, settings, monkeypatch)
    assert runs_batched < runs_alone, (runs_alone, runs_batched)


# ---------------------------------------------------------------- where a batch is not equivalent


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, envFrom: [{configMapRef: {name: settings}}]}]
"""


def run_jobs(root: Path, jobs: list[Job]) -> tuple[list[Any], int]:
    from concurrent.futures import ThreadPoolExecutor

    def documents(file: str) -> list[Any]:
        path = root / file
        return parse_documents(path.read_text(), file)[0] if file and path.is_file() else []

    before = kustomize.RUNS.value
    with ThreadPoolExecutor(2) as pool:
        built = build_all(root, jobs, kustomize_command(), pool, documents)
    return [(b.objects, b.error) for b in built], kustomize.RUNS.value - before


def alone(root: Path, jobs: list[Job]) -> list[Any]:
    built = [build(root, list(j.targets), j.transforms, kustomize_command()) for j in jobs]
    return [(b.objects, b.error) for b in built]


def test_a_reference_that_would_cross_wrappers_falls_back(tmp_path: Path) -> None:
    """In one run, kustomize's build-wide name-reference fixing would point b's Deployment at a's hashed
    ConfigMap; built alone, it keeps ``settings``. The batch is thrown away: 1 batch + 2 runs."""
    root = write(
        tmp_path,
        {
            "a/kustomization.yaml": "configMapGenerator: [{name: settings, literals: [A=1]}]\n",
            "b/kustomization.yaml": "resources: [deployment.yaml]\n",
            "b/deployment.yaml": DEPLOYMENT,
        },
    )
    jobs = [Job((root / "a",), Transforms(), True), Job((root / "b",), Transforms(), True)]
    batched, runs = run_jobs(root, jobs)
    assert batched == alone(root, jobs)
    refs = batched[1][0][0][0]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert refs == [{"configMapRef": {"name": "settings"}}]
    assert runs == 3


def test_two_kustomizations_with_the_same_object_fall_back(tmp_path: Path) -> None:
    root = write(tmp_path, {"b/kustomization.yaml": "resources: [deployment.yaml]\n", "b/deployment.yaml": DEPLOYMENT})
    jobs = [Job((root / "b",), Transforms(), True), Job((root / "b",), Transforms(), True)]
    batched, runs = run_jobs(root, jobs)
    assert batched == alone(root, jobs) and not batched[0][1]
    assert runs == 3


def test_kustomizations_that_can_share_a_run_do(tmp_path: Path) -> None:
    root = write(tmp_path, {"b/kustomization.yaml": "resources: [deployment.yaml]\n", "b/deployment.yaml": DEPLOYMENT})
    jobs = [Job((root / "b",), Transforms(namespace=ns), True) for ns in ("one", "two", "three")]
    batched, runs = run_jobs(root, jobs)
    assert batched == alone(root, jobs)
    assert [objects[0][1] for objects, _ in batched] == ["b/deployment.yaml"] * 3  # origins kept
    assert runs == 1


def test_build_wide_fields_are_not_confined() -> None:
    docs = parse_documents("resources: [x]\nvars: [{name: A, objref: {kind: Service, name: s, apiVersion: v1}}]\n", "k")
    assert not confined(docs[0])
    assert confined(parse_documents("resources: [x]\nnamespace: a\nnamePrefix: p-\n", "k")[0])
