"""Chart archive safety: a downloaded or cached chart is checked before Helm reads it (size, member count,
no member outside the chart's directory, no links)."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path, PurePosixPath

MAX_ARCHIVE_BYTES = 50 * 1024 * 1024  # compressed download and uncompressed content, each
MAX_ARCHIVE_MEMBERS = 20_000


class ChartError(Exception):
    """A chart could not be resolved, downloaded or accepted; the message is one line."""


# ---------------------------------------------------------------- archive safety


def check_archive(path: Path, max_bytes: int = MAX_ARCHIVE_BYTES, max_members: int = MAX_ARCHIVE_MEMBERS) -> None:
    """Refuse a chart archive that could escape its directory or exhaust memory, before anything loads it.

    Rejected: absolute member paths, ``..`` components, links whose target leaves the chart (or any
    hard link to an absolute/escaping path), devices/FIFOs, more than ``max_members`` members, more than
    ``max_bytes`` compressed or uncompressed. Raises :class:`ChartError` naming the member.
    """
    try:
        if path.stat().st_size > max_bytes:
            raise ChartError(f"chart archive {path.name} is larger than {max_bytes // (1024 * 1024)} MB")
        total = 0
        with tarfile.open(path, mode="r:gz") as tar:
            for count, member in enumerate(tar, start=1):
                if count > max_members:
                    raise ChartError(f"chart archive {path.name} has more than {max_members} members")
                name = member.name.replace("\\", "/")
                parts = PurePosixPath(name).parts
                if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
                    raise ChartError(f"chart archive {path.name}: unsafe member path {member.name!r}")
                if member.issym() or member.islnk():
                    target = member.linkname.replace("\\", "/")
                    base = PurePosixPath(name).parent if member.issym() else PurePosixPath()
                    if target.startswith("/") or not _inside(base / target, parts[0] if parts else ""):
                        raise ChartError(
                            f"chart archive {path.name}: link {member.name!r} -> {member.linkname!r} leaves the chart"
                        )
                elif not (member.isfile() or member.isdir()) and member.type not in (
                    tarfile.XHDTYPE,
                    tarfile.XGLTYPE,
                ):
                    raise ChartError(f"chart archive {path.name}: special file {member.name!r}")
                total += max(member.size, 0)
                if total > max_bytes:
                    raise ChartError(
                        f"chart archive {path.name} expands beyond {max_bytes // (1024 * 1024)} MB at {member.name!r}"
                    )
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ChartError(f"chart archive {path.name} is not a readable .tgz: {exc}") from None


def _inside(target: PurePosixPath, root: str) -> bool:
    """Whether a relative link target, normalised, stays inside the chart's top directory ``root``."""
    stack: list[str] = []
    for part in target.parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return False
            stack.pop()
        else:
            stack.append(part)
    return bool(stack) and stack[0] == root and len(stack) > 1
