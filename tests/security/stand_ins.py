"""Real local stand-ins for the security tests: processes on a free loopback port, waited for."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(name: str, is_up: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path,
                  timeout: float = 90) -> None:
    """Poll `is_up` until it answers True; fail with the process's log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if is_up():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{name} did not start within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
