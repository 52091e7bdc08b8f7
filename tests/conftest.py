"""Shared fixtures: a scaffolded fleet repository (real git), ../shared data, a local Helm repository, and
the two ways tests run the command line: in-process (:func:`run_cli`, click's test isolation around the console
script's own ``main``) and as the real console entry point in a subprocess (:func:`run_console`).

Expensive set-ups that tests only read or copy are built once per session (per pytest-xdist worker): the
scaffolded fleet (``fleet_template``, copied for each test by ``fleet``)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import git
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GITOPSGEN_SHARED", ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Tests never read or write the developer's ~/.cache/gitopsgen (CRD and chart caches)."""
    path = tmp_path_factory.mktemp("gitopsgen-cache")
    old = os.environ.get("GITOPSGEN_CACHE_DIR")
    os.environ["GITOPSGEN_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        del os.environ["GITOPSGEN_CACHE_DIR"]
    else:
        os.environ["GITOPSGEN_CACHE_DIR"] = old


def shared(*parts: str) -> Path:
    """A path in ../shared; the test is skipped (naming it) where it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's ../shared test data)")
    return path


def run_console(
    *args: str, cwd: Path | None = None, check: bool = False, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess (for what only a process shows: the interpreter's
    exit status, signals, a terminal, the environment at start-up)."""
    proc = subprocess.run(
        [sys.executable, "-m", "gitopsgen.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"gitopsgen {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def run_cli(
    *args: str,
    cwd: Path | None = None,
    check: bool = False,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the console script's ``main`` in this process, as ``gitopsgen ARGS`` would run (same argument parsing,
    same mapping of errors to exit codes and messages), with stdin/stdout/stderr, ``env`` overrides, the working
    directory and ``sys.argv`` swapped in for the call and restored after it. Returns what :func:`run_console`
    returns; an exception that escapes ``main`` (``GITOPSGEN_DEBUG=1``) exits 1 with its traceback on stderr, as
    the interpreter would."""
    from click.testing import CliRunner

    from gitopsgen import cli

    runner = CliRunner()
    code: int
    with runner.isolation(input=input, env=env) as (out, err, _):
        argv = sys.argv
        sys.argv = ["gitopsgen", *args]
        try:
            with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
                cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except Exception:
            traceback.print_exc()
            code = 1
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    proc = subprocess.CompletedProcess(["gitopsgen", *args], code, stdout, stderr)
    if check and code != 0:
        raise AssertionError(f"gitopsgen {' '.join(args)} exited {code}:\n{stderr}")
    return proc


INIT_ARGS = (
    "init",
    "--registry",
    "harbor.example.com",
    "--secret-store",
    "vault-backend",
    "--git-url",
    "ssh://git@gitlab.example.com/platform/fleet.git",
)
CLUSTER_1 = ("add-cluster", "cluster-1", "--server-mode", "single", "--worker-pool", "default")
CLUSTER_2 = (
    "add-cluster",
    "cluster-2",
    "--server-mode",
    "ha",
    "--server-replicas",
    "3",
    "--database-secret",
    "prefect-db",
    "--redis",
    "bundled",
    "--redis-secret",
    "prefect-redis",
    "--ingress-host",
    "prefect.cluster-2.example.com",
    "--ingress-class",
    "nginx",
    "--tls-secret",
    "prefect-tls",
    "--auth-secret",
    "prefect-basic-auth",
    "--worker-pool",
    "etl:queues=default+high,replicas=2,namespace=prefect-etl",
    "--worker-pool",
    "ml:namespace=prefect-ml,cpu=2,memory=8Gi,memory-limit=16Gi,ttl=600",
    "--flow-image",
    "harbor.example.com/data/flows:1.4.2",
    "--image-policy",
    ">=1.4.0 <2.0.0",
)


def copy_working_tree(target: Path) -> None:
    """This checkout's tracked and untracked-not-ignored files, as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for name in sorted(set(filter(None, listed.split("\0")))):
        source, dest = ROOT / name, target / name
        if not source.is_symlink() and not source.is_file():
            continue  # deleted but still tracked
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest, follow_symlinks=False)


def make_repo(path: Path) -> git.Repo:
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Test")
        cw.set_value("user", "email", "test@example.com")
    return repo


def _build_fleet(path: Path, *commands: tuple[str, ...]) -> None:
    """``commands`` (default: init + cluster-1 (single) + cluster-2 (ha, two pools, image automation)) run with
    the real command line in a new git repository at ``path``, committed."""
    path.mkdir(parents=True)
    repo = make_repo(path)
    for args in commands or (INIT_ARGS, CLUSTER_1, CLUSTER_2):
        run_cli(*args, "--repo", str(path), check=True)
    repo.git.add(A=True)
    repo.index.commit("fleet with two clusters" if not commands else "fleet")


@pytest.fixture(scope="session")
def fleet_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scaffolded fleet, built once per session (per xdist worker). Never modify it: use ``fleet``."""
    path = tmp_path_factory.mktemp("fleet-template") / "fleet"
    _build_fleet(path)
    return path


def copy_repo(source: Path, target: Path) -> Path:
    """A copy of the git repository ``source`` (work tree and ``.git``) at ``target``, its index refreshed (the
    copies' inodes and times differ from what the index recorded, which plumbing commands would take for
    edits)."""
    shutil.copytree(source, target, symlinks=True)
    subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=target, capture_output=True, check=False)
    return target


@pytest.fixture
def fleet(tmp_path: Path, fleet_template: Path) -> Path:
    """A git repository after init + cluster-1 (single) + cluster-2 (ha, two pools, image automation), committed:
    this test's own copy of the session's ``fleet_template``."""
    return copy_repo(fleet_template, tmp_path / "fleet")


@pytest.fixture(scope="session")
def small_fleet_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """init + cluster-1, committed, built once per session (per xdist worker). Never modify it: use
    ``small_fleet``."""
    path = tmp_path_factory.mktemp("small-fleet-template") / "fleet"
    _build_fleet(path, INIT_ARGS, CLUSTER_1)
    return path


@pytest.fixture
def small_fleet(tmp_path: Path, small_fleet_template: Path) -> Path:
    """A git repository after init + cluster-1, committed: this test's own copy of ``small_fleet_template``."""
    return copy_repo(small_fleet_template, tmp_path / "fleet")


@pytest.fixture(scope="session")
def built_fleet(tmp_path_factory: pytest.TempPathFactory, fleet_template: Path) -> Path:
    """The scaffolded fleet for the read-only render and schema tests (one copy per session)."""
    return copy_repo(fleet_template, tmp_path_factory.mktemp("built") / "fleet")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(handler: Callable[..., http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """An HTTP server on 127.0.0.1 with ``handler``, in a thread; yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """``directory`` over HTTP on 127.0.0.1; yields the base URL."""
    with serve(functools.partial(_QuietHandler, directory=str(directory))) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def helm_repo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """../shared/helm-repo served over HTTP on 127.0.0.1."""
    source = shared("helm-repo")
    served = tmp_path_factory.mktemp("helm-repo")
    for f in source.iterdir():
        shutil.copy(f, served / f.name)
    with serve_directory(served) as url:
        yield url
