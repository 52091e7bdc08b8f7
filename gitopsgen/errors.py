"""Errors that the command line turns into one line on stderr and exit code 2."""

from __future__ import annotations


class InputError(Exception):
    """Bad input: a bad name, a bad option value, a broken intent file, a missing scaffold.

    The message is one line, prefixed with ``file:line:`` where there is a file.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        super().__init__(f"{where}{message}")
