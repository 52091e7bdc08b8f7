"""Which gitopsgen release generated a fleet: ``generatorVersion`` in gitopsgen.yaml.

The fleet's CI installs exactly the recorded release, so a new gitopsgen release never turns ``drift`` red on
open merge requests; ``generate --check`` names a different release instead of showing the diff it causes;
``generate`` records the release that wrote the tree and refuses to write over a tree recorded by a newer one.
"""

from __future__ import annotations

import re

from .. import __version__
from ..errors import InputError

FIELD = "generatorVersion"
_SHAPE = re.compile(r"^[0-9][0-9A-Za-z.+!_-]*$")
_RELEASE = re.compile(r"^([0-9]+(?:\.[0-9]+)*)")


def check(value: str | None, where: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not _SHAPE.match(value)):
        raise InputError(f"{FIELD} {value!r} is not a version", file=where)
    return value


def _release(value: str) -> tuple[int, ...] | None:
    m = _RELEASE.match(value)
    return tuple(int(n) for n in m.group(1).split(".")) if m else None


def newer_than_running(recorded: str, running: str = __version__) -> bool:
    """The recorded release is a newer release than this one (by its release numbers; never for a source tree
    that was not installed, whose release is unknown)."""
    if "+unknown" in running:
        return False
    a, b = _release(recorded), _release(running)
    return a is not None and b is not None and a > b


def check_mismatch(recorded: str | None, running: str = __version__) -> str | None:
    """For ``generate --check``: why the tree cannot be compared with this release's output, or None."""
    if recorded is None or recorded == running:
        return None
    return (
        f"gitopsgen.yaml: {FIELD} {recorded}, but this is gitopsgen {running}: the tree is checked with the release "
        f"that generated it (pipx install 'gitopsgen=={recorded}'); to move the fleet to {running}, run "
        f"'gitopsgen generate' with it and commit what it writes"
    )


def refuse_older_writer(recorded: str | None, running: str = __version__) -> None:
    if recorded is not None and newer_than_running(recorded, running):
        raise InputError(
            f"{FIELD} {recorded} is newer than this gitopsgen {running}: install gitopsgen {recorded} to write "
            "this fleet (an older release would undo what the newer one generated)",
            file="gitopsgen.yaml",
        )
