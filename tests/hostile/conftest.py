"""Helpers of the hostile-input tests (issue #11): run `mlplat` as a careless or hostile user would and
check the four promises — the documented exit code, a message with the key words and no traceback, an
answer within a time bound, and nothing created or changed on disk.

Most cases run in-process through `cli.main` (fast); a few run the real console script in a
subprocess, where a timeout bounds a hang and signals are real.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import repo_root

MLPLAT = str(Path(sys.executable).with_name("mlplat"))
#: In-process answers must come within this many seconds (the budget of a slow, shared CI machine).
FAST = 10.0


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str
    seconds: float

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
    """`cli("validate", "x", code=2)`: run in-process, assert the exit code, no traceback, and an answer
    within `seconds` (FAST, unless the command renders templates)."""
    from mlops_platform.cli import main

    def run(*argv: str | Path, code: int | None = None, seconds: float = FAST) -> Result:
        start = time.monotonic()
        exit_code = main([str(a) for a in argv])
        elapsed = time.monotonic() - start
        captured = capsys.readouterr()
        result = Result(exit_code, captured.out, captured.err, elapsed)
        assert "Traceback" not in result.text, result.text
        assert elapsed < seconds, f"took {elapsed:.1f} s"
        if code is not None:
            assert exit_code == code, result.text
        return result

    return run


def subprocess_mlplat(*argv: str | Path, timeout: float = 60, cwd: Path | None = None,
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
