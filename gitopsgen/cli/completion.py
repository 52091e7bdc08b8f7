"""``gitopsgen completion SHELL``: the shell completion scripts (bash, zsh, fish), from click's own completion
support."""

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


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash:  gitopsgen completion bash > ~/.local/share/bash-completion/completions/gitopsgen
    zsh:   gitopsgen completion zsh > "${fpath[1]}/_gitopsgen"
    fish:  gitopsgen completion fish > ~/.config/fish/completions/gitopsgen.fish
    """
    click.echo(script(click.get_current_context().find_root().command, shell))
