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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import repo_root

MLPLAT = str(Path(sys.executable).with_name("mlplat"))
#: A hang, not a slow machine: an in-process command still running after this many seconds is interrupted
#: and fails its test (healthy ones, template renders and retried AWS calls included, take well under 60 s).
HANG = 120.0


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
    that hangs is interrupted by a watchdog after HANG s and fails the test (issue #11's time bound)."""
    from mlops_platform.cli import main

    def run(*argv: str | Path, code: int | None = None) -> Result:
        with _watchdog(HANG) as hung:
            exit_code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        result = Result(exit_code, captured.out, captured.err)
        assert not hung, f"mlplat {' '.join(map(str, argv))} hung: still running after {HANG:g} s"
        assert "Traceback" not in result.text, result.text
        if code is not None:
            assert exit_code == code, result.text
        return result

    return run


@contextmanager
def _watchdog(seconds: float) -> Iterator[list[bool]]:
    """Yields a list that holds True once `seconds` passed: the main thread then gets a KeyboardInterrupt
    (the CLI answers it with exit 130, so the caller sees the hang). Should that not end it either (stuck
    in C code), faulthandler dumps every thread's stack and ends the process: a crash, never a silent hang."""
    fired: list[bool] = []
    main = threading.main_thread().ident or 0

    def interrupt() -> None:
        fired.append(True)
        signal.pthread_kill(main, signal.SIGINT)  # a real signal: it also ends a blocking sleep or read

    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    faulthandler.dump_traceback_later(2 * seconds, exit=True, file=sys.__stderr__)  # capsys holds sys.stderr
    try:
        yield fired
    finally:
        faulthandler.cancel_dump_traceback_later()
        timer.cancel()


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
