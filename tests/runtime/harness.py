"""The runtime harness: a generated cluster's Prefect processes started with real parts, from what its charts render.

What it proves, and what not: the cluster is rendered by the validator's own build (kustomize, Flux's
transforms, the Helm stage with the real charts). Every Prefect process is started from a rendered container —
its args and env — with Secret references resolved to test values (:class:`SecretValues`), cluster DNS names
mapped to the local PostgreSQL, Redis and API processes, and volume mount paths mapped to temporary
directories. The image's ``/usr/bin/tini -g -- /opt/prefect/entrypoint.sh`` wrapper is replaced by running
the args directly (``prefect`` is the pinned package of the ``runtime`` extra); the migration Job's
``/bin/sh -c`` script runs under ``bash --posix`` because Debian's dash here has no ``pipefail``. The flow-run
Job is built by prefect-kubernetes' worker code (``worker_job.py``) and checked against the cluster's
rendered objects with :mod:`gitopsgen.validate.admission` and the validator's Kubernetes schemas. There is no
API server or kubelet: the harness proves a flow-run Job is *admitted and startable* (its namespace,
ServiceAccount, Secrets and ConfigMaps exist where it runs, requests fit limits, the schema holds, the worker
may manage it), not that a container runs.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
IMAGE_WRAPPER = ["/usr/bin/tini", "-g", "--", "/opt/prefect/entrypoint.sh"]
PG_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_parts() -> list[str]:
    """What the runtime layer needs and this machine lacks (empty: everything is there)."""
    missing = []
    try:
        import prefect
        import prefect_kubernetes  # noqa: F401
        import prefect_redis  # noqa: F401

        if prefect.__version__ != "3.8.3":
            missing.append(f"prefect 3.8.3 (installed: {prefect.__version__})")
    except ImportError as exc:
        missing.append(f"the runtime extra (pip install -e '.[runtime]'): {exc}")
    if not any((d / "initdb").exists() and (d / "pg_ctl").exists() for d in PG_DIRS):
        missing.append("PostgreSQL's initdb/pg_ctl (Debian package postgresql)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server (Debian package redis-server)")
    return missing


# ---------------------------------------------------------------- PostgreSQL and Redis


@dataclass
class Postgres:
    port: int
    url: str  # as Prefect takes it


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster in a temporary directory on 127.0.0.1 (run as the postgres user when we are root)."""
    bindir = next(d for d in PG_DIRS if (d / "initdb").exists())
    tmp = temp_dir("gitopsgen-pg-")
    data, sock = tmp / "pgdata", tmp / "pgsock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
        shutil.chown(sock, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def run(*argv: str) -> None:
        proc = subprocess.run([*as_user, *argv], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stdout}{proc.stderr}")

    run(str(bindir / "initdb"), "-D", str(data), "-U", "prefect", "--auth=trust", "-E", "UTF8")
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(tmp / "pg.log"), "-w", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "prefect", "prefect")
        yield Postgres(port, f"postgresql+asyncpg://prefect@127.0.0.1:{port}/prefect")
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Redis:
    port: int
    password: str


@contextlib.contextmanager
def redis(tmp: Path, password: str) -> Iterator[Redis]:
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            password,
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)
        yield Redis(port, password)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ---------------------------------------------------------------- rendered containers → processes


@dataclass
class SecretValues:
    """Test values for the Secret keys the Prefect charts read, whatever the Secret is called."""

    values: dict[str, str] = field(default_factory=dict)  # key → value

    def get(self, ref: dict[str, Any], where: str) -> str:
        key = str(ref.get("key"))
        if key not in self.values:
            raise AssertionError(f"{where}: secretKeyRef {ref.get('name')}/{key} has no test value")
        return self.values[key]


@dataclass
class Network:
    """Cluster host names (Services) → local addresses, and the local directory of each volume mount."""

    hosts: dict[str, tuple[str, int]] = field(default_factory=dict)  # "svc.ns.svc.cluster.local" → (host, port)
    mounts: dict[str, Path] = field(default_factory=dict)


def container(obj: dict[str, Any], name: str | None = None, init: bool = False) -> dict[str, Any]:
    spec = obj["spec"]["template"]["spec"]
    items = spec.get("initContainers" if init else "containers") or []
    found = [c for c in items if name is None or c["name"] == name]
    assert found, f"{obj['kind']} {obj['metadata']['name']}: no container {name}"
    return found[0]


def resolve_env(c: dict[str, Any], secrets: SecretValues, net: Network, where: str) -> dict[str, str]:
    """A rendered container's env with secretKeyRefs resolved to test values and mount paths made local."""
    env: dict[str, str] = {}
    for item in c.get("env") or []:
        if "value" in item:
            value = str(item["value"])
        else:
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            assert ref, f"{where}: env {item['name']} is neither a value nor a secretKeyRef: {item}"
            value = secrets.get(ref, f"{where} env {item['name']}")
        env[item["name"]] = local_path(value, net.mounts)
    assert not c.get("envFrom"), f"{where}: envFrom is not resolved by the harness: {c['envFrom']}"
    return env


def local_path(value: str, mounts: dict[str, Path]) -> str:
    """``value`` with a path under a volume mount (alone, or in a ``sqlite:////path`` URL) moved to its local
    directory (the longest mount that matches; once)."""
    prefix, path = (
        ("sqlite+aiosqlite:///", value[len("sqlite+aiosqlite:///") :])
        if value.startswith("sqlite+aiosqlite:////")
        else ("", value)
    )
    for mount in sorted(mounts, key=len, reverse=True):
        if path == mount or path.startswith(mount.rstrip("/") + "/"):
            return prefix + str(mounts[mount]) + path[len(mount) :]
    return value


def base_env(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    keep["PATH"] = f"{BIN}{os.pathsep}{keep.get('PATH', '/usr/bin:/bin')}"
    keep["HOME"] = str(home)
    return keep


def command_of(c: dict[str, Any]) -> list[str]:
    """The rendered command + args as run here: the image's tini/entrypoint wrapper dropped, ``prefect`` from the
    pinned package, ``/bin/sh -c`` scripts under ``bash --posix``."""
    command, args = list(c.get("command") or []), [str(a) for a in c.get("args") or []]
    if command == IMAGE_WRAPPER:
        command = []
    elif command == ["/bin/sh", "-c"]:
        command = ["bash", "--posix", "-c"]
    argv = command + args
    if argv and argv[0] == "prefect":
        argv[0] = str(BIN / "prefect")
    return argv


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str = ""
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = Path(".")
    crashes: list[str] = field(default_factory=list)  # log tails of earlier runs the kubelet would restart

    def restart(self) -> None:
        """Start again after a crash, as the kubelet restarts a Deployment's container (restartPolicy: Always)."""
        self.crashes.append(self.tail())
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def auth_header(auth: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}


def wait_healthy(p: Process, auth: str, timeout: float = 150, restarts: int = 2) -> None:
    """Wait for ``/health``; a process that exits is restarted up to ``restarts`` times, as the kubelet would
    (each crash is kept in ``p.crashes`` for the test to report)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.proc.poll() is not None:
            if len(p.crashes) < restarts:
                p.restart()
                continue
            raise AssertionError(f"{p.name} exited with {p.proc.returncode} ({len(p.crashes)} restarts):\n{p.tail()}")
        with contextlib.suppress(OSError, urllib.error.URLError):
            req = urllib.request.Request(p.url + "/health", headers=auth_header(auth))
            with urllib.request.urlopen(req, timeout=2) as resp:
                if resp.status == 200:
                    return
        time.sleep(0.3)
    raise AssertionError(f"{p.name} not healthy at {p.url}/health after {timeout}s:\n{p.tail()}")


def wait_ready(p: Process, path: str, timeout: float, restarts: int = 2) -> bool:
    """Whether ``p`` answers its readiness probe (``path`` below its API URL) within ``timeout``, as Helm's wait
    sees it: a process that exits is restarted, as the kubelet restarts the container (each crash kept in
    ``p.crashes``), and the wait goes on; one that crashed again after ``restarts`` restarts is in a crash loop
    and never ready (False; it is restarted once more, as the kubelet would)."""
    deadline = time.monotonic() + timeout
    budget = len(p.crashes) + restarts
    while time.monotonic() < deadline:
        if p.proc.poll() is not None:
            crash_loop = len(p.crashes) >= budget
            p.restart()
            if crash_loop:
                return False
            continue
        with contextlib.suppress(OSError, urllib.error.URLError):
            with urllib.request.urlopen(p.url + path, timeout=2) as resp:
                if resp.status == 200:
                    return True
        time.sleep(0.5)
    return False


def api_get(url: str, auth: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers=auth_header(auth))
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


class Processes:
    """Started processes, stopped (terminate, then kill) when the block ends."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[Process] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, url: str = "") -> Process:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        p = Process(name, proc, log, url, argv, env, cwd)
        self.started.append(p)
        return p

    def stop(self) -> None:
        for p in reversed(self.started):
            if p.proc.poll() is None:
                p.proc.terminate()
        for p in self.started:
            try:
                p.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.proc.kill()
                p.proc.wait()


def run_to_end(argv: list[str], env: dict[str, str], cwd: Path, what: str, timeout: float = 120) -> str:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{what} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


# ---------------------------------------------------------------- the Kubernetes API the worker posts to


class JobRecorder(http.server.BaseHTTPRequestHandler):
    """Receives the worker's ``POST /apis/batch/v1/namespaces/NS/jobs`` and answers as the API server would
    (201 with the object), keeping the body. Nothing else is served."""

    posted: list[tuple[str, dict[str, Any]]]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:3] != ["apis", "batch", "v1"] or len(parts) != 6 or parts[3] != "namespaces" or parts[5] != "jobs":
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        type(self).posted.append((parts[4], body))
        answer = json.loads(json.dumps(body))
        meta = answer.setdefault("metadata", {})
        meta.setdefault("name", f"{meta.get('generateName', 'job-')}x1")
        meta.setdefault("namespace", parts[4])
        meta["uid"] = "00000000-0000-0000-0000-000000000001"
        data = json.dumps(answer).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def recorder_class() -> type[JobRecorder]:
    return type("Recorder", (JobRecorder,), {"posted": []})


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
