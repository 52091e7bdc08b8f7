"""The validator's result cache (issue 5): per-cluster outcomes reused when nothing a cluster reads changed.

What this module owns:

- end to end on the scaffolded two-cluster fleet (real kustomize, charts from ../shared/helm-repo over a
  local Helm mirror): a warm run reports exactly the findings of a cold one without running kustomize;
  a change to an overlay, a shared base, a non-YAML kustomize input, a substituteFrom ConfigMap outside
  the cluster's directories, the in-repository target of a symlinked manifest, the --crds or the kustomize
  executable rebuilds exactly the clusters it reaches, and the findings are
  those of a ``--no-cache`` run of the same tree; outcomes with volatile findings (H001, H005) are never
  stored; corrupt and foreign entries are misses that get rewritten; ``--no-cache`` neither reads nor
  writes; G001 still sees hand edits and intent edits on warm runs;
- units: :class:`~gitopsgen.validate.resultcache.ResultCache` (round trip, misses, unwritable
  directories, LRU pruning), :class:`~gitopsgen.validate.fingerprint.Fingerprints` (what changes a
  digest, what is never read) and the JSON shape of
  :class:`~gitopsgen.validate.clustercache.ClusterOutcome`.

Every test gets its own ``GITOPSGEN_CACHE_DIR`` (results, CRD and chart caches), seen by the subprocesses: the
command runs as the console script (``run_console``), each run a new process as in CI, so a warm run owes
nothing to memory a previous run left behind (the in-process caches of the tool digest, schemas, workers).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_console, shared

from gitopsgen.validate import negcache
from gitopsgen.validate.clustercache import ClusterOutcome, cacheable, cluster_key
from gitopsgen.validate.config import Settings
from gitopsgen.validate.findings import Finding, Severity
from gitopsgen.validate.fingerprint import Fingerprints
from gitopsgen.validate.inputs import Inputs
from gitopsgen.validate.kustomize import KUSTOMIZE_ENV, kustomize_command
from gitopsgen.validate.resultcache import FORMAT, ResultCache, digest, tool_digest

CHARTS = "https://prefecthq.github.io/prefect-helm"
ETL_PATCH = "overlays/cluster-2/prefect-worker/pools/etl/helmrelease-patch.yaml"
ML_PATCH = "overlays/cluster-2/prefect-worker/pools/ml/helmrelease-patch.yaml"
DEFAULT_PATCH = "overlays/cluster-1/prefect-worker/pools/default/helmrelease-patch.yaml"
WORKER_BASE = "base/prefect-worker/helmrelease.yaml"
PREFECT_2 = "clusters/cluster-2/prefect/prefect.yaml"
CHART_VERSION = "2026.8.18172642"


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's GITOPSGEN_CACHE_DIR (the environment the CLI subprocesses inherit)."""
    path = tmp_path / "cache"
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(path))
    monkeypatch.delenv("GITOPSGEN_CACHE_MAX_MB", raising=False)
    return path


# ---------------------------------------------------------------- helpers (end to end)


def validate(fleet: Path, helm_repo_url: str, *args: str, crds: tuple[Path, ...] | None = None) -> dict[str, Any]:
    """``gitopsgen validate --format json`` of ``fleet`` (Flux and ESO CRDs, charts from the local mirror)."""
    if crds is None:
        crds = (shared("flux-crds"), shared("external-secrets-crds"))
    crd_args = [a for c in crds for a in ("--crds", str(c))]
    proc = run_console(
        "validate", str(fleet), "--format", "json", *crd_args, "--helm-mirror", f"{CHARTS}={helm_repo_url}", *args
    )
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def stats(report: dict[str, Any]) -> dict[str, Any]:
    return report["summary"]["stats"]


def rules_at(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["rule"], f["file"]) for f in report["findings"]}


def cluster_entries(cache: Path) -> dict[Path, bytes]:
    """Every cluster-outcome entry of the result cache, with its bytes."""
    base = cache / "results" / "cluster"
    return {p: p.read_bytes() for p in sorted(base.rglob("*.json"))} if base.is_dir() else {}


def entry_cluster(raw: bytes) -> str:
    return json.loads(raw)["value"]["name"]


def edit(root: Path, file: str, old: str, new: str) -> None:
    """Replace the only occurrence of ``old`` in ``file``."""
    path = root / file
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {file}"
    path.write_text(text.replace(old, new))


def line_of(root: Path, file: str, needle: str) -> int:
    hits = [n for n, text in enumerate((root / file).read_text().splitlines(), start=1) if needle in text]
    assert len(hits) == 1, f"{needle!r} is on lines {hits} of {file}"
    return hits[0]


def rebuilt_after(
    fleet: Path,
    helm_repo_url: str,
    cache: Path,
    change: Callable[[], None],
    rebuilt: set[str],
    crds: tuple[Path, ...] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Warm the cache, apply ``change``, validate again: exactly the clusters ``rebuilt`` are rendered anew
    (and stored under new keys), and the findings are those of a ``--no-cache`` run of the changed tree.
    Returns (the run before the change, the warm run after it)."""
    before = validate(fleet, helm_repo_url, crds=crds)
    assert stats(before)["clusters_cached"] == 0
    old = cluster_entries(cache)
    assert sorted(entry_cluster(raw) for raw in old.values()) == ["cluster-1", "cluster-2"]
    change()
    warm = validate(fleet, helm_repo_url, crds=crds)
    assert stats(warm)["clusters_cached"] == 2 - len(rebuilt)
    new = {p: raw for p, raw in cluster_entries(cache).items() if p not in old}
    assert {entry_cluster(raw) for raw in new.values()} == rebuilt and len(new) == len(rebuilt)
    fresh = validate(fleet, helm_repo_url, "--no-cache", crds=crds)
    assert warm["findings"] == fresh["findings"]
    assert stats(warm)["objects"] == stats(fresh)["objects"]
    return before, warm


@pytest.fixture
def kustomize_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real kustomize behind a shim on PATH that logs each run to the returned file."""
    real = kustomize_command()[0]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "kustomize.log"
    log.touch()
    shim = bin_dir / Path(real).name  # the same name: a kubectl shim is run as `kubectl kustomize`
    shim.write_text(f'#!/bin/sh\necho run >> "{log}"\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv(KUSTOMIZE_ENV, str(shim))
    return log


# ---------------------------------------------------------------- 1. warm == cold


@pytest.mark.slow
def test_warm_run_reports_the_cold_findings_without_building(
    fleet: Path, helm_repo_url: str, cache: Path, kustomize_log: Path
) -> None:
    # the generated fleet validates clean: a hand-written workload with a floating tag gives the runs findings
    (fleet / "clusters/cluster-1/extra.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prefect}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: web, image: 'nginx:latest'}]}\n"
    )
    cold = validate(fleet, helm_repo_url)
    assert stats(cold)["clusters_cached"] == 0
    assert kustomize_log.read_text().count("run") > 0
    assert len(cluster_entries(cache)) == 2
    kustomize_log.write_text("")
    warm = validate(fleet, helm_repo_url)
    assert stats(warm)["clusters_cached"] == 2
    assert kustomize_log.read_text() == ""  # no kustomize process at all
    assert json.dumps(warm["findings"], sort_keys=True) == json.dumps(cold["findings"], sort_keys=True)
    assert cold["findings"], "the fleet has findings (the workload's warnings): the comparison is not vacuous"
    for key in ("clusters", "kustomizations", "helm_releases", "objects", "documents", "files"):
        assert stats(warm)[key] == stats(cold)[key], key
    assert {"crds", "cache", "builds", "repository"} <= set(stats(warm)["stages"])


@pytest.mark.slow
def test_a_different_kustomize_executable_is_a_new_key(fleet: Path, helm_repo_url: str, kustomize_log: Path) -> None:
    assert stats(validate(fleet, helm_repo_url))["clusters_cached"] == 0
    assert stats(validate(fleet, helm_repo_url))["clusters_cached"] == 2
    shim = next(kustomize_log.parent.joinpath("bin").iterdir())
    shim.write_text(shim.read_text().replace("#!/bin/sh\n", "#!/bin/sh\n# kustomize v5.9 (upgraded)\n"))
    assert stats(validate(fleet, helm_repo_url))["clusters_cached"] == 0


# ---------------------------------------------------------------- 2. changes rebuild exactly what they reach


@pytest.mark.slow
def test_an_overlay_change_rebuilds_only_its_cluster(fleet: Path, helm_repo_url: str, cache: Path) -> None:
    before, warm = rebuilt_after(
        fleet,
        helm_repo_url,
        cache,
        lambda: edit(fleet, ETL_PATCH, "replicaCount: 2", "replicaCount: 3"),
        {"cluster-2"},
    )
    assert ("G001", ETL_PATCH) in rules_at(warm) and ("G001", ETL_PATCH) not in rules_at(before)


@pytest.mark.slow
def test_a_shared_base_change_rebuilds_every_cluster(fleet: Path, helm_repo_url: str, cache: Path) -> None:
    # a worker resource request as a string the schema refuses: both clusters' Deployments get it
    before, warm = rebuilt_after(
        fleet,
        helm_repo_url,
        cache,
        lambda: edit(fleet, WORKER_BASE, "cpu: 100m", "cpu: [100m]"),
        {"cluster-1", "cluster-2"},
    )
    assert warm["findings"] != before["findings"]


@pytest.mark.slow
def test_a_non_yaml_kustomize_input_is_part_of_the_key(fleet: Path, helm_repo_url: str, cache: Path) -> None:
    overlay = fleet / "overlays/cluster-1/prefect-worker"
    (overlay / "settings").mkdir()
    env = overlay / "settings/worker.env"  # in a subdirectory: named by the kustomization, not beside it
    env.write_text("PREFECT_LOGGING_LEVEL=INFO\n")
    with (overlay / "kustomization.yaml").open("a") as f:
        f.write("configMapGenerator:\n  - name: worker-settings\n    namespace: prefect\n    envs:\n")
        f.write("      - settings/worker.env\n")
    before, warm = rebuilt_after(
        fleet,
        helm_repo_url,
        cache,
        lambda: env.write_bytes(b"PREFECT_LOGGING_LEVEL=\xff\n"),  # kustomize refuses invalid UTF-8
        {"cluster-1"},
    )
    assert not any(f["rule"] == "B001" for f in before["findings"])
    assert any(f["rule"] == "B001" and f["cluster"] == "cluster-1" for f in warm["findings"])


@pytest.mark.slow
def test_a_missing_resource_created_later_is_part_of_the_key(fleet: Path, helm_repo_url: str, cache: Path) -> None:
    """A resource in a directory nothing else reaches: its absence is an input too (B001 until it exists)."""
    edit(
        fleet,
        "overlays/cluster-1/prefect-worker/kustomization.yaml",
        "resources:\n",
        "resources:\n  - ../../../extra/settings.yaml\n",
    )
    created = fleet / "extra/settings.yaml"

    def create() -> None:
        created.parent.mkdir()
        created.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: prefect\n")

    before, warm = rebuilt_after(fleet, helm_repo_url, cache, create, {"cluster-1"})
    assert any(f["rule"] == "B001" and "does not exist" in f["message"] for f in before["findings"])
    assert not any(f["rule"] == "B001" for f in warm["findings"])


@pytest.mark.slow
def test_a_missing_flux_path_created_later_is_part_of_the_key(fleet: Path, helm_repo_url: str, cache: Path) -> None:
    prefect = fleet / PREFECT_2
    text = prefect.read_text()
    path = next(line for line in text.splitlines() if line.strip().startswith("path: ./overlays/cluster-2/"))
    target = path.split("path: ./", 1)[1].strip()
    prefect.write_text(text.replace(path, path.replace(target, target + "-later"), 1))

    def create() -> None:
        shutil.copytree(fleet / target, fleet / (target + "-later"))

    before, warm = rebuilt_after(fleet, helm_repo_url, cache, create, {"cluster-2"})
    assert any(f["rule"] == "F001" and f["cluster"] == "cluster-2" for f in before["findings"])
    assert not any(f["rule"] == "F001" for f in warm["findings"])


@pytest.mark.slow
def test_a_substitute_from_config_map_outside_the_cluster_is_part_of_the_key(
    fleet: Path, helm_repo_url: str, cache: Path
) -> None:
    text = (fleet / PREFECT_2).read_text()
    tag_line = next(line for line in text.splitlines(keepends=True) if "prefect_worker_tag:" in line)
    edit(fleet, PREFECT_2, tag_line, "")
    edit(
        fleet,
        PREFECT_2,
        "  postBuild:\n    substitute:\n      flow_image_etl",
        "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: fleet-vars\n"
        "    substitute:\n      flow_image_etl",
    )
    (fleet / "fleet-vars").mkdir()
    (fleet / "fleet-vars/vars.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fleet-vars\n  namespace: flux-system\n"
        'data:\n  prefect_worker_tag: "3.8.3-python3.11-kubernetes"\n'
    )
    before, warm = rebuilt_after(
        fleet,
        helm_repo_url,
        cache,
        lambda: edit(fleet, "fleet-vars/vars.yaml", "3.8.3-python3.11-kubernetes", "latest"),
        {"cluster-2"},
    )
    floating = {(f["rule"], f["cluster"]) for f in warm["findings"] if f["rule"] == "S005"}
    assert ("S005", "cluster-2") in floating
    assert not any(f["rule"] == "S005" and "cluster-2" in f["cluster"] for f in before["findings"])


@pytest.mark.slow
def test_changed_crds_are_part_of_the_key(fleet: Path, helm_repo_url: str, cache: Path, tmp_path: Path) -> None:
    crds = tmp_path / "flux-crds"
    shutil.copytree(shared("flux-crds"), crds)
    given = (crds, shared("external-secrets-crds"))
    crd_file = crds / "helm.toolkit.fluxcd.io_helmreleases.yaml"

    def require_a_field() -> None:  # edited in place: same path, new content
        docs = list(yaml.safe_load_all(crd_file.read_text()))
        for doc in docs:
            for version in doc["spec"]["versions"]:
                spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
                spec["required"] = [*spec.get("required", []), "reviewedBy"]
        crd_file.write_text(yaml.safe_dump_all(docs))

    before, warm = rebuilt_after(fleet, helm_repo_url, cache, require_a_field, {"cluster-1", "cluster-2"}, given)
    new = [f for f in warm["findings"] if "reviewedBy" in f["message"]]
    assert new and all(f["object"].startswith("HelmRelease ") for f in new)
    assert not any("reviewedBy" in f["message"] for f in before["findings"])


@pytest.mark.slow
def test_a_symlinked_manifest_inside_the_repository_is_part_of_the_key(
    fleet: Path, helm_repo_url: str, cache: Path
) -> None:
    (fleet / "shared-manifests").mkdir()
    target = fleet / "shared-manifests/extra-ns.yaml"
    target.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: extra\n")
    (fleet / "clusters/cluster-1/extra.yaml").symlink_to("../../shared-manifests/extra-ns.yaml")
    rebuilt_after(
        fleet, helm_repo_url, cache, lambda: target.write_text(target.read_text() + "spec: 5\n"), {"cluster-1"}
    )


# ---------------------------------------------------------------- 3. volatile outcomes are not stored


@pytest.mark.slow
def test_an_unpinned_chart_is_rendered_on_every_run(fleet: Path, helm_repo_url: str, cache: Path) -> None:
    edit(fleet, DEFAULT_PATCH, f"version: {CHART_VERSION}", 'version: ">=2026.0.0"')
    cached = []
    for _ in range(2):
        report = validate(fleet, helm_repo_url)
        assert ("H005", DEFAULT_PATCH) in rules_at(report)
        assert [entry_cluster(raw) for raw in cluster_entries(cache).values()] == ["cluster-2"]
        cached.append(stats(report)["clusters_cached"])
    assert cached == [0, 1]  # then cluster-2 from the cache, cluster-1 rendered again


@pytest.mark.slow
def test_a_chart_that_cannot_be_fetched_online_is_stored_only_while_the_failure_is_remembered(
    fleet: Path, cache: Path
) -> None:
    """Issue 16: the failed fetch is remembered for 10 minutes (:mod:`.negcache`, expiry tested in
    test_negcache.py) and the outcomes holding it are stored until then, not for ever."""
    started = time.time()
    reports = []
    for _ in range(2):
        report = validate(fleet, "http://127.0.0.1:9")  # a mirror that refuses connections: a network failure
        clusters = {c for f in report["findings"] if f["rule"] == "H007" for c in f["cluster"].split(",")}
        assert clusters >= {"cluster-1", "cluster-2"}
        reports.append(report)
    assert [stats(r)["clusters_cached"] for r in reports] == [0, 2]
    assert reports[1]["findings"] == reports[0]["findings"]
    untils = [json.loads(raw)["value"]["until"] for raw in cluster_entries(cache).values()]
    assert len(untils) == 2 and all(started < u <= time.time() + negcache.TTL for u in untils)


@pytest.mark.slow
def test_offline_outcomes_are_stored_and_a_filled_chart_cache_is_a_new_key(
    fleet: Path, helm_repo_url: str, cache: Path
) -> None:
    """Offline, Helm reads only the chart cache, whose listing is part of the key: a warm offline run with
    unfetchable charts rebuilds nothing, and one after the cache got the charts renders them."""
    first = validate(fleet, helm_repo_url, "--offline")  # the chart cache of this test is empty
    assert {c for f in first["findings"] if f["rule"] == "H007" for c in f["cluster"].split(",")} >= {
        "cluster-1",
        "cluster-2",
    }
    assert stats(first)["clusters_cached"] == 0 and len(cluster_entries(cache)) == 2
    warm = validate(fleet, helm_repo_url, "--offline")
    assert stats(warm)["clusters_cached"] == 2 and warm["findings"] == first["findings"]
    online = validate(fleet, helm_repo_url)  # downloads the charts into the chart cache through the mirror
    assert not [f for f in online["findings"] if f["rule"] in ("H001", "H007")], online["findings"]
    after = validate(fleet, helm_repo_url, "--offline")
    assert stats(after)["clusters_cached"] == 0, "the chart cache changed: a new key"
    assert not [f for f in after["findings"] if f["rule"] in ("H001", "H007")], after["findings"]


# ---------------------------------------------------------------- 4. corrupt and foreign entries


def _entry(raw: bytes) -> dict[str, Any]:
    return json.loads(raw)


CORRUPTIONS: dict[str, Callable[[bytes, bytes], bytes]] = {
    # (this entry's bytes, the other cluster's entry's bytes) → what the file holds instead
    "garbage": lambda raw, other: b"\x00\xffnot json at all{{",
    "not an object": lambda raw, other: b"[1, 2, 3]",
    "other format": lambda raw, other: json.dumps({**_entry(raw), "format": FORMAT + 1}).encode(),
    "other key": lambda raw, other: json.dumps({**_entry(raw), "key": "0" * 64}).encode(),
    "other cluster's outcome": lambda raw, other: json.dumps({**_entry(raw), "value": _entry(other)["value"]}).encode(),
    "value of the wrong shape": lambda raw, other: json.dumps(
        {**_entry(raw), "value": {**_entry(raw)["value"], "objects": "78", "findings": [[1, 2, 3]]}}
    ).encode(),
}


@pytest.mark.slow
def test_corrupt_and_foreign_entries_are_misses_and_rewritten(fleet: Path, helm_repo_url: str, cache: Path) -> None:
    cold = validate(fleet, helm_repo_url)
    good = cluster_entries(cache)
    assert len(good) == 2
    (first, first_raw), (second, second_raw) = good.items()
    names = list(CORRUPTIONS)
    for one, two in zip(names[::2], names[1::2], strict=True):  # two corruptions per run, one per entry
        first.write_bytes(CORRUPTIONS[one](first_raw, second_raw))
        second.write_bytes(CORRUPTIONS[two](second_raw, first_raw))
        report = validate(fleet, helm_repo_url)
        assert stats(report)["clusters_cached"] == 0, (one, two)
        assert report["findings"] == cold["findings"], (one, two)
        assert [_entry(raw) for raw in cluster_entries(cache).values()] == [_entry(first_raw), _entry(second_raw)]
    assert stats(validate(fleet, helm_repo_url))["clusters_cached"] == 2  # rewritten entries are used


def test_a_deeply_nested_entry_is_a_miss(tmp_path: Path) -> None:
    results = ResultCache(tmp_path / "results")
    results.put("cluster", digest("k"), {"ok": True})
    results._path("cluster", digest("k")).write_text("[" * 100_000)
    assert results.get("cluster", digest("k")) is None


# ---------------------------------------------------------------- 5. --no-cache


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(directory).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_no_cache_neither_writes_nor_reads(fleet: Path, helm_repo_url: str, cache: Path) -> None:
    uncached = validate(fleet, helm_repo_url, "--no-cache")
    assert "clusters_cached" not in stats(uncached)
    assert not (cache / "results").exists() or _snapshot(cache / "results") == {}
    cold = validate(fleet, helm_repo_url)
    assert cold["findings"] == uncached["findings"]
    before = _snapshot(cache / "results")
    assert before
    again = validate(fleet, helm_repo_url, "--no-cache")
    assert "clusters_cached" not in stats(again)
    assert _snapshot(cache / "results") == before  # no entry written, none read (a hit refreshes its mtime)
    assert again["findings"] == cold["findings"]


# ---------------------------------------------------------------- 6. G001 on warm runs


@pytest.mark.slow
def test_generated_drift_is_found_on_warm_runs(fleet: Path, helm_repo_url: str) -> None:
    cold = validate(fleet, helm_repo_url)
    assert not any(f["rule"] == "G001" for f in cold["findings"])

    edit(fleet, ETL_PATCH, "replicaCount: 2", "replicaCount: 5")  # a hand edit of a generated file
    warm = validate(fleet, helm_repo_url)
    g001 = {(f["file"], f["line"]) for f in warm["findings"] if f["rule"] == "G001"}
    assert g001 == {(ETL_PATCH, line_of(fleet, ETL_PATCH, "replicaCount: 5"))}
    assert warm["findings"] == validate(fleet, helm_repo_url, "--no-cache")["findings"]

    edit(fleet, "intent/clusters/cluster-2.yaml", "    replicas: 1\n", "    replicas: 4\n")  # the ml pool
    warm = validate(fleet, helm_repo_url)
    assert stats(warm)["clusters_cached"] == 2  # no cluster reads the intent; G001 is not cached per cluster
    g001 = {(f["file"], f["line"]) for f in warm["findings"] if f["rule"] == "G001"}
    assert g001 == {
        (ETL_PATCH, line_of(fleet, ETL_PATCH, "replicaCount: 5")),
        (ML_PATCH, line_of(fleet, ML_PATCH, "replicaCount: 1")),
    }
    assert warm["findings"] == validate(fleet, helm_repo_url, "--no-cache")["findings"]


# ---------------------------------------------------------------- 7. ResultCache


def test_put_then_get_round_trips_and_persists(tmp_path: Path) -> None:
    key = digest("some", "inputs")
    value = {"a": [1, "two", None, True], "b": {"c": 1.5}}
    results = ResultCache(tmp_path / "results")
    results.put("cluster", key, value)
    assert results.get("cluster", key) == value
    assert results.counts == {"hits": 1, "misses": 0, "writes": 1}
    assert ResultCache(tmp_path / "results").get("cluster", key) == value  # another run
    assert results.get("render", key) is None  # kinds are separate
    assert results.get("cluster", digest("other", "inputs")) is None
    assert results.counts["misses"] == 2
    entry = json.loads(results._path("cluster", key).read_text())
    assert entry == {"format": FORMAT, "key": key, "value": value}
    assert not [p for p in (tmp_path / "results").rglob("*") if p.name.startswith(".tmp-")]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00",
        b"[]",
        b'"a string"',
        b'{"format": 999, "key": "KEY", "value": 1}',
        b'{"key": "KEY", "value": 1}',
        b'{"format": 1, "key": "another key", "value": 1}',
        b'{"format": 1, "value": 1}',
    ],
)
def test_get_misses_on_broken_or_foreign_entries(tmp_path: Path, content: bytes) -> None:
    key = digest("k")
    results = ResultCache(tmp_path / "results")
    path = results._path("cluster", key)
    path.parent.mkdir(parents=True)
    path.write_bytes(content.replace(b"KEY", key.encode()))
    assert results.get("cluster", key) is None
    assert results.counts["misses"] == 1
    results.put("cluster", key, "fixed")  # a miss is rewritten
    assert results.get("cluster", key) == "fixed"


def test_a_disabled_cache_holds_nothing(tmp_path: Path) -> None:
    results = ResultCache.open(enabled=False)
    assert results.directory is None
    results.put("cluster", "k", 1)
    assert results.get("cluster", "k") is None and results.prune() == 0
    assert results.counts == {"hits": 0, "misses": 0, "writes": 0}


def test_open_follows_the_environment(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ResultCache.open().directory == cache / "results"
    assert ResultCache.open().max_bytes == 512 * 1024 * 1024
    monkeypatch.setenv("GITOPSGEN_CACHE_MAX_MB", "3")
    assert ResultCache.open().max_bytes == 3 * 1024 * 1024
    monkeypatch.setenv("GITOPSGEN_CACHE_MAX_MB", "lots")
    assert ResultCache.open().max_bytes == 512 * 1024 * 1024
    monkeypatch.setenv("GITOPSGEN_CACHE_MAX_MB", "0")
    assert ResultCache.open().max_bytes == 1024 * 1024


def test_put_where_nothing_can_be_written_is_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    results = ResultCache(blocker / "results")
    results.put("cluster", digest("k"), {"v": 1})  # no exception
    assert results.counts["writes"] == 0
    assert results.get("cluster", digest("k")) is None
    assert results.prune() == 0
    assert blocker.read_text() == "not a directory"


def test_prune_removes_the_least_recently_used_entries(tmp_path: Path) -> None:
    directory = tmp_path / "results"
    keys = [digest("entry", i) for i in range(5)]
    writer = ResultCache(directory)
    for key in keys:
        writer.put("cluster", key, "x" * 1000)
    size = writer._path("cluster", keys[0]).stat().st_size
    assert all(writer._path("cluster", k).stat().st_size == size for k in keys)
    past = 1_000_000_000
    for i, key in enumerate(keys):  # keys[0] is the oldest
        os.utime(writer._path("cluster", key), (past + i * 60, past + i * 60))

    idle = ResultCache(directory, max_bytes=4 * size)  # over the bound, but this run wrote nothing
    assert idle.prune() == 0 and len(list(directory.rglob("*.json"))) == 5

    run = ResultCache(directory, max_bytes=4 * size)
    assert run.get("cluster", keys[0]) == "x" * 1000  # a hit makes keys[0] the most recently used
    run.put("cluster", keys[4], "x" * 1000)  # rewritten: also recent
    assert run.prune() == 2  # 5 entries > 4: down to at most 80% of the bound, 3 entries
    left = {k for k in keys if run._path("cluster", k).exists()}
    assert left == {keys[0], keys[3], keys[4]}

    roomy = ResultCache(directory, max_bytes=100 * size)
    roomy.put("cluster", digest("one more"), "y")
    assert roomy.prune() == 0 and len(list(directory.rglob("*.json"))) == 4


def test_tool_digest_is_stable_and_covers_the_command() -> None:
    first = tool_digest()
    assert first == tool_digest() and len(first) == 64
    assert tool_digest(["kubectl", "kustomize"]) == tool_digest(("kubectl", "kustomize"))
    assert tool_digest(["kubectl", "kustomize"]) != first
    other = subprocess.run(
        [sys.executable, "-c", "from gitopsgen.validate.resultcache import tool_digest; print(tool_digest())"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.strip()
    assert other == first  # the same in every process (warm runs are new processes)


def test_digest_is_canonical() -> None:
    assert digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1})
    assert digest("a", "b") != digest("ab") != digest(["a", "b"], None)
    assert digest(Path("x")) == digest("x")


# ---------------------------------------------------------------- 7. Fingerprints


def _fingerprint(root: Path, inputs: Inputs) -> str:
    return Fingerprints(root).of_inputs(inputs)  # a new instance: one run


def test_fingerprints_change_with_content_and_names(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "k/sub").mkdir(parents=True)
    (root / "a.yaml").write_text("a: 1\n")
    (root / "k/kustomization.yaml").write_text("resources: []\n")
    inputs = Inputs(files={"a.yaml"}, dirs={"k"})
    first = _fingerprint(root, inputs)
    assert _fingerprint(root, inputs) == first
    (root / "a.yaml").write_text("a: 2\n")
    assert _fingerprint(root, inputs) != first
    (root / "a.yaml").write_text("a: 1\n")
    assert _fingerprint(root, inputs) == first
    (root / "k/sub/deep.yaml").write_text("x: 1\n")  # below a kustomization directory: not read
    assert _fingerprint(root, inputs) == first
    assert _fingerprint(root, Inputs(files={"a.yaml"}, trees={"k"})) != first
    (root / "k/settings.env").write_text("A=1\n")  # directly in it: read, whatever its suffix
    with_env = _fingerprint(root, inputs)
    assert with_env != first
    (root / "k/settings.env").rename(root / "k/other.env")  # same content, another name
    assert _fingerprint(root, inputs) not in (first, with_env)
    (root / "a.yaml").unlink()
    assert _fingerprint(root, inputs) != _fingerprint(root, Inputs(dirs={"k"}))  # missing ≠ not an input


def test_fingerprint_of_everything_skips_version_control(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "a.yaml").write_text("a: 1\n")
    everything = Inputs(everything=True)
    first = _fingerprint(root, everything)
    (root / ".git/index").write_bytes(b"changes on every commit")
    assert _fingerprint(root, everything) == first
    (root / "deep/er").mkdir(parents=True)
    (root / "deep/er/file.txt").write_text("anything")
    assert _fingerprint(root, everything) != first


def _finishes(work: Callable[[], Any], seconds: float = 20) -> Any:
    """``work()`` in a thread; fails instead of hanging when it blocks (e.g. opening a FIFO)."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert out, "blocked: something was read that must not be"
    return out[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_symlinks_out_of_the_repository_count_by_name_only(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    outside = tmp_path / "outside"
    (root / "k").mkdir(parents=True)
    outside.mkdir()
    os.mkfifo(outside / "pipe")
    (outside / "secret.txt").write_text("one")
    (root / "k/pipe.yaml").symlink_to(outside / "pipe")
    (root / "k/secret.yaml").symlink_to(outside / "secret.txt")
    os.mkfifo(root / "k/fifo.yaml")  # not a regular file: never opened
    inputs = Inputs(dirs={"k"}, files={"k/pipe.yaml"}, trees={"k"})
    first = _finishes(lambda: _fingerprint(root, inputs))
    assert _finishes(lambda: _fingerprint(root, Inputs(everything=True)))
    (outside / "secret.txt").write_text("two: content outside is never read")
    assert _finishes(lambda: _fingerprint(root, inputs)) == first
    (root / "k/secret.yaml").unlink()
    (root / "k/secret.yaml").symlink_to(outside / "other.txt")  # the target's name counts
    assert _finishes(lambda: _fingerprint(root, inputs)) != first


def test_symlinks_inside_the_repository_count_by_their_target_content(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "k").mkdir(parents=True)
    (root / "shared").mkdir()
    (root / "shared/ns.yaml").write_text("kind: Namespace\n")
    (root / "k/ns.yaml").symlink_to("../shared/ns.yaml")
    (root / "k/loop-a.yaml").symlink_to("loop-b.yaml")  # a loop: finite, no error
    (root / "k/loop-b.yaml").symlink_to("loop-a.yaml")
    (root / "k/self.yaml").symlink_to("self.yaml")
    inputs = Inputs(trees={"k"})  # a plain-manifest directory: shared/ is not an input of its own
    first = _finishes(lambda: _fingerprint(root, inputs))
    (root / "shared/ns.yaml").write_text("kind: Namespace\nspec: 5\n")
    assert _finishes(lambda: _fingerprint(root, inputs)) != first


def test_an_oversized_file_is_not_read(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    big = root / "big.yaml"
    with big.open("wb") as f:
        f.truncate(8 * 1024 * 1024 + 1)  # sparse: costs no disk
    inputs = Inputs(files={"big.yaml"})
    first = _fingerprint(root, inputs)
    st = big.stat()
    with big.open("r+b") as f:  # new content, same size and modification time: unseen, so unread
        f.seek(4 * 1024 * 1024)
        f.write(b"changed")
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _fingerprint(root, inputs) == first
    with big.open("r+b") as f:
        f.truncate(8 * 1024 * 1024 + 2)
    assert _fingerprint(root, inputs) != first  # its size (and time) count


# ---------------------------------------------------------------- 8. ClusterOutcome JSON


def _outcome() -> ClusterOutcome:
    return ClusterOutcome(
        "cluster-2",
        [
            Finding("base/a.yaml", 3, "S003", "secret missing", Severity.WARNING, 0, "Deployment p/x", "cluster-2"),
            Finding("overlays/b.yaml", 12, "K001", "expected object", Severity.ERROR, 4, "Namespace n", "cluster-2"),
        ],
        objects=78,
        kustomizations=5,
        releases=3,
        reached={"overlays/cluster-2/prefect-server", "base/prefect-server"},
        files={"base/prefect-server/helmrelease.yaml"},
        manifest_files={"base/a.yaml", "overlays/b.yaml"},
        images=[{"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy", "metadata": {"name": "p"}}],
    )


def test_cluster_outcome_round_trips_through_json() -> None:
    outcome = _outcome()
    value = json.loads(json.dumps(outcome.to_json()))
    assert json.dumps(value, sort_keys=True) == json.dumps(_outcome().to_json(), sort_keys=True)  # deterministic
    back = ClusterOutcome.from_json(value, "cluster-2")
    assert back == dataclasses.replace(outcome, cached=True)
    assert [f.severity for f in back.findings] == [Severity.WARNING, Severity.ERROR]
    assert ClusterOutcome.from_json(ClusterOutcome("empty").to_json(), "empty") == ClusterOutcome("empty", cached=True)


def _without(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda v: {k: x for k, x in v.items() if k != key}


def _with(key: str, new: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda v: {**v, key: new}


def _finding_with(index: int, new: Any) -> Callable[[dict[str, Any]], Any]:
    def change(v: dict[str, Any]) -> Any:
        finding = list(v["findings"][0])
        finding[index] = new
        return {**v, "findings": [finding, *v["findings"][1:]]}

    return change


BROKEN: dict[str, Callable[[dict[str, Any]], Any]] = {
    **{f"missing {key}": _without(key) for key in ClusterOutcome("x").to_json()},
    "not an object": lambda v: [v],
    "null": lambda v: None,
    "another cluster": _with("name", "cluster-1"),
    "objects as a string": _with("objects", "78"),
    "releases as a bool": _with("releases", True),
    "kustomizations as a float": _with("kustomizations", 5.0),
    "reached as a string": _with("reached", "base"),
    "files holding a number": _with("files", ["a", 1]),
    "manifest_files as an object": _with("manifest_files", {"a": 1}),
    "images as an object": _with("images", {"kind": "ImagePolicy"}),
    "images holding a string": _with("images", ["ImagePolicy"]),
    "findings as an object": _with("findings", {"a": 1}),
    "findings as a string": _with("findings", "abcdefgh"),
    "a finding too short": _with("findings", [["base/a.yaml", 3, "S003"]]),
    "a finding as an object": _with("findings", [{"file": "a"}]),
    "a finding's line as a string": _finding_with(1, "3"),
    "a finding's line as a bool": _finding_with(1, True),
    "a finding's column as null": _finding_with(5, None),
    "a finding's rule as a number": _finding_with(2, 3),
    "a finding's severity unknown": _finding_with(4, "fatal"),
    "a finding's severity as a list": _finding_with(4, ["error"]),
    "a finding's cluster as null": _finding_with(7, None),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_cluster_outcome_from_json_rejects_wrong_shapes(broken: str) -> None:
    value = json.loads(json.dumps(_outcome().to_json()))
    assert ClusterOutcome.from_json(value, "cluster-2") is not None
    assert ClusterOutcome.from_json(BROKEN[broken](value), "cluster-2") is None


def test_cluster_key_and_cacheable() -> None:
    settings = Settings()
    base = ("tool", settings, "schemas", {("flux-system", "flux-system")}, {"ssh://git"}, "cluster-1", "inputs")
    key = cluster_key(*base)
    assert key == cluster_key(*base) and len(key) == 64
    variants = [
        ("tool2", *base[1:]),
        (base[0], dataclasses.replace(settings, kubernetes_version="1.31"), *base[2:]),
        (base[0], dataclasses.replace(settings, offline=True), *base[2:]),
        (base[0], dataclasses.replace(settings, helm_mirrors=(("a", "b"),)), *base[2:]),
        (base[0], dataclasses.replace(settings, ignore=("docs/**",)), *base[2:]),
        (*base[:2], "schemas2", *base[3:]),
        (*base[:3], {("flux-system", "other")}, *base[4:]),
        (*base[:4], {"ssh://other"}, *base[5:]),
        (*base[:5], "cluster-2", base[6]),
        (*base[:6], "inputs2"),
    ]
    assert len({cluster_key(*v) for v in variants} | {key}) == len(variants) + 1
    # what only selects clusters or filters findings afterwards is not in the key
    assert cluster_key(base[0], dataclasses.replace(settings, clusters=("cluster-1",)), *base[2:]) == key

    def outcome(*rules: str) -> ClusterOutcome:
        return ClusterOutcome("c", [Finding("f", 1, r, "m") for r in rules])

    assert cacheable(outcome()) and cacheable(outcome("K001", "B001", "H002", "S003"))
    for volatile in ("H001", "H005", "R001"):
        assert not cacheable(outcome("K001", volatile))
