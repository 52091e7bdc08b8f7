"""Replacing one file all at once: write a temporary file beside it, then rename it over the target
(``os.replace``), so a reader sees the old file or the new one, never half of one; the temporary file is removed
when anything fails. For one file at a time (caches, downloaded charts); the generator's tree writer keeps its
own journaled writes (many files, rolled back together)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TMP_PREFIX = ".tmp-"  # the temporary files' names start with this (a write killed before its rename leaves one)


def atomic_write(
    path: Path,
    data: bytes | str | Callable[[BinaryIO], None],
    *,
    suffix: str = "",
    check: Callable[[Path], None] | None = None,
) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8; a callable writes into the open binary file).
    ``check`` sees the complete temporary file before the rename and may refuse it by raising."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(data, str):
                out.write(data.encode("utf-8"))
            elif isinstance(data, bytes):
                out.write(data)
            else:
                data(out)
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
