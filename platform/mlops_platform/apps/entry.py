"""The `mlplat` console script. Importing the CLI takes a moment (typer, rich, pydantic); Ctrl-C in that
moment exits 130 with one word instead of a KeyboardInterrupt traceback, as Ctrl-C later does."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

#: 128 + SIGINT; kept here too so this module imports nothing before the guard is in place.
_INTERRUPTED = 130


_finished = False  # set once the command returned: an interrupt after that only races the shutdown


def _redeliver_interrupt(unraisable: Any) -> None:
    """A Ctrl-C landing where Python cannot raise (a finalizer, a C callback such as pydantic-core building a
    validator) would be printed as "Exception ignored ... Traceback" and then lost. Re-raising it from this hook
    is no better (an exception here is reported the same way), so the process ends here, quietly: with 130 and
    one word while the command runs, or, once it has returned, by SIGINT itself as Python ends after an
    interrupt during shutdown (its output is complete then; reports are written atomically)."""
    if not issubclass(unraisable.exc_type, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream has nothing left to lose
            stream.flush()
    if _finished or sys.is_finalizing():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os.write(2, b"interrupted\n")
    os._exit(_INTERRUPTED)


def run() -> None:
    global _finished
    sys.unraisablehook = _redeliver_interrupt
    try:
        from mlops_platform.cli.mlplat import main

        code = main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = _INTERRUPTED
    _finished = True
    sys.exit(code)
