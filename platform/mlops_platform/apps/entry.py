"""The `mlplat` console script. Importing the CLI takes a moment (typer, rich, pydantic); Ctrl-C in that
moment exits 130 with one word instead of a KeyboardInterrupt traceback, as Ctrl-C later does."""

from __future__ import annotations

import sys

#: 128 + SIGINT; kept here too so this module imports nothing before the guard is in place.
_INTERRUPTED = 130


def run() -> None:
    try:
        from mlops_platform.cli.mlplat import main

        code = main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = _INTERRUPTED
    sys.exit(code)
