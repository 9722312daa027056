"""Guards for a reviewed program: no network, no child processes, and hard exits that say where.

Installed only in the child process that `mlplat review --program` starts (`engine/child.py`): an audit
hook (PEP 578) refuses Python-level socket connections, name lookups and process starts, and records each
refusal so a program that swallows the error still fails the review. This is the second layer: where the
kernel allows it, the child also runs in a network namespace of its own (`engine/isolated.py`), so sockets
fail whatever the program does to this hook. On its own it is a guard against a program quietly doing
things an offline review must not, not a sandbox: native code (ctypes) bypasses audit hooks, a program can
clear the refusal list it finds in memory, and the program keeps the caller's file permissions.
"""

from __future__ import annotations

import os
import posix
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

#: Audit events that reach the network (https://docs.python.org/3/library/audit_events.html).
NETWORK_EVENTS = frozenset({"socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
                            "socket.gethostbyaddr", "socket.getnameinfo", "socket.sendto", "socket.sendmsg"})
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
#: Audit events that start another program, which would run outside these guards.
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                            "os.fork", "os.forkpty"})


class SandboxViolation(BaseException):  # BaseException: `except Exception` in a program cannot hide it
    """The reviewed program tried something a review refuses (network, processes)."""


@dataclass(frozen=True)
class Refusal:
    """One refused attempt: what the program tried and where (file:line in the program, if found)."""

    what: str
    where: str

    def render(self) -> str:
        return f"{self.what} at {self.where}"


def where(frames: list[traceback.FrameSummary], root: Path) -> str:
    """`file:line` of the innermost frame inside the program directory (else the innermost frame)."""
    inside = [f for f in frames if _under(f.filename, root)]
    chosen = (inside or frames)[-1:] or None
    if chosen is None:
        return "<unknown location>"
    return f"{_display(chosen[0].filename, root)}:{chosen[0].lineno}"


def _under(filename: str, root: Path) -> bool:
    if not os.path.isabs(filename):  # `<frozen ...>`, `<string>`: not a file in the program
        return False
    try:
        Path(filename).resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return True


def _display(filename: str, root: Path) -> str:
    return Path(filename).resolve().as_posix() if _under(filename, root) else filename


def frame_where(frame: FrameType | None, root: Path) -> str:
    return where(traceback.extract_stack(frame), root) if frame is not None else "<unknown location>"


def _describe(event: str, args: tuple[Any, ...]) -> str:
    if event.startswith("socket."):  # not NETWORK_EVENTS: a program may rebind that module attribute
        target = args[1] if event in {"socket.connect", "socket.bind", "socket.sendto"} and len(args) > 1 else \
            (args[0] if args else "")
        return f"network access ({event} {target!r})"
    return f"starting a process ({event} {args[0]!r})"


def _loopback_bind(event: str, args: tuple[Any, ...]) -> bool:
    """Binding a loopback port reaches no network; libraries probe IPv6 support that way (urllib3 binds
    `('::1', 0)` at import)."""
    if event != "socket.bind" or len(args) < 2 or not isinstance(args[1], tuple) or not args[1]:
        return False
    return str(args[1][0]) in LOOPBACK


def audit_hook(root: Path, refusals: list[Refusal]) -> Callable[[str, tuple[Any, ...]], None]:
    """The audit hook: refuses network access and new processes, appending each refusal to `refusals`.

    A closure, not a method: a program cannot switch it off by patching a class, and everything it calls is
    bound here, so rebinding module attributes (`sandbox.NETWORK_EVENTS`, `sys._getframe`) later changes
    nothing. Whatever goes wrong while describing a refusal, the event is still refused.
    """
    network, process, loopback, getframe = NETWORK_EVENTS, PROCESS_EVENTS, _loopback_bind, sys._getframe
    describe, locate, record, refusal_type = _describe, frame_where, refusals.append, Refusal

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if (event not in network and event not in process) or loopback(event, args):
            return
        try:
            refusal = refusal_type(describe(event, args), locate(getframe(1), root))
        except BaseException:  # a tampered helper must not turn a refusal into a pass
            refusal = refusal_type(f"{event} (tampered guard)", "<unknown location>")
        record(refusal)
        raise SandboxViolation(f"{refusal.what} at {refusal.where}")

    return hook


def install(root: Path, on_hard_exit: Callable[[int, str], None]) -> list[Refusal]:
    """Guard this process (irreversibly) and report `os._exit`/`posix._exit` calls with their location
    before exiting. Returns the list the hook records refusals in."""
    refusals: list[Refusal] = []
    sys.addaudithook(audit_hook(root, refusals))
    real_exit = posix._exit

    def hard_exit(status: int) -> NoReturn:
        try:
            on_hard_exit(status, frame_where(sys._getframe(1), root))
        finally:
            real_exit(status)

    os._exit = posix._exit = hard_exit  # the same function under two names: wrap both
    return refusals
