"""Benchmark: ``gitopsgen validate`` on generated fleets vs the peer pipeline and the YAML-parse floor.

For every fleet size N (``--sizes 10,50,100``) this makes the fleet (cached under ``--work``), then
measures, each in a subprocess whose own rusage ``os.wait4`` returns (wall seconds, user+sys CPU,
peak RSS of the process or of its largest waited-for child, e.g. kubectl):

- gitopsgen, cold: ``gitopsgen validate`` with an empty ``GITOPSGEN_CACHE_DIR`` (charts are copied
  from the local ``--helm-mirror`` directory, CRDs come from ``--crds``; no network either way);
- gitopsgen, warm: the same command again, ``--repeat`` times, same cache (best run reported);
- gitopsgen, one cluster changed: one cluster's intent edited (a pool's replicas), ``gitopsgen
  generate`` run and committed, then the whole validation again with the same cache (the changed
  cluster is rebuilt, the others come from the cache);
- gitopsgen ``--changed-since HEAD~1`` after another such change to the same cluster (so its
  outcome is not in the cache either), when the installed gitopsgen has that option;
- the peer pipeline (``--peer-only DIR``): what a team would script, one cluster after another:
  ``kubectl kustomize`` of the cluster directory and of every Flux Kustomization path, postBuild
  variables by plain ``${VAR}`` replacement, each HelmRelease rendered with helm-python-sdk from
  the chart archives of the shared Helm repository, then
  ``kubernetes_validate.validate(obj, "1.33", strict=True)`` per object (Flux and External Secrets
  objects have no schema there and are counted as skipped);
- the floor: ``yaml.load_all(text, Loader=yaml.CSafeLoader)`` over the same rendered YAML (the peer
  pipeline's kustomize and Helm output, dumped once, untimed), best of ``--repeat``.

It prints one table per N plus the ratios. Benchmarks only: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fleet import DEFAULT_SHARED, cluster_name, make_fleet, validate_command

KUBE_VERSION = "1.33"
STAGE_ORDER = ["load", "crds", "cache", "kustomize", "builds", "helm", "schemas", "rules", "repository"]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# ---------------------------------------------------------------- measuring a child process


@dataclass
class Run:
    """One child process: wall seconds, CPU seconds, peak RSS (MiB) and exit code."""

    wall: float
    cpu: float
    rss_mib: float
    code: int
    stdout: str = ""
    stderr: str = ""
    stats: dict[str, Any] = field(default_factory=dict)


def measure(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run ``cmd`` and return its own rusage (``os.wait4``: ru_maxrss in KiB on Linux)."""
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}.out"
    err_path = out_path.with_suffix(".err")
    with out_path.open("w") as out, err_path.open("w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = out_path.read_text(), err_path.read_text()
    out_path.unlink()
    err_path.unlink()
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, stdout, stderr)


# ---------------------------------------------------------------- the peer pipeline (runs in a child)


def _flux_paths(cluster_dir: Path) -> list[tuple[str, dict[str, str]]]:
    """(path, postBuild substitute) of every Flux Kustomization in the cluster's prefect.yaml."""
    found = []
    for doc in yaml.safe_load_all((cluster_dir / "prefect" / "prefect.yaml").read_text()):
        if doc and doc.get("kind") == "Kustomization" and doc.get("apiVersion", "").startswith("kustomize.toolkit"):
            spec = doc["spec"]
            subst = {k: str(v) for k, v in ((spec.get("postBuild") or {}).get("substitute") or {}).items()}
            found.append((spec["path"], subst))
    return found


def _substitute(text: str, variables: dict[str, str]) -> str:
    """Flux postBuild, the simple way a script does it: ``${VAR}`` replaced when VAR is defined."""
    return _VAR.sub(lambda m: variables.get(m[1], m[0]), text)


def _render_release(release: dict[str, Any], charts: Path) -> list[str]:
    """The manifests of one HelmRelease, rendered with helm-python-sdk's public API."""
    import helm_python

    spec = release["spec"]
    chart_spec = spec["chart"]["spec"]
    archive = charts / f"{chart_spec['chart']}-{chart_spec['version']}.tgz"
    namespace = spec.get("targetNamespace") or release["metadata"]["namespace"]
    name = spec.get("releaseName") or (
        f"{spec['targetNamespace']}-{release['metadata']['name']}"
        if spec.get("targetNamespace")
        else release["metadata"]["name"]
    )
    chart = helm_python.Chart.load(archive)  # loaded per release: the sdk mutates a chart's values on render
    manifests = chart.render(spec.get("values") or {}, name=name, namespace=namespace, is_install=True)
    return [
        text
        for template, text in sorted(manifests.items())
        if template.endswith((".yaml", ".yml", ".json")) and not template.endswith("NOTES.txt")
    ]


def peer(repo: Path, charts: Path, render_only: bool = False, dump: Path | None = None) -> dict[str, Any]:
    """The peer pipeline over every cluster of ``repo``; counts and per-stage seconds."""
    import kubernetes_validate

    stages = {"kustomize": 0.0, "helm": 0.0, "validate": 0.0}
    counts = {"objects": 0, "valid": 0, "invalid": 0, "skipped": 0, "errors": 0, "kustomize_builds": 0, "releases": 0}
    texts: list[str] = []
    problems: list[str] = []
    started = time.perf_counter()
    clusters = sorted(p for p in (repo / "clusters").iterdir() if (p / "prefect" / "prefect.yaml").is_file())
    for cluster_dir in clusters:
        targets = [(str(cluster_dir.relative_to(repo) / "prefect"), {}), *_flux_paths(cluster_dir)]
        objects: list[dict[str, Any]] = []
        for path, variables in targets:
            t = time.perf_counter()
            built = subprocess.run(["kubectl", "kustomize", path], cwd=repo, capture_output=True, text=True, check=True)
            text = _substitute(built.stdout, variables)
            docs = [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d]
            stages["kustomize"] += time.perf_counter() - t
            counts["kustomize_builds"] += 1
            texts.append(text)
            objects += docs
            t = time.perf_counter()
            for doc in docs:
                if doc.get("kind") == "HelmRelease":
                    rendered = _render_release(doc, charts)
                    counts["releases"] += 1
                    texts += rendered
                    for manifest in rendered:
                        objects += [d for d in yaml.load_all(manifest, Loader=yaml.CSafeLoader) if d]
            stages["helm"] += time.perf_counter() - t
        counts["objects"] += len(objects)
        if render_only:
            continue
        t = time.perf_counter()
        for obj in objects:
            try:
                kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
                counts["valid"] += 1
            except kubernetes_validate.SchemaNotFoundError:
                counts["skipped"] += 1
            except kubernetes_validate.ValidationError as exc:
                counts["invalid"] += 1
                problems.append(f"{cluster_dir.name} {obj.get('kind')}/{obj['metadata'].get('name')}: {exc}"[:200])
            except Exception as exc:  # a peer tool crashing on an object is a result too
                counts["errors"] += 1
                problems.append(f"{cluster_dir.name} {obj.get('kind')}: {type(exc).__name__}: {exc}"[:200])
        stages["validate"] += time.perf_counter() - t
    seconds = time.perf_counter() - started
    if dump is not None:  # after the clock stopped
        dump.write_text("".join(t if t.endswith("\n") else t + "\n" for t in (f"---\n{x}" for x in texts)))
    return {
        "clusters": len(clusters),
        **counts,
        "seconds": round(seconds, 3),
        "stages": {k: round(v, 3) for k, v in stages.items()},
        "problems": problems[:5],
    }


# ---------------------------------------------------------------- the floor


def floor(text: str, repeat: int) -> tuple[float, int]:
    """Best-of-``repeat`` seconds to parse ``text`` with CSafeLoader, and the documents found."""
    best, count = float("inf"), 0
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        count = sum(1 for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d is not None)
        best = min(best, time.perf_counter() - t)
    return best, count


# ---------------------------------------------------------------- gitopsgen runs


def run_gitopsgen(
    fleet: Path, shared: Path, cache: Path, report: Path, extra: tuple[str, ...] = (), batch: bool = True
) -> Run:
    env = {**os.environ, "GITOPSGEN_CACHE_DIR": str(cache), "GITOPSGEN_KUSTOMIZE_BATCH": "1" if batch else "0"}
    run = measure([*validate_command(fleet, shared, report), *extra], env=env)
    if run.code not in (0, 1):
        raise SystemExit(f"gitopsgen validate exited {run.code}:\n{run.stderr}")
    run.stats = json.loads(report.read_text())["summary"]["stats"]
    return run


def has_changed_since() -> bool:
    out = subprocess.run([sys.executable, "-m", "gitopsgen.cli", "validate", "--help"], capture_output=True, text=True)
    return "--changed-since" in out.stdout


def change_one_cluster(fleet: Path) -> list[str]:
    """What a user does to change one cluster: edit its intent (the etl pool's replicas + 1), run
    ``gitopsgen generate``, commit. Returns the files the commit changed."""
    rel = f"intent/clusters/{cluster_name(0)}.yaml"
    path = fleet / rel
    text = path.read_text()
    match = re.search(r"(- name: etl\n(?:    .*\n|      .*\n)*?    replicas: )(\d+)", text)
    if match is None:
        raise SystemExit(f"{rel}: no etl pool replicas to change")
    path.write_text(text[: match.start(2)] + str(int(match.group(2)) + 1) + text[match.end(2) :])
    proc = subprocess.run(
        [sys.executable, "-m", "gitopsgen.cli", "generate", "--repo", str(fleet)], capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"gitopsgen generate failed:\n{proc.stderr}")
    repo = git.Repo(fleet)
    repo.git.add(A=True)
    repo.index.commit("benchmark: change one cluster")
    return sorted(repo.head.commit.stats.files)


def undo_changes(fleet: Path, count: int) -> None:
    git.Repo(fleet).git.reset("--hard", f"HEAD~{count}")


# ---------------------------------------------------------------- report


def machine() -> list[str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:", 1)[1].split()[0])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    kubectl = subprocess.run(["kubectl", "version", "--client", "-o", "json"], capture_output=True, text=True)
    try:
        kver = json.loads(kubectl.stdout)["clientVersion"]["gitVersion"]
    except (ValueError, KeyError):
        kver = "?"
    try:
        here = git.Repo(Path(__file__).resolve().parents[1])
        rev = here.head.commit.hexsha[:8] + (" + uncommitted changes" if here.is_dirty() else "")
    except (git.InvalidGitRepositoryError, ValueError):
        rev = "?"
    from importlib.metadata import version

    return [
        f"machine: {len(os.sched_getaffinity(0))} CPUs (nproc), {model}, {mem} RAM, {platform.platform()}, "
        f"load average {_load()} at the start",
        f"python {platform.python_version()}, kubectl {kver}, helm-python-sdk {version('helm-python-sdk')}, "
        f"kubernetes-validate {version('kubernetes-validate')}, PyYAML {yaml.__version__} "
        f"(libyaml {'yes' if yaml.__with_libyaml__ else 'no'}), gitopsgen at {rev}",
    ]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _stages(stats: dict[str, Any]) -> dict[str, float]:
    stages = dict(stats.get("stages") or {})
    order = [k for k in STAGE_ORDER if k in stages] + sorted(k for k in stages if k not in STAGE_ORDER)
    return {k: float(stages[k]) for k in order}


def _row(label: str, run: Run | None, objects: int, stages: dict[str, float]) -> str:
    if run is None:
        return f"| {label} | - | - | - | - | - | - | - |"
    rate = objects / run.wall if run.wall else 0.0
    st = ", ".join(f"{k} {v:.2f}" for k, v in stages.items()) or "-"
    if stages and "seconds" in run.stats:  # in-process time no stage accounts for (e.g. CRD/schema set-up)
        st += f", unstaged {float(run.stats['seconds']) - sum(stages.values()):.2f}"
    inner = f"{float(run.stats['seconds']):.2f}" if "seconds" in run.stats else ""
    return (
        f"| {label} | {run.wall:.2f} | {inner} | {run.cpu:.2f} | {run.rss_mib:.0f} | {objects} | {rate:,.0f} | {st} |"
    )


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}x" if a and b else "-"


def table(n: int, res: dict[str, Any]) -> Iterator[str]:
    cold, warm, changed, peer_run = res["cold"], res["warm"], res.get("changed"), res.get("peer")
    yield f"\n### N = {n} clusters ({cold.stats['objects']} objects by gitopsgen, "
    yield f"{cold.stats['objects'] / n:.1f} per cluster)\n\n"
    yield "| run | wall s | in-process s | CPU s | peak RSS MiB | objects | objects/s | stages (s) |\n"
    yield "|---|---:|---:|---:|---:|---:|---:|---|\n"
    unbatched = res.get("unbatched")
    if unbatched is not None:
        label = "gitopsgen cold, one kustomize run each"
        yield _row(label, unbatched, unbatched.stats["objects"], _stages(unbatched.stats)) + "\n"
    yield _row("gitopsgen cold", cold, cold.stats["objects"], _stages(cold.stats)) + "\n"
    yield _row(f"gitopsgen warm (best of {res['repeat']})", warm, warm.stats["objects"], _stages(warm.stats)) + "\n"
    one = res.get("one")
    if one is not None:
        yield _row("gitopsgen warm, 1 cluster changed", one, one.stats["objects"], _stages(one.stats)) + "\n"
    if changed is not None:
        yield _row("gitopsgen --changed-since (1 cluster)", changed, changed.stats["objects"], _stages(changed.stats))
        yield "\n"
    if peer_run is not None:
        p = peer_run.stats
        yield _row("peer pipeline", peer_run, p["objects"], {k: float(v) for k, v in p["stages"].items()}) + "\n"
    yield f"| floor: CSafeLoader parse | {res['floor_s']:.3f} | {res['floor_s']:.3f} | | | {res['floor_docs']} | "
    yield f"{res['floor_docs'] / res['floor_s']:,.0f} | |\n\n"
    g_rate = cold.stats["objects"] / cold.wall
    w_rate = warm.stats["objects"] / warm.wall
    if peer_run is not None:
        p = peer_run.stats
        p_rate = p["objects"] / peer_run.wall
        yield f"- peer: {p['objects']} objects ({p['valid']} valid, {p['invalid']} invalid, {p['skipped']} skipped"
        yield f" as custom resources, {p['errors']} errors), {p['kustomize_builds']} kustomize builds, "
        yield f"{p['releases']} Helm renders\n"
        yield f"- gitopsgen objects/s ÷ peer objects/s: cold {_ratio(g_rate, p_rate)}, warm {_ratio(w_rate, p_rate)}\n"
        yield f"- cold ratio (peer wall ÷ gitopsgen cold wall): {_ratio(peer_run.wall, cold.wall)}"
        if unbatched is not None:
            yield f" (one kustomize run each: {_ratio(peer_run.wall, unbatched.wall)})"
        yield "\n"
    for label, run in (("cold", cold), ("cold, one kustomize run each", unbatched), ("peer", peer_run)):
        if run is None:
            continue
        kustomize_runs = run.stats.get("kustomize_runs", run.stats.get("kustomize_builds"))
        per = f"{kustomize_runs / n:.1f} kustomize processes per cluster, " if kustomize_runs is not None else ""
        cores = len(os.sched_getaffinity(0))
        yield f"- {label}: {per}CPU utilisation {run.cpu / run.wall:.2f} of {cores} cores (CPU s ÷ wall s)\n"
    fs = res["floor_s"]
    yield f"- gitopsgen schema stage ÷ floor: cold {_ratio(_stages(cold.stats).get('schemas'), fs)}, "
    yield f"warm {_ratio(_stages(warm.stats).get('schemas'), fs)}\n"
    yield f"- gitopsgen warm wall ÷ floor: {_ratio(warm.wall, fs)}\n"
    yield f"- first ÷ second run (wall): {_ratio(cold.wall, res['second'].wall)}\n"
    if one is not None:
        yield f"- whole run after one cluster changed: {one.wall:.2f} s wall, "
        yield f"{one.stats.get('clusters_cached', 0)} of {one.stats['clusters']} clusters from the cache "
        yield f"(changed files: {', '.join(res['one_files'])})\n"
    if changed is not None:
        yield f"- --changed-since with one cluster changed: {changed.wall:.2f} s wall "
        yield f"({changed.stats['clusters']} cluster validated, "
        yield f"{changed.stats.get('clusters_cached', 0)} from the cache)\n"
    yield f"- load average after this size: {_load()} (other work on the machine skews wall times; CPU s less)\n"
    if cold.stats["objects"] != res["floor_docs"]:
        yield f"- note: gitopsgen validated {cold.stats['objects']} objects, the rendered YAML holds "
        yield f"{res['floor_docs']} documents\n"


# ---------------------------------------------------------------- driver


def bench_size(n: int, args: argparse.Namespace, peer_sizes: set[int], changed_since: bool) -> dict[str, Any]:
    work: Path = args.work
    fleet = work / f"fleet-{n}-p{args.pools}"
    t = time.perf_counter()
    made = make_fleet(fleet, n, args.pools)
    print(f"[N={n}] fleet {'made' if made else 'reused'} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    cache = work / f"cache-{n}"
    shutil.rmtree(cache, ignore_errors=True)
    report = work / f"report-{n}-cold.json"  # the JSON reports stay for a look at findings and stats
    res: dict[str, Any] = {"repeat": args.repeat}
    if args.unbatched:  # the cold run as before issue 16: one kustomize process per Flux Kustomization
        res["unbatched"] = run_gitopsgen(
            fleet, args.shared, cache, report.with_name(f"report-{n}-cold-1.json"), (), False
        )
        print(f"[N={n}] gitopsgen cold, one kustomize run each {res['unbatched'].wall:.1f} s", file=sys.stderr)
        shutil.rmtree(cache, ignore_errors=True)
    res["cold"] = run_gitopsgen(fleet, args.shared, cache, report)
    print(f"[N={n}] gitopsgen cold {res['cold'].wall:.1f} s", file=sys.stderr)
    report = report.with_name(f"report-{n}-warm.json")
    warm_runs = [run_gitopsgen(fleet, args.shared, cache, report) for _ in range(max(1, args.repeat))]
    res["second"] = warm_runs[0]
    res["warm"] = min(warm_runs, key=lambda r: r.wall)
    print(f"[N={n}] gitopsgen warm {res['warm'].wall:.1f} s", file=sys.stderr)
    commits = 0
    try:
        res["one_files"] = change_one_cluster(fleet)
        commits += 1
        report = report.with_name(f"report-{n}-one-changed.json")
        res["one"] = run_gitopsgen(fleet, args.shared, cache, report)
        print(f"[N={n}] gitopsgen, one cluster changed {res['one'].wall:.1f} s", file=sys.stderr)
        if changed_since:
            change_one_cluster(fleet)
            commits += 1
            report = report.with_name(f"report-{n}-changed.json")
            res["changed"] = run_gitopsgen(fleet, args.shared, cache, report, ("--changed-since", "HEAD~1"))
            print(f"[N={n}] gitopsgen --changed-since {res['changed'].wall:.1f} s", file=sys.stderr)
    finally:
        if commits:
            undo_changes(fleet, commits)
    dump = work / f"rendered-{n}-p{args.pools}.yaml"
    me = [sys.executable, str(Path(__file__).resolve()), "--peer-only", str(fleet), "--shared", str(args.shared)]
    if not args.skip_peer and n in peer_sizes:
        run = measure([*me, "--dump", str(dump)])
        if run.code:
            raise SystemExit(f"peer pipeline exited {run.code}:\n{run.stderr}")
        run.stats = json.loads(run.stdout)
        res["peer"] = run
        print(f"[N={n}] peer pipeline {run.wall:.1f} s", file=sys.stderr)
    elif not dump.is_file() or made:
        if subprocess.run([*me, "--render-only", "--dump", str(dump)], stdout=subprocess.DEVNULL).returncode:
            raise SystemExit("peer render (for the floor) failed")
    res["floor_s"], res["floor_docs"] = floor(dump.read_text(), args.repeat)
    return res


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10,50,100", help="fleet sizes, comma-separated")
    parser.add_argument("--peer-sizes", help="sizes that also run the peer pipeline (default: all of --sizes)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/gitopsgen-bench"), help="fleets, caches, reports")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the project's shared data")
    parser.add_argument("--pools", type=int, default=3, help="work pools per cluster (make_fleet.py --pools)")
    parser.add_argument("--skip-peer", action="store_true", help="no peer pipeline runs")
    parser.add_argument(
        "--unbatched",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also a cold run with one kustomize process per Flux Kustomization (GITOPSGEN_KUSTOMIZE_BATCH=0)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="warm gitopsgen runs and floor parses (best kept)")
    parser.add_argument("--peer-only", type=Path, metavar="DIR", help="run the peer pipeline on DIR, print JSON")
    parser.add_argument("--render-only", action="store_true", help="with --peer-only: no kubernetes-validate")
    parser.add_argument("--dump", type=Path, help="with --peer-only: write the rendered YAML here (untimed)")
    args = parser.parse_args(argv)
    args.shared = args.shared.resolve()
    if args.peer_only:
        result = peer(args.peer_only.resolve(), args.shared / "helm-repo", args.render_only, args.dump)
        print(json.dumps(result, indent=2))
        return
    for needed in ("flux-crds", "external-secrets-crds", "helm-repo"):
        if not (args.shared / needed).is_dir():
            raise SystemExit(f"needs {args.shared / needed} (--shared)")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    peer_sizes = {int(s) for s in args.peer_sizes.split(",")} if args.peer_sizes else set(sizes)
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    changed_since = has_changed_since()
    lines = [f"{time.strftime('%Y-%m-%d %H:%M %Z')}", *machine()]
    lines.append(
        f"fleets: make_fleet.py, {args.pools} pools per cluster; cold = empty GITOPSGEN_CACHE_DIR (charts copied "
        "from the local --helm-mirror, CRDs from --crds); warm = same cache again"
        + ("" if changed_since else "; this gitopsgen has no validate --changed-since")
    )
    print("\n".join(lines), flush=True)
    for n in sizes:
        res = bench_size(n, args, peer_sizes, changed_since)
        print("".join(table(n, res)), end="", flush=True)


if __name__ == "__main__":
    main()
