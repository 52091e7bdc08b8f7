"""Shell completion scripts (bash, zsh, fish) for the ``gitopsgen`` command, from click's own completion support."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
PROG = "gitopsgen"
COMPLETE_VAR = "_GITOPSGEN_COMPLETE"  # click's protocol: the shell calls gitopsgen with this set


def script(root: click.Command, shell: str) -> str:
    """The script that ``shell`` sources to complete ``gitopsgen`` commands, options and choices."""
    cls = get_completion_class(shell)
    if cls is None:
        raise ValueError(f"click has no completion for {shell}")
    return cls(root, {}, PROG, COMPLETE_VAR).source()
