"""Hostile repositories through the real ``gitopsgen validate`` command (issue 6).

What this module owns: every hostile case of the issue, end to end. Each test writes a small
repository containing one case, runs the console entry point in a subprocess and asserts:

- the outcome is findings: exit 0 or 1, no traceback, no "internal error" (which exits 2);
- the expected rule ID at the expected file (and line);
- bounded time (the subprocess has a timeout) and memory (it runs under ``RLIMIT_DATA`` = 1 GiB, so an
  expansion that blows up fails the test instead of the machine; see MEMORY_LIMIT for why not RLIMIT_AS);
- no read outside the repository: the subprocess runs a small wrapper that installs a ``sys`` audit
  hook and logs every file opened or directory listed whose real path is not under the repository,
  the caches, its own temporary directory or the Python installation; the log must stay empty;
- nothing from the repository runs (an exec plugin would touch a marker file) and nothing of a
  hostile chart archive is extracted.

The in-process engine tests of the same cases (with their own audit) are in
``tests/validate/test_validate_engine.py``; the archive checks in ``tests/validate/test_charts.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import resource
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import serve_directory

pytestmark = pytest.mark.slow  # a bounded subprocess (kustomize under it) per hostile case

# RLIMIT_DATA of the validate subprocess (and of kustomize/kubectl under it): writable private memory (heap and
# anonymous mappings), which is what an expansion consumes. Not RLIMIT_AS: the Go runtime of helm-python-sdk and the
# per-thread malloc arenas reserve address space they never use (VmPeak 1.8 GB at 105 MB resident on a two-cluster
# run), so a 1 GiB RLIMIT_AS made clean runs fail at random ("can't start new thread", a .so failing to map).
MEMORY_LIMIT = 1024 * 1024 * 1024
TIMEOUT = 60  # seconds; a hang is a failure

# Runs `gitopsgen` like the console script, with an audit hook logging every open/listing outside the allowed trees.
AUDIT_WRAPPER = r"""
import os, sys

def _real(p):
    return os.path.realpath(os.path.abspath(p))

allowed = [_real(p) for p in os.environ["HOSTILE_ALLOW"].split(os.pathsep) if p]
allowed += [_real(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, os.devnull, "/usr/share/zoneinfo")]
allowed += [_real(p) for p in sys.path if p and os.path.isabs(p)]
import gitopsgen
allowed.append(_real(os.path.dirname(gitopsgen.__file__)))
allowed = tuple(sorted(set(allowed)))
log = open(os.environ["HOSTILE_AUDIT_LOG"], "w", buffering=1)

def _allowed(path):
    return any(path == a or path.startswith(a.rstrip(os.sep) + os.sep) for a in allowed)

def hook(event, args):
    if event not in ("open", "os.listdir", "os.scandir") or not args:
        return
    target = args[0]
    if isinstance(target, int) or not isinstance(target, (str, bytes, os.PathLike)):
        return
    path = os.fsdecode(target)
    real = _real(path)
    if not _allowed(real):
        log.write(f"{event} {path} -> {real}\n")

sys.addaudithook(hook)
from gitopsgen.cli import main
sys.argv = ["gitopsgen", *sys.argv[1:]]
main()
"""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    outside_reads: list[str]

    @property
    def findings(self) -> list[dict[str, Any]]:
        return json.loads(self.proc.stdout)["findings"]

    def triples(self, rule: str) -> set[tuple[str, str, int]]:
        return {(f["rule"], f["file"], f["line"]) for f in self.findings if f["rule"] == rule}

    def show(self) -> str:
        return f"exit {self.proc.returncode}\nstdout:\n{self.proc.stdout[-4000:]}\nstderr:\n{self.proc.stderr[-4000:]}"


def validate(tmp_path: Path, root: Path, *args: str, allow: tuple[Path, ...] = ()) -> Run:
    """``gitopsgen validate ROOT --format json ARGS`` under the audit wrapper, 1 GiB of address space, a timeout."""
    cache = tmp_path / "cache"
    tmp = tmp_path / "tmp"
    cwd = tmp_path / "cwd"
    for d in (cache, tmp, cwd):
        d.mkdir(exist_ok=True)
    log = tmp_path / "audit.log"
    env = {
        **os.environ,
        "GITOPSGEN_CACHE_DIR": str(cache),
        "TMPDIR": str(tmp),
        "HOSTILE_AUDIT_LOG": str(log),
        "HOSTILE_ALLOW": os.pathsep.join(str(p) for p in (root, cache, tmp, cwd, *allow)),
    }
    env.pop("GITOPSGEN_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-P", "-c", AUDIT_WRAPPER, "validate", str(root), "--format", "json", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=_limit_memory,
    )
    reads = log.read_text().splitlines() if log.exists() else []
    return Run(proc, reads)


def assert_findings_not_a_crash(run: Run) -> None:
    assert run.proc.returncode in (0, 1), run.show()
    assert "Traceback" not in run.proc.stderr and "internal error" not in run.proc.stderr, run.show()
    assert run.outside_reads == [], "read outside the repository:\n" + "\n".join(run.outside_reads)
    assert not any(f["file"].startswith(("/", "..")) for f in run.findings), run.show()


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


# ---------------------------------------------------------------- the cases

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n  namespace: apps\ndata:\n  a: b\n"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:latest
"""
BASELINE = {"clusters/c1/app.yaml": DEPLOYMENT}  # in every repository: its S005 warning shows the rest was validated
S005 = {("S005", "clusters/c1/app.yaml", 17)}


def billion_laughs() -> str:
    """Ten levels of ten aliases: 10**10 strings once expanded."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def kustomization(body: str) -> str:
    return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + body


def krm_function(annotation: str) -> str:
    return (
        "apiVersion: example.com/v1\nkind: Evil\nmetadata:\n  name: evil\n  annotations:\n"
        f"    config.kubernetes.io/function: |\n{annotation}"
    )


EXEC_FUNCTION = krm_function("      exec:\n        path: ./evil.sh\n")
CONTAINER_FUNCTION = krm_function("      container:\n        image: docker.io/evil/evil:latest\n")
APP = "clusters/c2/app/kustomization.yaml"  # a cluster of its own: a blocked build blocks only that cluster
CM = {"clusters/c2/app/cm.yaml": CONFIGMAP.replace("name: ok", "name: cm")}


def evil_script(outside: Path) -> str:
    return f"#!/bin/sh\ntouch {outside}/marker\ncat\n"


@dataclass(frozen=True)
class Case:
    files: Callable[[Path], dict[str, str | bytes]]  # given the directory outside the repository
    expected: set[tuple[str, str, int]]  # (rule, file, line): exactly these findings of these rules


CASES: dict[str, Case] = {
    "billion-laughs": Case(
        lambda o: {"clusters/c1/bomb.yaml": billion_laughs()}, {("Y003", "clusters/c1/bomb.yaml", 7)}
    ),
    "nesting-flow-10000": Case(
        lambda o: {"clusters/c1/deep.yaml": "a: " + "[" * 10_000 + "]" * 10_000 + "\n"},
        {("Y003", "clusters/c1/deep.yaml", 1)},
    ),
    "nesting-flow-mappings-10000": Case(
        lambda o: {"clusters/c1/deep.yaml": "{a: " * 10_000 + "}" * 10_000 + "\n"},
        {("Y003", "clusters/c1/deep.yaml", 1)},
    ),
    "nesting-block-sequences-10000": Case(
        lambda o: {"clusters/c1/deep.yaml": "- " * 10_000 + "x\n"}, {("Y003", "clusters/c1/deep.yaml", 1)}
    ),
    "nesting-block-mappings-3000": Case(  # one space per level: 4.5 MB, under the size bound, so the depth bound acts
        lambda o: {"clusters/c1/deep.yaml": "".join(" " * i + "a:\n" for i in range(3000)) + " " * 3000 + "b\n"},
        {("Y003", "clusters/c1/deep.yaml", 101)},
    ),
    "invalid-utf8": Case(
        lambda o: {"clusters/c1/latin1.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n"},
        {("Y001", "clusters/c1/latin1.yaml", 4)},
    ),
    "png-named-yaml": Case(
        lambda o: {"clusters/c1/logo.yaml": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(1).randbytes(4096)},
        {("Y001", "clusters/c1/logo.yaml", 1)},
    ),
    "random-bytes-named-yaml": Case(
        lambda o: {"clusters/c1/noise.yml": b"\xff" + random.Random(2).randbytes(65536)},
        {("Y001", "clusters/c1/noise.yml", 1)},
    ),
    "resources-parent-outside": Case(
        # no cluster applies apps/: it is never built (F006 says so), so nothing outside is read either
        lambda o: {"apps/kustomization.yaml": kustomization("resources:\n  - ../../outside\n")},
        {("F006", "apps/kustomization.yaml", 0)},
    ),
    "resources-https-url": Case(
        lambda o: {APP: kustomization("resources:\n  - https://github.com/x/y\n")}, {("B002", APP, 4)}
    ),
    "resources-github-ref": Case(
        lambda o: {APP: kustomization("resources:\n  - github.com/x/y//z?ref=v1\n")}, {("B002", APP, 4)}
    ),
    "generators-exec-function": Case(
        lambda o: {
            APP: kustomization("resources:\n  - cm.yaml\ngenerators:\n  - fn.yaml\n"),
            **CM,
            "clusters/c2/app/fn.yaml": EXEC_FUNCTION,
            "clusters/c2/app/evil.sh": evil_script(o),
        },
        {("B002", APP, 6)},
    ),
    "generators-container-function": Case(
        lambda o: {
            APP: kustomization("resources:\n  - cm.yaml\ngenerators:\n  - fn.yaml\n"),
            **CM,
            "clusters/c2/app/fn.yaml": CONTAINER_FUNCTION,
        },
        {("B002", APP, 6)},
    ),
    "transformers-legacy-exec-plugin": Case(  # a non-builtin plugin config: kustomize would look for an executable
        lambda o: {
            APP: kustomization("resources:\n  - cm.yaml\ntransformers:\n  - plugin.yaml\n"),
            **CM,
            "clusters/c2/app/plugin.yaml": "apiVersion: someteam.example.com/v1\nkind: Evil\nmetadata:\n  name: e\n",
        },
        {("B002", APP, 6)},
    ),
    "function-config-not-a-mapping": Case(  # metadata a list: the pre-scan once crashed on it (AttributeError)
        lambda o: {
            APP: kustomization("resources:\n  - cm.yaml\ntransformers:\n  - fn.yaml\n"),
            **CM,
            "clusters/c2/app/fn.yaml": "apiVersion: builtin\nkind: LabelTransformer\nmetadata: [a]\n",
        },
        {("B001", "clusters/c2/app/fn.yaml", 1)},  # a builtin plugin: kustomize runs and refuses it
    ),
    # the pre-scan reads a plugin config again: it once did so unbounded, and str(apiVersion) ran out of memory
    "function-config-alias-bomb": Case(
        lambda o: {
            APP: kustomization("resources:\n  - cm.yaml\ngenerators:\n  - fn.yaml\n"),
            **CM,
            "clusters/c2/app/fn.yaml": billion_laughs() + "apiVersion: *a9\nkind: *a9\n",
        },
        {("B002", APP, 6)},
    ),
}


def case_repo(tmp_path: Path, case: str) -> tuple[Path, Path]:
    outside = write(
        tmp_path / "outside",
        {
            "kustomization.yaml": kustomization("resources:\n  - secret.yaml\n"),
            "secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: apps\n"
            "stringData:\n  password: hunter2\n  key: [unclosed\n",
        },
    )
    root = write(tmp_path / "repo", {**BASELINE, **CASES[case].files(outside)})
    for script in root.rglob("*.sh"):
        script.chmod(0o755)
    return root, outside


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_case_is_a_finding(case: str, tmp_path: Path) -> None:
    root, outside = case_repo(tmp_path, case)
    run = validate(tmp_path, root)
    assert_findings_not_a_crash(run)
    rules = {rule for rule, _, _ in CASES[case].expected}
    found = {t for rule in rules for t in run.triples(rule)}
    assert found == CASES[case].expected, run.show()
    assert not (outside / "marker").exists(), "a KRM function / exec plugin from the repository ran"
    assert "hunter2" not in run.proc.stdout, "a file outside the repository was built"
    assert run.triples("S005") == S005, run.show()


def test_fifty_megabyte_file_is_refused_unread(tmp_path: Path) -> None:
    root = write(tmp_path / "repo", BASELINE)
    block = b"key: " + b"x" * 1018 + b"\n"  # 1 KiB lines, really written (not sparse)
    with (root / "clusters/c1/huge.yaml").open("wb") as f:
        for _ in range(50 * 1024):
            f.write(block)
    run = validate(tmp_path, root)
    assert_findings_not_a_crash(run)
    assert run.triples("Y003") == {("Y003", "clusters/c1/huge.yaml", 1)}, run.show()


def test_symlink_to_etc_passwd_and_directory_leaving_the_root(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", {"dir/bad.yaml": "key: [unclosed\n"})
    root = write(tmp_path / "repo", BASELINE)
    (root / "clusters/c1/passwd.yaml").symlink_to("/etc/passwd")
    (root / "clusters/c1/linked").symlink_to(outside / "dir", target_is_directory=True)
    write(root, {"clusters/c3/kustomization.yaml": kustomization("resources:\n  - ../c1/passwd.yaml\n")})
    run = validate(tmp_path, root)
    assert_findings_not_a_crash(run)
    assert run.triples("Y004") == {
        ("Y004", "clusters/c1/passwd.yaml", 0),
        ("Y004", "clusters/c1/linked", 0),
    }, run.show()
    assert run.triples("B002") == {("B002", "clusters/c3/kustomization.yaml", 4)}, run.show()
    assert run.triples("Y001") == set(), "a symlink's target outside the repository was parsed"
    assert "root:" not in run.proc.stdout


def test_the_audit_sees_a_read_outside(tmp_path: Path) -> None:
    """The no-read-outside assertions rely on the wrapper: a CRD directory given on the command line is logged."""
    crds = write(tmp_path / "crds", {"crd.yaml": "apiVersion: v1\nkind: List\nitems: []\n"})
    run = validate(tmp_path, write(tmp_path / "repo", BASELINE), "--crds", str(crds))
    assert any(str(crds) in line for line in run.outside_reads), run.outside_reads


def test_memory_limit_is_enforced(tmp_path: Path) -> None:
    """The 1 GiB bound is real: a subprocess that allocates 2 GiB under it fails."""
    proc = subprocess.run(
        [sys.executable, "-c", "b = bytearray(2 * 1024 ** 3)"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=_limit_memory,
    )
    assert proc.returncode != 0 and "MemoryError" in proc.stderr


# ---------------------------------------------------------------- a chart archive with a ../ member


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def evil_helm_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Helm repository on 127.0.0.1 whose chart ``demo`` 0.1.0 has a member ``demo/../../evil``."""
    monkeypatch.setenv("GITOPSGEN_ALLOW_HOSTS", "127.0.0.1")  # a repository's loopback URL is refused otherwise
    served = tmp_path / "served"
    served.mkdir()
    archive = served / "demo-0.1.0.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        _member(tar, "demo/Chart.yaml", b"apiVersion: v2\nname: demo\nversion: 0.1.0\n")
        _member(tar, "demo/templates/cm.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n")
        _member(tar, "demo/../../evil", b"#!/bin/sh\necho pwned\n")
        _member(tar, "../evil", b"#!/bin/sh\necho pwned\n")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    index = {
        "apiVersion": "v1",
        "entries": {
            "demo": [
                {
                    "apiVersion": "v2",
                    "name": "demo",
                    "version": "0.1.0",
                    "digest": digest,
                    "urls": ["demo-0.1.0.tgz"],
                    "created": "2024-01-01T00:00:00Z",
                }
            ]
        },
        "generated": "2024-01-01T00:00:00Z",
    }
    (served / "index.yaml").write_text(yaml.safe_dump(index))
    with serve_directory(served) as url:
        yield url


HELM_RELEASE = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: evil
  namespace: apps
spec:
  interval: 1h
  url: {url}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: demo
  namespace: apps
spec:
  interval: 1h
  chart:
    spec:
      chart: demo
      version: 0.1.0
      sourceRef:
        kind: HelmRepository
        name: evil
"""
CHART_LINE = 17  # spec.chart of the HelmRelease


def test_chart_archive_with_dotdot_member(tmp_path: Path, evil_helm_repo: str) -> None:
    root = write(tmp_path / "repo", {**BASELINE, "clusters/c1/demo.yaml": HELM_RELEASE.format(url=evil_helm_repo)})
    charts = tmp_path / "charts"
    run = validate(tmp_path, root, "--chart-cache", str(charts), allow=(charts,))
    assert_findings_not_a_crash(run)
    h001 = [f for f in run.findings if f["rule"] == "H001"]
    assert [(f["file"], f["line"]) for f in h001] == [("clusters/c1/demo.yaml", CHART_LINE)], run.show()
    assert "unsafe member path" in h001[0]["message"], h001[0]["message"]
    evil = [p for p in tmp_path.rglob("*evil*") if p.name != "demo-0.1.0.tgz"]
    assert evil == [], "a member of the hostile archive was extracted"
    assert not list(charts.rglob("*.tgz")) if charts.exists() else True, "the hostile archive was cached"


# ---------------------------------------------------------------- alias bombs in gitopsgen's own files and in values


def test_alias_bomb_in_settings_is_an_input_error(tmp_path: Path) -> None:
    root = write(tmp_path / "repo", {**BASELINE, ".gitopsgen.yaml": billion_laughs() + "kubernetes-version: *a9\n"})
    run = validate(tmp_path, root)
    assert run.proc.returncode == 2, run.show()
    assert "YAML aliases" in run.proc.stderr and ".gitopsgen.yaml:2" in run.proc.stderr, run.show()
    assert "Traceback" not in run.proc.stderr


def test_alias_bomb_in_an_intent_file_is_an_input_error(fleet: Path) -> None:
    intent = fleet / "intent/clusters/cluster-1.yaml"
    intent.write_text(billion_laughs() + intent.read_text().replace("clusterUid:", "extra: *a9\nclusterUid:", 1))
    proc = subprocess.run(
        [sys.executable, "-m", "gitopsgen.cli", "generate", "--check", "--repo", str(fleet)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=_limit_memory,
    )
    assert proc.returncode == 2 and "YAML aliases" in proc.stderr and "cluster-1.yaml:2" in proc.stderr, proc.stderr


def test_alias_bomb_in_values_from_is_a_finding(tmp_path: Path) -> None:
    values = billion_laughs() + "replicaCount: *a9\n"
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "values", "namespace": "apps"},
        "data": {"values.yaml": values},
    }
    release = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "app", "namespace": "apps"},
        "spec": {
            "interval": "10m",
            "chart": {
                "spec": {
                    "chart": "./charts/app",
                    "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"},
                }
            },
            "valuesFrom": [{"kind": "ConfigMap", "name": "values"}],
        },
    }
    chart = {
        "charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\n",
        "charts/app/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"
        "data:\n  replicas: {{ .Values.replicaCount | toJson | quote }}\n",
    }
    root = write(
        tmp_path / "repo",
        {
            **BASELINE,
            **chart,
            "clusters/c3/values.yaml": yaml.safe_dump(configmap),
            "clusters/c3/release.yaml": yaml.safe_dump(release),
        },
    )
    run = validate(tmp_path, root, "--offline")
    assert_findings_not_a_crash(run)
    messages = [f["message"] for f in run.findings if f["rule"] == "H002"]
    assert any("alias bomb" in m and "valuesFrom ConfigMap apps/values" in m for m in messages), run.show()
