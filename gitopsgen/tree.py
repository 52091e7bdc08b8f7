"""Generated files ↔ the working tree: ownership, planning, unified diffs, all-or-nothing writes.

A *plan* compares the files the intent generates with what is on disk inside the directories the
generator owns (``base/<component>/`` for the fleet; ``overlays/<name>/`` and
``clusters/<name>/prefect/`` for a cluster) and lists what to write and what to delete. Nothing
outside those directories is ever written or deleted; ``clusters/<name>/flux-system/`` is Flux's.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError


@dataclass
class Plan:
    write: dict[str, str] = field(default_factory=dict)  # path → new text (new or changed)
    delete: list[str] = field(default_factory=list)
    current: dict[str, str | None] = field(default_factory=dict)  # path → text on disk (None: absent)

    @property
    def empty(self) -> bool:
        return not self.write and not self.delete

    def diff(self) -> str:
        out: list[str] = []
        for path in sorted({*self.write, *self.delete}):
            old = self.current.get(path) or ""
            new = self.write.get(path, "")
            out.extend(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    fromfile=f"a/{path}" if self.current.get(path) is not None else "/dev/null",
                    tofile=f"b/{path}" if path in self.write else "/dev/null",
                )
            )
        return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def safe_path(root: Path, rel: str) -> Path:
    """``root/rel``, refusing absolute paths, ``..`` and symlinks that leave the root."""
    if rel.startswith("/") or ".." in Path(rel).parts:
        raise InputError(f"refusing to write outside the repository: {rel}")
    path = root / rel
    resolved_root = root.resolve()
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.resolve().is_relative_to(resolved_root):
        raise InputError(f"refusing to write through a link leaving the repository: {rel}")
    if path.is_symlink():
        raise InputError(f"refusing to overwrite a symbolic link: {rel}")
    return path


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def owned_files(root: Path, owned_dirs: list[str]) -> list[str]:
    out: list[str] = []
    for d in owned_dirs:
        base = root / d
        if base.is_dir():
            for p in base.rglob("*"):
                if p.is_file() or p.is_symlink():
                    out.append(p.relative_to(root).as_posix())
    return sorted(out)


def plan(root: Path, files: dict[str, str], owned_dirs: list[str]) -> Plan:
    """What must change so that the owned directories hold exactly ``files``."""
    result = Plan()
    for rel, text in sorted(files.items()):
        current = _read(safe_path(root, rel))
        result.current[rel] = current
        if current != text:
            result.write[rel] = text
    for rel in owned_files(root, owned_dirs):
        if rel not in files:
            result.current[rel] = _read(root / rel) if not (root / rel).is_symlink() else None
            result.delete.append(rel)
    return result


def apply(root: Path, p: Plan) -> None:
    """Write the plan: every new file is staged first, then renamed into place; on error, roll back."""
    staged: list[tuple[Path, Path]] = []
    try:
        for rel, text in sorted(p.write.items()):
            target = safe_path(root, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".gitopsgen-", dir=target.parent)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)
            staged.append((Path(tmp), target))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    backups: list[tuple[Path, Path | None]] = []
    try:
        for tmp, target in staged:
            backup = None
            if target.exists():
                backup = target.with_name(f".gitopsgen-bak-{target.name}")
                os.replace(target, backup)
            backups.append((target, backup))
            os.replace(tmp, target)
        for rel in p.delete:
            target = safe_path(root, rel)
            backup = target.with_name(f".gitopsgen-bak-{target.name}")
            os.replace(target, backup)
            backups.append((target, backup))
    except BaseException:
        for target, backup in reversed(backups):
            if backup is not None:
                os.replace(backup, target)
            else:
                target.unlink(missing_ok=True)
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for _, backup in backups:
        if backup is not None:
            backup.unlink(missing_ok=True)
    for rel in p.delete:
        _prune_empty_dirs(root, (root / rel).parent)


def _prune_empty_dirs(root: Path, directory: Path) -> None:
    while directory != root and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent
