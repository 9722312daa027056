"""The `mlplat` console script. Importing the CLI takes a moment (typer, rich, pydantic); Ctrl-C in that
moment exits 130 with one word instead of a KeyboardInterrupt traceback, as Ctrl-C later does."""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any

#: 128 + SIGINT; kept here too so this module imports nothing before the guard is in place.
_INTERRUPTED = 130


#: Seconds between looks at whether the hook that lost an interrupt has returned (so it can be sent again).
_POLL = 0.005
#: Seconds at most to wait for that hook: it only starts a thread.
_HOOK_WAIT = 1.0
_finished = False  # set once the command returned: an interrupt after that only races the shutdown
#: Hooks for a lost interrupt still running: an interrupt sent now would be raised inside one, and lost again.
_in_hook = 0
#: Seconds between re-sends of a lost interrupt until the main thread has raised it.
_RESEND = 0.1
#: Ctrl-Cs raised as KeyboardInterrupt in the main thread (by `_on_sigint`).
_raised = 0
#: Whether a lost interrupt is being re-sent, and when (monotonic s) a re-sent one was last raised.
_resending = False
_resend_raised_at = -1e9
#: Seconds after a re-sent interrupt was raised in which another SIGINT is a duplicate of that re-send.
_DUPLICATE = 0.5


def _on_sigint(signum: int, frame: Any) -> None:
    """Python's own Ctrl-C, counted: the thread that re-sends a lost one stops once it was raised. A re-send
    already on its way when the first was raised is dropped: a second KeyboardInterrupt would break the
    unwinding of the first (temp files removed, `--json` answered)."""
    global _raised, _resend_raised_at
    now = time.monotonic()
    if now - _resend_raised_at < _DUPLICATE:
        return
    _raised += 1
    if _resending:
        _resend_raised_at = now
    raise KeyboardInterrupt


def install() -> None:
    """Lost interrupts are re-sent (`_redeliver_interrupt`); SIGINT raises KeyboardInterrupt as Python's default
    handler does, counted. An ignored SIGINT (nohup, a background job) stays ignored."""
    sys.unraisablehook = _redeliver_interrupt
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def _redeliver_interrupt(unraisable: Any) -> None:
    """A Ctrl-C landing where Python cannot raise (a finalizer, a C callback such as pydantic-core building a
    validator) would be printed as "Exception ignored ... Traceback" and then lost; raised from this hook it is
    reported the same way. While the command runs, another thread interrupts the main thread again once this
    hook has returned (never sooner: on a busy machine the main thread can still be starting that thread when
    a fixed delay has passed), so it raises at the next safe point and unwinds like any Ctrl-C (temp files removed,
    `--json` answered). Once the command has returned, the process ends by SIGINT, as Python ends after an
    interrupt during shutdown (its output is complete then: reports are written atomically)."""
    global _in_hook
    if not issubclass(unraisable.exc_type, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)
    elif not (_finished or sys.is_finalizing()):
        _in_hook += 1
        try:  # daemon: a command that ends first has nothing left to interrupt
            threading.Thread(target=_interrupt_main_thread, name="redeliver-interrupt", daemon=True).start()
        finally:
            _in_hook -= 1  # the last statement: nothing in this hook can raise the interrupt after it
    else:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError, ValueError):  # gone or broken: nothing to lose
                stream.flush()
        with contextlib.suppress(ValueError):  # signal handlers can only be set from the main thread
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(_INTERRUPTED)


def _interrupt_main_thread() -> None:
    """Ctrl-C again, as a real SIGINT to the main thread: it breaks a blocking call (a sleep, a wait on a
    child, a socket read) at once. `_thread.interrupt_main` only sets the flag, which the main thread reads
    when that call returns on its own, maybe minutes later. When SIGINT is not Python's to handle (ignored,
    or default) a real signal would do nothing or kill the process, so the flag is all that is sent."""
    waited = 0.0
    while _in_hook and waited < _HOOK_WAIT:  # bounded: a second Ctrl-C inside the hook would leave it counted
        time.sleep(_POLL)
        waited += _POLL
    main = threading.main_thread().ident
    handler = signal.getsignal(signal.SIGINT)
    if not callable(handler) or main is None:
        if not _finished:
            _thread.interrupt_main()
        return
    if handler is not _on_sigint:  # not counted: once is all that can be sent safely
        if not _finished:
            signal.pthread_kill(main, signal.SIGINT)
        return
    _resend(main)


def _resend(main: int) -> None:
    """A signal landing just before a blocking call starts is seen only when that call returns: send it again
    until it was raised (`_on_sigint` counts), the command returned (its output is complete) or set a handler
    of its own (which this cannot count)."""
    global _resending
    raised = _raised
    _resending = True
    try:
        while not _finished and _raised == raised and signal.getsignal(signal.SIGINT) is _on_sigint:
            signal.pthread_kill(main, signal.SIGINT)
            time.sleep(_RESEND)
    finally:
        _resending = False


def run() -> None:
    global _finished
    install()
    try:
        try:
            from mlops_platform.cli.mlplat import main

            code = main()
        finally:  # before leaving the handler below: a re-sent interrupt must not land outside it
            _finished = True
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = _INTERRUPTED
    sys.exit(code)
