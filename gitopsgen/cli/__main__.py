"""``python -m gitopsgen.cli``: the console script."""

from .app import main

main()
