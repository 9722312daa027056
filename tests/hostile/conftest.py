"""Helpers of the hostile-input tests (issue #11): run `mlplat` as a careless or hostile user would and
check the four promises — the documented exit code, a message with the key words and no traceback, an
answer within a time bound, and nothing created or changed on disk.

Most cases run in-process through `cli.main` (fast); a few run the real console script in a
subprocess, where a timeout bounds a hang and signals are real.
"""

from __future__ import annotations

import faulthandler
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import repo_root

MLPLAT = str(Path(sys.executable).with_name("mlplat"))
#: A hang, not a slow machine: an in-process command is interrupted, and fails its test, once it used HANG_CPU
#: CPU seconds (a loop that never ends) or ran HANG wall seconds (a wait that never ends). Healthy commands,
#: template renders and retried AWS calls included, use well under 60 CPU s; a bound in CPU seconds holds on a
#: machine shared by many runs, where a 20 CPU s render can take minutes of wall time. Subprocesses: HANG.
HANG = 600.0
HANG_CPU = 120.0
#: A command still running this long after its interrupt (one lost in a finalizer, a pool waiting for its
#: workers) gets every thread's stack dumped to stderr and another interrupt.
GRACE = 60.0


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        """stdout as exactly one JSON document (strict: no NaN/Infinity)."""
        return json.loads(self.out, parse_constant=_reject)

    def error(self) -> dict[str, Any]:
        """The `error` object of the --json contract, checked for its shape."""
        error = self.json()["error"]
        assert set(error) == {"code", "exit_code", "message", "issues"}, error
        assert error["exit_code"] == self.code and isinstance(error["issues"], list)
        return dict(error)


def _reject(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """`cli("validate", "x", code=2)`: run in-process, assert the exit code and no traceback; a command
    that hangs is interrupted by a watchdog (HANG, HANG_CPU) and fails the test (issue #11's time bound)."""
    from mlops_platform.cli import main

    def run(*argv: str | Path, code: int | None = None) -> Result:
        try:
            with _watchdog(HANG, HANG_CPU) as hung:
                exit_code = main([str(a) for a in argv])
        except KeyboardInterrupt:  # the watchdog's, landing outside the CLI's own handler (after the first)
            if not hung:
                raise  # the developer's own Ctrl-C
            exit_code = 130
        captured = capsys.readouterr()
        result = Result(exit_code, captured.out, captured.err)
        assert not hung, f"mlplat {' '.join(map(str, argv))} hung: {hung[0]}"
        assert "Traceback" not in result.text, result.text
        if code is not None:
            assert exit_code == code, result.text
        return result

    return run


@contextmanager
def _watchdog(wall: float, cpu: float) -> Iterator[list[str]]:
    """Yields a list that says why once the block ran `wall` s or used `cpu` CPU s: the main thread then gets a
    KeyboardInterrupt (the CLI answers it with exit 130, so the caller sees the hang), and every GRACE s after
    that, with every thread's stack on stderr, another one until the block ends.

    It never ends the process: an xdist worker that dies mid-group has its group handed to the other worker,
    crashing test first, and `--dist loadgroup` then waits forever for the workers it lost (issue #12's flake:
    the exit deadline this watchdog used to arm killed workers whose command was slow on a busy machine)."""
    why: list[str] = []
    ended: list[bool] = []  # a list, not an Event: setting it runs no Python code an interrupt could cut short
    main, lock = threading.main_thread().ident or 0, threading.Lock()
    start, start_cpu = time.monotonic(), time.process_time()

    def passed() -> str | None:
        if time.monotonic() - start >= wall:
            return f"still running after {wall:g} s"
        return f"used {cpu:g} CPU s" if time.process_time() - start_cpu >= cpu else None

    def until(stop: Callable[[], object]) -> None:
        while not ended and not stop():
            time.sleep(0.1)

    def watch() -> None:
        until(passed)
        if not ended:
            why.append(str(passed()))
        while not ended:
            with lock:  # never once the block ended: the interrupt would land in the test, or in pytest
                if not ended:
                    signal.pthread_kill(main, signal.SIGINT)  # a real signal: it also ends a blocking sleep or read
            until(lambda again=time.monotonic() + GRACE: time.monotonic() >= again)
            if not ended:
                faulthandler.dump_traceback(file=sys.__stderr__)  # capsys holds sys.stderr

    threading.Thread(target=watch, name="mlplat-watchdog", daemon=True).start()
    try:
        with interruptible():
            yield why
    finally:
        try:
            ended.append(True)
        finally:  # again, should an interrupt sent just before have landed on the line above
            ended.append(True)
            with lock:  # one being sent has been sent: it lands here, where `cli` catches it
                pass


@contextmanager
def interruptible() -> Iterator[None]:
    """Inside the block SIGINT raises KeyboardInterrupt here and reaches the processes started here, also when
    the test run itself was started with SIGINT ignored (a background job of a non-interactive shell, nohup):
    Python then leaves it ignored, and every process it starts inherits that (seen: the watchdog's interrupts
    and test_interrupts.py's Ctrl-Cs had no effect)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def subprocess_mlplat(*argv: str | Path, timeout: float = HANG, cwd: Path | None = None,
                      env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real console script; a hang fails the test through the timeout."""
    done = subprocess.run([MLPLAT, *map(str, argv)], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})}, check=False)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file and directory under `roots` with a digest of its content, to compare before/after."""
    found: dict[str, str] = {}
    for root in roots:
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if ".git" in path.parts or "__pycache__" in path.parts or ".pytest_cache" in path.parts:
                continue
            if path.is_file() and not path.is_symlink():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[str(path)] = "dir" if path.is_dir() else "other"
    return found


@contextmanager
def unchanged(*roots: Path) -> Iterator[None]:
    """Fails when anything under `roots` or the repository's stacks/ and docs/ changed inside the block."""
    watched = (*roots, repo_root() / "stacks", repo_root() / "docs")
    before = snapshot(*watched)
    yield
    after = snapshot(*watched)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert not changed, {k: (before.get(k), after.get(k)) for k in sorted(changed)}
