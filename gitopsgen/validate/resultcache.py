"""The validator's content-addressed result cache: JSON entries under ``<cache>/results/``.

An entry's key is a SHA-256 over everything its value is known to depend on (the contents of the
files read, the settings that change the outcome, and :func:`tool_digest`: gitopsgen's own source,
Python and the libraries, and the kustomize executable), so a changed input is a new key rather than
a stale entry. Values are plain JSON, never pickles: a cache restored by CI from another pipeline can
at worst hold a wrong answer for a key, not run code. Entries are read only as regular files (no
symlink is followed, no FIFO opened) of bounded size and are checked for their shape by their users;
a broken or foreign entry is a miss and is rewritten. Writes are atomic (temporary file + rename), so
parallel runs (GitLab ``parallel:`` jobs sharing a cache) never see half an entry.

Trust: a cache restored by CI may have been written by another pipeline, a merge request's included.
When ``GITOPSGEN_CACHE_SECRET`` is set (a protected CI/CD variable, so merge-request pipelines of
untrusted branches never see it) every entry carries an HMAC-SHA256 of its key and value under that
secret, and an entry without a valid one is a miss: only pipelines that hold the secret can write what
a protected branch's pipeline reads; the CRD cache (``crds/``) is signed the same way. A cache
directory, its ``results/`` or ``crds/`` that is a symlink is refused
(:class:`~gitopsgen.errors.InputError`): writes and pruning never follow one out of the cache.

The directory is kept under a size bound (``GITOPSGEN_CACHE_MAX_MB``, default 512): after a run that
wrote entries, the least recently used ones are removed until it is under 80% of the bound. A hit
refreshes the entry's modification time when it is more than an hour old.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import stat
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from ..atomicfile import TMP_PREFIX, atomic_write
from ..errors import InputError

FORMAT = 1  # bump when the shape of any entry changes
DEFAULT_MAX_MB = 512
MAX_ENTRY_BYTES = 256 * 1024 * 1024
_TOUCH_AFTER = 3600  # seconds: a hit refreshes an entry's modification time when it is older than this
_LIBRARIES = (
    "helm-python-sdk",
    "kubernetes-validate",
    "jsonschema",
    "referencing",
    "cel-python",
    "PyYAML",
    "ruamel.yaml",
)


def cache_root() -> Path:
    """``$GITOPSGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/gitopsgen``, else ``~/.cache/gitopsgen``."""
    env = os.environ.get("GITOPSGEN_CACHE_DIR")
    if env:
        return Path(env)
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "gitopsgen"
    return Path.home() / ".cache" / "gitopsgen"


def digest(*parts: Any) -> str:
    """SHA-256 of the JSON of ``parts`` (keys sorted; anything JSON cannot say goes through ``str``)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tool_digest(command: Iterable[str] = ()) -> str:
    """What every entry depends on besides its inputs: this package's source files, Python and the versions
    of the libraries that check and render (:func:`_code_digest`) and, when given, the kustomize
    executable ``command`` runs (its path and size)."""
    return _tool_digest(tuple(command))


@cache
def _code_digest() -> str:
    """gitopsgen's source, Python and the libraries: read once per process however many digests use it."""
    h = hashlib.sha256(f"format {FORMAT}\npython {sys.version}\n".encode())
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for name in _LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{name}=={version}\n".encode())
    return h.hexdigest()


@cache
def _tool_digest(command: tuple[str, ...]) -> str:
    if not command:
        return _code_digest()
    # by path and size, not modification time: CI caches restore files with new times
    executable = shutil.which(command[0]) or command[0]
    try:
        st = os.stat(executable)
        identity = f"{command} {os.path.realpath(executable)} {st.st_size}"
    except OSError:
        identity = f"{command}"
    return hashlib.sha256(f"{_code_digest()}\n{identity}\n".encode()).hexdigest()


def _read_entry(path: Path) -> tuple[bytes, float]:
    """An entry's bytes and modification time: a regular file, not through a symlink, not larger than
    ``MAX_ENTRY_BYTES``."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY_BYTES:
            raise OSError(f"{path}: not a cache entry")
        return f.read(MAX_ENTRY_BYTES + 1), st.st_mtime


def cache_secret() -> bytes | None:
    """``$GITOPSGEN_CACHE_SECRET`` (None when unset): the key that signs what the caches hold."""
    return os.environ.get("GITOPSGEN_CACHE_SECRET", "").encode() or None


def entry_mac(secret: bytes, key: str, value: Any) -> str:
    """HMAC-SHA256 of an entry's key and value (canonical JSON) under ``secret``."""
    body = json.dumps([FORMAT, key, value], sort_keys=True, separators=(",", ":"))
    return hmac.new(secret, body.encode("utf-8"), hashlib.sha256).hexdigest()


def mac_matches(secret: bytes, key: str, value: Any, mac: Any) -> bool:
    return isinstance(mac, str) and hmac.compare_digest(mac, entry_mac(secret, key, value))


def refuse_symlinks(*directories: Path) -> None:
    """InputError when one of ``directories`` is a symlink: a cache is never written or pruned through one."""
    for directory in directories:
        if directory.is_symlink():
            raise InputError(f"{directory} is a symlink: refusing to use it as gitopsgen's cache (make it a directory)")


@dataclass
class ResultCache:
    """Entries by kind and key; ``directory`` None: a cache that holds nothing (``--no-cache``); ``secret``:
    the HMAC key entries must carry (None: entries are not signed)."""

    directory: Path | None
    max_bytes: int = DEFAULT_MAX_MB * 1024 * 1024
    counts: dict[str, int] = field(default_factory=lambda: {"hits": 0, "misses": 0, "writes": 0})
    secret: bytes | None = field(default=None, repr=False)

    @classmethod
    def open(cls, enabled: bool = True) -> ResultCache:
        if not enabled:
            return cls(None)
        try:
            max_mb = int(os.environ.get("GITOPSGEN_CACHE_MAX_MB", DEFAULT_MAX_MB))
        except ValueError:
            max_mb = DEFAULT_MAX_MB
        root = cache_root()
        refuse_symlinks(root, root / "results", root / "crds")
        return cls(root / "results", max(max_mb, 1) * 1024 * 1024, secret=cache_secret())

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def _path(self, kind: str, key: str) -> Path:
        assert self.directory is not None
        return self.directory / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str) -> Any | None:
        """The value stored for ``key``, or None (missing, unreadable, not this format)."""
        if self.directory is None:
            return None
        path = self._path(kind, key)
        try:
            raw, used = _read_entry(path)
            entry = json.loads(raw)
        except (OSError, ValueError, RecursionError):  # missing, not a file, not JSON, nested past the parser
            self.counts["misses"] += 1
            return None
        if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
            self.counts["misses"] += 1
            return None
        if self.secret is not None:  # written by a pipeline without the secret, or altered: not trusted
            if not mac_matches(self.secret, key, entry.get("value"), entry.get("mac")):
                self.counts["misses"] += 1
                return None
        if used < time.time() - _TOUCH_AFTER:  # least-recently-used order at an hour's grain, not a write per hit
            try:
                os.utime(path)
            except OSError:
                pass
        self.counts["hits"] += 1
        return entry.get("value")

    def put(self, kind: str, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) for ``key``; a cache that cannot be written is skipped."""
        if self.directory is None:
            return
        path = self._path(kind, key)
        try:
            entry = {"format": FORMAT, "key": key, "value": value}
            if self.secret is not None:
                entry["mac"] = entry_mac(self.secret, key, value)
            body = json.dumps(entry, separators=(",", ":"), sort_keys=True)
        except (TypeError, ValueError, RecursionError):  # a value JSON cannot hold (a date in YAML): not kept
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if any(p.is_symlink() for p in (path.parent, path.parent.parent)):
                return  # a kind or shard directory replaced by a symlink: never written through
            atomic_write(path, body)
        except OSError:
            return
        self.counts["writes"] += 1

    def prune(self) -> int:
        """Remove the least recently used entries while the directory is over the bound; returns how many."""
        if self.directory is None or not self.counts["writes"] or not self.directory.is_dir():
            return 0
        entries: list[tuple[float, int, Path]] = []
        total = 0
        stale = time.time() - 3600
        for current, _dirs, files in os.walk(self.directory, followlinks=False):
            for name in files:
                path = Path(current) / name
                try:
                    st = path.lstat()
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                if name.startswith(TMP_PREFIX):  # a write killed before its rename
                    if st.st_mtime < stale:
                        path.unlink(missing_ok=True)
                elif name.endswith(".json"):
                    entries.append((st.st_mtime, st.st_size, path))
                    total += st.st_size
        if total <= self.max_bytes:
            return 0
        removed = 0
        for _, size, path in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes * 0.8:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= size
            removed += 1
        return removed
