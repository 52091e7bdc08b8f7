"""The ``gitopsgen`` command line (click): one module per command family, parsing options and printing results,
nothing more. :func:`main` is the console script (``gitopsgen = gitopsgen.cli:main``)."""

from .app import cli, main

__all__ = ["cli", "main"]
