"""Cold and warm ``gitopsgen validate`` on the Flux repositories of ``../shared/realworld`` (issue 16).

For each repository, as a new user runs it (no configuration, the CRDs CI gives it, an empty chart
cache), each run a child process measured like ``validate_fleet.py`` does (wall, CPU of the child and
its kustomize processes, peak RSS):

- cold, one kustomize process per Flux Kustomization (``GITOPSGEN_KUSTOMIZE_BATCH=0``, as before
  issue 16) and cold batched (today), each with an empty result cache, ``--offline``;
- warm offline (the same cache again);
- online, where the chart repositories cannot be reached (this machine has no network): a first run
  that tries them and remembers the failures, then a warm run, which takes every cluster from the cache.

Printed: a Markdown table, kustomize processes per cluster, CPU utilisation (CPU s ÷ wall s), objects/s.

    .venv/bin/python benchmarks/validate_realworld.py [--shared ../shared] [--work /tmp/gitopsgen-bench-rw]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_fleet import DEFAULT_SHARED, Run, machine, measure


def run(repo: Path, shared: Path, work: Path, label: str, cache: Path, offline: bool, batch: bool = True) -> Run:
    report = work / f"report-{repo.name}-{label}.json"
    cmd = [sys.executable, "-m", "gitopsgen.cli", "validate", str(repo), "--format", "json", "--output", str(report)]
    for crds in ("flux-crds", "flux-operator-crds", "external-secrets-crds"):
        cmd += ["--crds", str(shared / crds)]
    cmd += ["--chart-cache", str(work / f"charts-{repo.name}")]
    if offline:
        cmd.append("--offline")
    env = {**os.environ, "GITOPSGEN_CACHE_DIR": str(cache), "GITOPSGEN_KUSTOMIZE_BATCH": "1" if batch else "0"}
    result = measure(cmd, env=env)
    if result.code not in (0, 1):
        raise SystemExit(f"gitopsgen validate exited {result.code} on {repo.name}:\n{result.stderr}")
    result.stats = json.loads(report.read_text())["summary"]["stats"]
    return result


def row(label: str, r: Run) -> str:
    s: dict[str, Any] = r.stats
    clusters = max(int(s.get("clusters", 0)), 1)
    per = s.get("kustomize_runs", 0) / clusters
    cached = s.get("clusters_cached", "-")
    return (
        f"| {label} | {r.wall:.2f} | {r.cpu:.2f} | {r.cpu / r.wall:.2f} | {r.rss_mib:.0f} | {s['objects']} | "
        f"{s['objects'] / r.wall:,.0f} | {s.get('kustomizations', 0)} | {per:.1f} | {cached} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gitopsgen-bench-rw"))
    args = parser.parse_args(argv)
    shared, work = args.shared.resolve(), args.work.resolve()
    repos = sorted(p for p in (shared / "realworld").iterdir() if p.is_dir())
    print("\n".join(machine()))
    for repo in repos:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        runs = {"cold, one kustomize run each": run(repo, shared, work, "cold1", work / "cache-1", True, False)}
        runs["cold"] = run(repo, shared, work, "cold", work / "cache", True)
        runs["warm"] = run(repo, shared, work, "warm", work / "cache", True)
        runs["online, charts unreachable: first"] = run(repo, shared, work, "online1", work / "cache-online", False)
        runs["online, charts unreachable: warm"] = run(repo, shared, work, "online2", work / "cache-online", False)
        print(f"\n### {repo.name}\n")
        print(
            "| run | wall s | CPU s | CPU ÷ wall | peak RSS MiB | objects | objects/s | Flux Kustomizations "
            "| kustomize processes per cluster | clusters from the cache |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label, r in runs.items():
            print(row(label, r))
        print(f"\n- load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
