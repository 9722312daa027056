"""The `mlplat` console script. Importing the CLI takes a moment (typer, rich, pydantic); Ctrl-C in that
moment exits 130 with one word instead of a KeyboardInterrupt traceback, as Ctrl-C later does."""

from __future__ import annotations

import signal
import sys
from typing import Any

#: 128 + SIGINT; kept here too so this module imports nothing before the guard is in place.
_INTERRUPTED = 130


def _redeliver_interrupt(unraisable: Any) -> None:
    """A Ctrl-C landing where Python cannot raise (a finalizer, a C callback such as pydantic-core building a
    validator) would be printed as "Exception ignored ... Traceback" and then lost. Send it again instead: the
    interpreter raises it at the next safe point, where `run` turns it into a quiet exit 130."""
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    else:
        sys.__unraisablehook__(unraisable)


def run() -> None:
    sys.unraisablehook = _redeliver_interrupt
    try:
        from mlops_platform.cli.mlplat import main

        code = main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = _INTERRUPTED
    sys.exit(code)
