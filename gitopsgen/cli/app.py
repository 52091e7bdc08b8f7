"""The ``gitopsgen`` command group, its commands from one module per family, and :func:`main`: the console
script, which turns errors into one line on stderr and the exit code.

Exit codes: 0 ok, 1 findings or drift (``generate --check``), 2 usage or input error (one line on stderr,
nothing written).
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import InputError
from . import completion, diff, fleet, rules, validate
from .completion import COMPLETE_VAR, PROG


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gitopsgen")
def cli() -> None:
    """Generate and check Flux v2.9 repositories that run self-hosted Prefect on Kubernetes."""


for command in (
    fleet.init,
    fleet.add_cluster,
    fleet.upgrade,
    fleet.remove_cluster,
    fleet.generate,
    fleet.list_clusters,
    validate.validate,
    validate.build,
    validate.doctor,
    diff.diff_command,
    rules.list_rules,
    completion.completion,
):
    cli.add_command(command)


def main() -> None:
    try:
        # click returns (not raises) the code of an Exit here; the name and variable of shell completion are fixed,
        # so the installed script works however gitopsgen was started (console script, python -m)
        code = cli.main(standalone_mode=False, prog_name=PROG, complete_var=COMPLETE_VAR)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort:
        click.echo("gitopsgen: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except InputError as exc:
        click.echo(f"gitopsgen: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # exit 2 means "could not run"; a traceback would exit 1, like findings
        if os.environ.get("GITOPSGEN_DEBUG"):
            raise
        click.echo(
            f"gitopsgen: internal error: {type(exc).__name__}: {exc} (GITOPSGEN_DEBUG=1 for a traceback)", err=True
        )
        sys.exit(2)
