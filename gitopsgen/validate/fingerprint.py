"""Content fingerprints of what a cluster's build reads, for the result cache's keys.

:func:`~.inputs.cluster_inputs` says which paths a cluster reads (named files, every file directly in a
kustomization directory, every file below a plain-manifest or chart directory, or — when a path cannot
be told statically — the whole repository). :class:`Fingerprints` turns that into one SHA-256 over the
paths and contents of exactly those files, as they are on disk now, including files that are not YAML
(``configMapGenerator`` inputs, ``.env`` files, chart templates). Each file is read and hashed once per
run however many clusters share it. Nothing outside the repository is read: a symlink to a file inside
the repository counts by its name and that file's content, any other symlink by its target's name only;
only regular files are read; a file above the loader's size bound (which the validator refuses to read,
Y003) counts by its size and modification time.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from .inputs import Inputs
from .load import SKIP_DIRS, Limits

_MAX_READ = Limits().max_file_bytes


class Fingerprints:
    """File and directory digests of one repository, memoised for one run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, str] = {}
        self._dirs: dict[str, list[str]] = {}
        self._trees: dict[str, list[str]] = {}

    def file(self, rel: str) -> str:
        """Digest of one repository file: its content, a symlink's target name, or what it is not."""
        found = self._files.get(rel)
        if found is not None:
            return found
        path = self.root / rel
        self._files[rel] = "cycle"  # what a symlink loop back to this file sees
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                found = "link:" + os.readlink(path)
                target = Path(os.path.realpath(path))
                if target.is_relative_to(self.root):
                    found += ":" + self.file(target.relative_to(self.root).as_posix())
            else:
                found = _content(path, st)
        except OSError:
            found = "missing"
        self._files[rel] = found
        return found

    def directory(self, rel: str) -> list[str]:
        """The entries directly in a directory (files and links; repository-relative), sorted."""
        found = self._dirs.get(rel)
        if found is None:
            base = self.root / rel if rel != "." else self.root
            try:
                with os.scandir(base) as it:
                    found = sorted(_join(rel, e.name) for e in it if not e.is_dir(follow_symlinks=False))
            except OSError:
                found = []
            self._dirs[rel] = found
        return found

    def tree(self, rel: str) -> list[str]:
        """Every file below a directory (links not followed; version-control and cache directories skipped)."""
        found = self._trees.get(rel)
        if found is None:
            base = self.root / rel if rel != "." else self.root
            found = []
            for current, dirs, files in os.walk(base, followlinks=False):
                here = Path(current).relative_to(self.root).as_posix()
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                found += [_join(here, f) for f in files]
                found += [_join(here, d) for d in dirs if (Path(current) / d).is_symlink()]
            found.sort()
            self._trees[rel] = found
        return found

    def of_inputs(self, inputs: Inputs) -> str:
        """One digest of every path in ``inputs`` with its content (the whole repository when ``everything``)."""
        if inputs.everything:
            paths = set(self.tree("."))
        else:
            paths = set(inputs.files)
            for d in inputs.dirs:
                paths.update(self.directory(d))
            for t in inputs.trees:
                paths.update(self.tree(t))
        h = hashlib.sha256()
        for rel in sorted(paths):
            h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + self.file(rel).encode() + b"\n")
        return h.hexdigest()


def _content(path: Path, st: os.stat_result) -> str:
    if stat.S_ISREG(st.st_mode) and st.st_size > _MAX_READ:
        return f"large:{st.st_size}:{st.st_mtime_ns}"
    if stat.S_ISREG(st.st_mode):
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return f"mode:{stat.S_IFMT(st.st_mode)}"


def _join(directory: str, name: str) -> str:
    return name if directory in ("", ".") else f"{directory}/{name}"
