"""Content fingerprints of what a cluster's build reads, for the result cache's keys.

:func:`~.inputs.cluster_inputs` says which paths a cluster reads (named files, every file directly in a
kustomization directory, every file below a plain-manifest or chart directory, or — when a path cannot
be told statically — the whole repository). :class:`Fingerprints` turns that into one SHA-256 over the
paths and contents of exactly those files, as they are on disk now, including files that are not YAML
(``configMapGenerator`` inputs, ``.env`` files, chart templates). Each file is read and hashed once per
run however many clusters share it. Nothing outside the repository is read or listed: a symlink to a
file inside the repository counts by its name and that file's content, a symlinked directory inside it
by its files (Helm's chart loader follows those), any other symlink by its target's name only; only
regular files are read; a file above the loader's size bound (which the validator refuses to read,
Y003) counts by its size and modification time.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from pathlib import Path

from .inputs import Inputs
from .load import SKIP_DIRS
from .rawfile import Limits

_MAX_READ = Limits().max_file_bytes


class Fingerprints:
    """File and directory digests of one repository, memoised for one run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, str] = {}
        self._dirs: dict[str, list[str]] = {}
        self._trees: dict[str, list[str]] = {}
        self._reals: dict[str, str | None] = {}

    def _real(self, rel: str) -> str | None:
        """The repository-relative real path of ``rel`` (symlinks resolved), or None when it leaves the
        repository."""
        if rel in self._reals:
            return self._reals[rel]
        real = os.path.realpath(os.path.join(self.root, rel))
        top = str(self.root)
        found: str | None = None
        if real == top:
            found = "."
        elif real.startswith(top.rstrip(os.sep) + os.sep):
            found = real[len(top.rstrip(os.sep)) + 1 :].replace(os.sep, "/")
        self._reals[rel] = found
        return found

    def file(self, rel: str) -> str:
        """Digest of one repository file: its content, a symlink's target (name, and content when it is a
        file of the repository), or what it is not; never anything outside the repository."""
        found = self._files.get(rel)
        if found is not None:
            return found
        self._files[rel] = "cycle"  # what a symlink loop back to this file sees
        parent = self._real(posixpath.dirname(rel) or ".")
        path = self.root / rel
        try:
            if parent is None:
                found = "outside"  # a directory on the way is a symlink out of the repository
            else:
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    found = "link:" + os.readlink(path)
                    target = self._real(rel)
                    if target is not None and target != rel:
                        found += ":" + self.file(target)
                else:
                    found = _content(path, st)
        except OSError:
            found = "missing"
        self._files[rel] = found
        return found

    def directory(self, rel: str) -> list[str]:
        """The entries directly in a directory (files and links; repository-relative), sorted; nothing for a
        directory outside the repository."""
        found = self._dirs.get(rel)
        if found is None:
            found = []
            real = self._real(rel)
            if real is not None:
                try:
                    with os.scandir(self.root / real) as it:
                        found = sorted(_join(real, e.name) for e in it if not e.is_dir(follow_symlinks=False))
                except OSError:
                    pass
            self._dirs[rel] = found
        return found

    def tree(self, rel: str) -> list[str]:
        """Every file below a directory, by real path; a symlinked directory inside the repository adds its
        target's files, one leading out of it only its own name (version-control and cache directories
        skipped)."""
        found = self._trees.get(rel)
        if found is not None:
            return found
        self._trees[rel] = []  # what a symlink cycle back to this directory sees
        real = self._real(rel)
        out: set[str] = set()
        if real is not None and real != rel:
            out.update(self.tree(real))
        elif real is not None:
            for current, dirs, files in os.walk(self.root / real, followlinks=False):
                here = Path(current).relative_to(self.root).as_posix()
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                out.update(_join(here, f) for f in files)
                for d in dirs:
                    if (Path(current) / d).is_symlink():
                        link = _join(here, d)
                        out.add(link)
                        target = self._real(link)
                        if target is not None:
                            out.update(self.tree(target))
        found = self._trees[rel] = sorted(out)
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
