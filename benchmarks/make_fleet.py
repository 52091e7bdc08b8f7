"""Benchmark fleet maker: a git repository of N generated clusters, written in-process in seconds.

``python benchmarks/make_fleet.py DIR --clusters N [--pools P]`` runs ``gitopsgen init`` (registry
harbor.example.com, secret store vault-backend) and N ``add-cluster`` commands through the click CLI
in this process (about 60 ms a cluster), then commits the tree with GitPython so ``--changed-since``
runs have a base to compare with. Clusters alternate single and ha servers; every one has ingress
with TLS and basic auth, P work pools (default 3; see :data:`POOLS`) and a flow image followed by
image automation. With the shared data present it then validates the fleet once and prints the
rendered objects per cluster.

A directory whose HEAD commit was made by this tool for the same N and P is reused as it is
(:func:`is_fleet`); any other existing directory is refused. Benchmarks only: nothing here is a test.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import git

from gitopsgen.cli import cli

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = Path(os.environ.get("GITOPSGEN_SHARED", REPO_ROOT.parent / "shared"))
CHART_URL = "https://prefecthq.github.io/prefect-helm"

INIT_ARGS = [
    "init",
    "--registry", "harbor.example.com",
    "--secret-store", "vault-backend",
    "--git-url", "ssh://git@gitlab.example.com/platform/fleet.git",
]  # fmt: skip

POOLS = [
    "etl:queues=default+high,replicas=2,namespace=prefect-etl",
    "ml:namespace=prefect-ml,cpu=2,memory=8Gi",
    "reports:namespace=prefect-reports,ttl=600",
    "ops:namespace=prefect-ops,cpu=500m,memory=1Gi,memory-limit=2Gi",
]
HA_ARGS = [
    "--server-mode", "ha", "--server-replicas", "3",
    "--database-secret", "prefect-db", "--redis", "bundled", "--redis-secret", "prefect-redis",
]  # fmt: skip
SINGLE_ARGS = ["--server-mode", "single"]


def cluster_name(index: int) -> str:
    """``cluster-007``: zero-padded so the clusters sort in creation order."""
    return f"cluster-{index:03d}"


def add_cluster_args(index: int, pools: int) -> list[str]:
    """The ``add-cluster`` arguments of cluster ``index``: even indexes single, odd ones ha."""
    name = cluster_name(index)
    args = ["add-cluster", name, *(HA_ARGS if index % 2 else SINGLE_ARGS)]
    args += [
        "--ingress-host", f"prefect.{name}.example.com", "--ingress-class", "nginx",
        "--tls-secret", "prefect-tls", "--auth-secret", "prefect-basic-auth",
    ]  # fmt: skip
    for spec in POOLS[:pools]:
        args += ["--worker-pool", spec]
    args += ["--flow-image", "harbor.example.com/data/flows:1.4.2", "--image-policy", ">=1.4.0 <2.0.0"]
    return args


def commit_message(clusters: int, pools: int) -> str:
    return f"benchmark fleet: {clusters} clusters, {pools} pools"


def is_fleet(path: Path, clusters: int, pools: int) -> bool:
    """Whether ``path`` is a fleet this tool made for the same sizes, with a clean work tree."""
    try:
        repo = git.Repo(path)
        return repo.head.commit.message.strip() == commit_message(clusters, pools) and not repo.is_dirty(
            untracked_files=True
        )
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return False


def _gitopsgen(args: list[str]) -> None:
    """One gitopsgen command in this process; its "wrote …" lines are swallowed."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli.main(args, prog_name="gitopsgen", standalone_mode=False)


def make_fleet(path: Path, clusters: int, pools: int = 3) -> bool:
    """Write and commit the fleet at ``path``; False when an identical one was already there."""
    if not 1 <= pools <= len(POOLS):
        raise SystemExit(f"--pools must be between 1 and {len(POOLS)}")
    path = path.resolve()
    if is_fleet(path, clusters, pools):
        return False
    if path.exists() and any(path.iterdir()):
        raise SystemExit(f"{path}: exists and is not a benchmark fleet of {clusters} clusters, {pools} pools")
    path.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Benchmark")
        cw.set_value("user", "email", "benchmark@example.com")
    _gitopsgen([*INIT_ARGS, "--repo", str(path)])
    for index in range(clusters):
        _gitopsgen([*add_cluster_args(index, pools), "--repo", str(path)])
    repo.git.add(A=True)
    repo.index.commit(commit_message(clusters, pools))
    return True


def validate_command(path: Path, shared: Path, output: Path) -> list[str]:
    """``gitopsgen validate`` of a fleet with the shared CRDs and the local chart mirror, JSON report."""
    return [
        sys.executable, "-m", "gitopsgen.cli", "validate", str(path), "--format", "json", "--output", str(output),
        "--crds", str(shared / "flux-crds"), "--crds", str(shared / "external-secrets-crds"),
        "--helm-mirror", f"{CHART_URL}={shared / 'helm-repo'}",
    ]  # fmt: skip


def count_objects(path: Path, shared: Path) -> dict[str, object]:
    """Validate the fleet once (throw-away cache) and return the report's stats."""
    with tempfile.TemporaryDirectory(prefix="gitopsgen-bench-") as tmp:
        out = Path(tmp) / "report.json"
        env = {**os.environ, "GITOPSGEN_CACHE_DIR": str(Path(tmp) / "cache")}
        proc = subprocess.run(validate_command(path, shared, out), env=env, capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"gitopsgen validate exited {proc.returncode}:\n{proc.stderr}")
        return dict(json.loads(out.read_text())["summary"]["stats"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--clusters", type=int, required=True)
    parser.add_argument("--pools", type=int, default=3, help="work pools per cluster (1-4, default 3)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the project's shared data")
    parser.add_argument("--no-count", action="store_true", help="skip the validate run that counts objects")
    args = parser.parse_args(argv)
    made = make_fleet(args.dir, args.clusters, args.pools)
    print(f"{'made' if made else 'reused'} {args.dir}: {args.clusters} clusters, {args.pools} pools")
    if args.no_count:
        return
    if not (args.shared / "helm-repo").is_dir():
        print(f"not counting objects: {args.shared}/helm-repo is absent (--shared)")
        return
    stats = count_objects(args.dir, args.shared)
    objects, clusters = int(stats["objects"]), int(stats["clusters"])  # type: ignore[call-overload]
    print(f"{objects} objects in {clusters} clusters: {objects / clusters:.1f} objects per cluster")


if __name__ == "__main__":
    main()
