"""Writing a generator plan into the working tree all-or-nothing, under the repository lock.

:func:`apply` writes a plan all-or-nothing under the repository :func:`lock` (``flock`` on
``.git/gitopsgen.lock``): it refuses a plan whose files changed since planning, journals every path
(``.git/gitopsgen.journal``), stages, renames with backups and rolls back on any exception. A run
killed outright leaves the journal: the next :func:`lock` rolls that run back (or finishes its
clean-up once it had committed). Outside a git work tree both files sit in the root, as
``.gitopsgen.lock`` and ``.gitopsgen.journal``.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import InputError
from .tree import Plan, read_path, safe_path

# ---------------------------------------------------------------- the repository lock

LEFTOVER_PREFIX = ".gitopsgen-"  # temporary files and backups of a write; never generated
_TMP = ".gitopsgen-tmp-"
_BAK = ".gitopsgen-bak-"
_HELD: dict[str, list[int]] = {}  # lock file → [fd, depth, thread]: lock() nests within one thread
_HELD_GUARD = threading.Lock()


def _state_paths(root: Path) -> tuple[Path, Path, Path]:
    """(lock file, journal, directory the journal's paths are relative to) of the repository of ``root``."""
    resolved = root.resolve()
    for top in (resolved, *resolved.parents):
        dotgit = top / ".git"
        gitdir: Path | None = None
        if dotgit.is_dir():
            gitdir = dotgit
        elif dotgit.is_file():  # a linked worktree or a submodule: "gitdir: PATH"
            try:
                first = dotgit.read_text(encoding="utf-8").splitlines()[0]
            except (OSError, UnicodeDecodeError, IndexError):
                first = ""
            if first.startswith("gitdir:") and (top / first[7:].strip()).is_dir():
                gitdir = (top / first[7:].strip()).resolve()
        if gitdir is not None:
            return gitdir / "gitopsgen.lock", gitdir / "gitopsgen.journal", top
    return resolved / ".gitopsgen.lock", resolved / ".gitopsgen.journal", resolved


@contextmanager
def lock(root: Path) -> Iterator[None]:
    """Hold the repository's write lock (non-blocking; ``InputError`` naming the holder when taken).

    Nests within one thread, so a caller may hold it across planning and :func:`apply`. Taking it
    first undoes (or completes) a write that a killed run left in the journal.
    """
    lock_path, journal_path, top = _state_paths(root)
    key = str(lock_path)
    with _HELD_GUARD:
        held = _HELD.get(key)
        nested = held is not None and held[2] == threading.get_ident()
        if held is not None and nested:
            held[1] += 1
    if held is not None and nested:
        try:
            yield
        finally:
            with _HELD_GUARD:
                held[1] -= 1
        return
    fd = _acquire(lock_path)
    try:
        with _HELD_GUARD:
            _HELD[key] = [fd, 1, threading.get_ident()]
        if os.path.lexists(journal_path):
            _recover(journal_path, top)
        yield
    finally:
        with _HELD_GUARD:
            _HELD.pop(key, None)
        try:
            os.close(fd)  # releases the flock
        except OSError:
            pass


def _acquire(lock_path: Path) -> int:
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise InputError(f"cannot create the lock file {lock_path}: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "pid unknown"
            raise InputError(
                f"another gitopsgen run is writing this repository ({holder}); try again when it ends"
            ) from None
        os.ftruncate(fd, 0)
        since = datetime.now().astimezone().isoformat(timespec="seconds")
        _write_all(fd, f"pid {os.getpid()}, since {since}\n".encode())
    except BaseException:
        os.close(fd)
        raise
    return fd


# ---------------------------------------------------------------- all-or-nothing writes


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply(root: Path, p: Plan) -> None:
    """Write the plan all-or-nothing, holding the repository :func:`lock`.

    Refused (``InputError``, nothing written) when a planned file changed since it was planned or
    when an interrupted run left ``.gitopsgen-*`` files next to the planned ones. Otherwise: a journal
    naming every path is written, new directories are created, each new text is staged in a
    temporary file, then the old files are renamed to backups and the staged ones into place.
    Rewriting the journal as *committed* is the commit point: before it, any exception
    (``KeyboardInterrupt`` included) restores the tree byte for byte, new directories removed; after
    it, only backups and emptied directories are removed, with SIGINT held back until done.
    """
    if p.empty:
        return
    with lock(root):
        _apply_locked(root, p)


@dataclass(frozen=True)
class _Journal:
    root: Path
    write: list[tuple[str, bool]]  # path → it existed before
    delete: list[str]
    dirs: list[str]  # directories this write creates, parents first

    def dump(self, top: Path, phase: str) -> bytes:
        doc = {
            "root": self.root.resolve().relative_to(top).as_posix(),
            "phase": phase,
            "write": self.write,
            "delete": self.delete,
            "dirs": self.dirs,
        }
        return json.dumps(doc, indent=1).encode()

    @classmethod
    def load(cls, top: Path, data: bytes) -> tuple[_Journal, str]:
        doc = json.loads(data)
        rels = [doc["root"], *(w[0] for w in doc["write"]), *doc["delete"], *doc["dirs"]]
        if any(not isinstance(r, str) or r.startswith("/") or ".." in Path(r).parts for r in rels):
            raise ValueError("a path leaves the repository")
        journal = cls(top / doc["root"], [(w[0], bool(w[1])) for w in doc["write"]], doc["delete"], doc["dirs"])
        # a journal may be repository content (no .git: a hostile merge request can commit one): recovery
        # touches only paths whose resolved parent (a directory's resolved self) is inside the repository
        inside = top.resolve()
        places = [
            *((journal.root / rel).parent for rel in [*(w for w, _ in journal.write), *journal.delete]),
            *(journal.root / d for d in journal.dirs),
            journal.root,
        ]
        for place in places:
            if not place.resolve().is_relative_to(inside):
                raise ValueError(f"{place.relative_to(top).as_posix()} leads outside the repository (a symlink)")
        return journal, doc["phase"]


def _apply_locked(root: Path, p: Plan) -> None:
    writes = {rel: safe_path(root, rel) for rel in sorted(p.write)}
    for rel in p.delete:
        _check_delete_path(root, rel)
    _check_unchanged(root, p)
    _check_leftovers(root, p)
    _, journal_path, top = _state_paths(root)
    dirs: set[str] = set()
    for rel in writes:
        parent = Path(rel).parent
        while parent != Path(".") and not os.path.lexists(root / parent):
            dirs.add(parent.as_posix())
            parent = parent.parent
    existed = {rel: os.path.lexists(target) for rel, target in writes.items()}
    new_mode = 0o666 & ~_umask()  # new files as any program creates them: the user's umask applies
    modes = {rel: os.stat(target).st_mode & 0o7777 if existed[rel] else new_mode for rel, target in writes.items()}
    journal = _Journal(
        root=root,
        write=list(existed.items()),
        delete=sorted(p.delete),
        dirs=sorted(dirs, key=lambda d: (d.count("/"), d)),
    )
    committed = False

    def commit() -> None:
        nonlocal committed
        _write_journal(journal_path, journal.dump(top, "committed"))
        committed = True
        _finish(journal, journal_path)

    try:
        _write_journal(journal_path, journal.dump(top, "commit"))
        for d in journal.dirs:
            os.mkdir(root / d)
        for rel, target in writes.items():
            _stage(_tmp_path(target), p.write[rel].encode("utf-8"), modes[rel])
        for rel, target in writes.items():
            if existed[rel]:
                os.replace(target, _backup_path(target))
            os.replace(_tmp_path(target), target)
        for rel in journal.delete:
            os.replace(root / rel, _backup_path(root / rel))
        _shielded(commit)
    except BaseException as exc:
        if not committed:
            _shielded(_roll_back, journal, journal_path, exc)
        raise


def _check_delete_path(root: Path, rel: str) -> None:
    """Like :func:`safe_path`, but the file itself may be a symbolic link (deleting it follows nothing)."""
    if rel.startswith("/") or ".." in Path(rel).parts:
        raise InputError(f"refusing to delete outside the repository: {rel}")
    if not (root / rel).parent.resolve().is_relative_to(root.resolve()):
        raise InputError(f"refusing to delete through a link leaving the repository: {rel}")


def _check_unchanged(root: Path, p: Plan) -> None:
    deletes = set(p.delete)
    for rel, expected in sorted(p.current.items()):
        path = root / rel
        if expected is None:
            changed = rel not in deletes and os.path.lexists(path)  # a deleted symbolic link is planned as None
        else:
            changed = path.is_symlink() or read_path(path) != expected
        if changed:
            raise InputError(f"{rel} changed while gitopsgen was planning; run it again")


def _check_leftovers(root: Path, p: Plan) -> None:
    """Refuse to run over the temporary files or backups of a run that left no journal."""
    planned = [Path(rel) for rel in (*p.write, *p.delete)]
    found = {rel.as_posix() for rel in planned if rel.name.startswith(LEFTOVER_PREFIX)}
    for d in sorted({rel.parent for rel in planned}):
        try:
            names = os.listdir(root / d)
        except (FileNotFoundError, NotADirectoryError):
            continue
        found.update((d / n).as_posix() for n in names if n.startswith(LEFTOVER_PREFIX))
    if found:
        names = sorted(found)
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise InputError(
            f"an interrupted gitopsgen run left {shown}: move each {_BAK}NAME back over NAME, "
            f"delete the {_TMP}* files (check with 'git status'), then run again"
        )


def _tmp_path(target: Path) -> Path:
    return target.with_name(f"{_TMP}{target.name}")


def _backup_path(target: Path) -> Path:
    return target.with_name(f"{_BAK}{target.name}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _stage(tmp: Path, data: bytes, mode: int) -> None:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        _write_all(fd, data)
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_journal(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class _Errors:
    """Failures of best-effort clean-up steps: hard ones leave the tree wrong, soft ones an empty directory."""

    def __init__(self) -> None:
        self.hard: list[str] = []
        self.soft: list[str] = []

    def run(self, fn: Callable[..., object], *paths: Path, soft: bool = False) -> bool:
        try:
            fn(*paths)
        except FileNotFoundError:
            pass
        except OSError as exc:
            (self.soft if soft else self.hard).append(f"{paths[0]}: {exc.strerror or exc}")
            return False
        return True


def _roll_back_steps(j: _Journal, journal_path: Path) -> _Errors:
    """Undo whatever part of ``j`` is on disk; decided from the files alone, so any point can be undone."""
    e = _Errors()
    for rel, existed in reversed(j.write):
        target = j.root / rel
        if os.path.lexists(_backup_path(target)):
            e.run(os.replace, _backup_path(target), target)
        elif not existed and os.path.lexists(target):
            e.run(os.unlink, target)
        if os.path.lexists(_tmp_path(target)):
            e.run(os.unlink, _tmp_path(target))
    for rel in reversed(j.delete):
        if os.path.lexists(_backup_path(j.root / rel)):
            e.run(os.replace, _backup_path(j.root / rel), j.root / rel)
    for d in reversed(j.dirs):
        path = j.root / d
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            e.run(os.rmdir, path, soft=True)
    if not e.hard:
        _forget(journal_path, e)
    return e


def _finish_steps(j: _Journal, journal_path: Path) -> _Errors:
    """After the commit point: remove the backups, then the directories the deletions emptied."""
    e = _Errors()
    for rel, _ in j.write:
        for leftover in (_backup_path(j.root / rel), _tmp_path(j.root / rel)):
            if os.path.lexists(leftover):
                e.run(os.unlink, leftover)
    for rel in j.delete:
        if os.path.lexists(_backup_path(j.root / rel)):
            e.run(os.unlink, _backup_path(j.root / rel))
    for rel in j.delete:
        directory = (j.root / rel).parent
        while directory != j.root and directory.is_dir() and not directory.is_symlink():
            if any(directory.iterdir()) or not e.run(os.rmdir, directory, soft=True):
                break
            directory = directory.parent
    if not e.hard:
        _forget(journal_path, e)
    return e


def _forget(journal_path: Path, e: _Errors) -> None:
    for path in (journal_path.with_name(journal_path.name + ".tmp"), journal_path):
        if os.path.lexists(path):
            e.run(os.unlink, path)


def _roll_back(j: _Journal, journal_path: Path, cause: BaseException | None) -> None:
    e = _roll_back_steps(j, journal_path)
    if e.hard or e.soft:  # once more: a step may have failed only for the moment
        e = _roll_back_steps(j, journal_path)
    if e.hard:
        what = "interrupted" if isinstance(cause, KeyboardInterrupt) else f"{type(cause).__name__}: {cause}"
        failed = f"writing failed ({what})" if cause is not None else "an interrupted run left a partial write"
        raise InputError(
            f"{failed} and undoing it failed too ({e.hard[0]}); "
            f"the next gitopsgen run in this repository undoes it (journal {journal_path})"
        )


def _finish(j: _Journal, journal_path: Path) -> None:
    e = _finish_steps(j, journal_path)
    if e.hard or e.soft:
        e = _finish_steps(j, journal_path)
    if e.hard:
        raise InputError(
            f"every file was written, but {e.hard[0]} could not be removed; "
            f"the next gitopsgen run in this repository removes it (journal {journal_path})"
        )


def _recover(journal_path: Path, top: Path) -> None:
    """Complete a journalled write of a killed run: undo it, or finish its clean-up once committed."""
    try:
        journal, phase = _Journal.load(top, journal_path.read_bytes())
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InputError(
            f"cannot read {journal_path} ({exc}), left by an interrupted gitopsgen run: "
            "check the work tree with 'git status', then delete that file"
        ) from None
    if phase == "committed":
        _shielded(_finish, journal, journal_path)
    else:
        _shielded(_roll_back, journal, journal_path, None)


def _shielded(fn: Callable[..., None], *args: object) -> None:
    """Run ``fn(*args)`` with SIGINT blocked; a Ctrl-C meanwhile raises ``KeyboardInterrupt`` once it is done.

    Only the main thread receives KeyboardInterrupt, so other threads (and platforms without
    ``pthread_sigmask``) just run ``fn``.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        fn(*args)
        return
    deferred: KeyboardInterrupt | None = None
    while True:  # a pending signal raises from pthread_sigmask itself (after it changed the mask)
        try:
            original = signal.pthread_sigmask(signal.SIG_BLOCK, ())
            break
        except KeyboardInterrupt as exc:
            deferred = exc
    while True:
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            break
        except KeyboardInterrupt as exc:
            deferred = exc
    try:
        fn(*args)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, original)  # raises a Ctrl-C that waited
    if deferred is not None:
        raise deferred
