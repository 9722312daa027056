"""Plan an untrusted Pulumi program in a child process, so nothing it does can end or fake the review.

The program cannot exit the reviewer (`sys.exit`, `os._exit`, a crash), hang it (`timeout`), or reach the
network or start processes (`engine/sandbox.py`). Every way it fails to finish is an `EngineError` (exit 4)
naming what happened and where; a plan is accepted only from a child that ran to its end. The program runs
with the caller's file permissions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_platform.core import errors
from mlops_platform.core.errors import ConfigError, ConfigIssue, EngineError, MlplatError, UsageError
from mlops_platform.engine.runner import project_name

#: Seconds a reviewed program may run (`mlplat review --timeout`); the largest shipped program plans in ~30 s.
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class ProgramRun:
    """A finished program: its plan JSON and the stack outputs each StackReference it made read."""

    plan: dict[str, Any]
    references: dict[str, Mapping[str, Any]]


def run_program_isolated(program_dir: Path, stack: str | None = None, config_file: Path | None = None,
                         timeout: float = DEFAULT_TIMEOUT) -> ProgramRun:
    """Plan `program_dir` (like `run_program`) in a guarded child process that must finish in `timeout` s."""
    program_dir = program_dir.resolve()
    project_name(program_dir)  # usage errors (no Pulumi.yaml, not Python) before a process starts
    if config_file is not None and not config_file.is_file():
        raise UsageError(f"{config_file}: config file not found — fix: pass an existing Pulumi.<stack>.yaml")
    if timeout <= 0:
        raise UsageError(f"--timeout {timeout:g}: must be more than 0 seconds")
    request = {"program_dir": str(program_dir), "stack": stack,
               "config_file": str(config_file.resolve()) if config_file else None}
    with tempfile.TemporaryDirectory(prefix="mlplat-review-") as tmp:
        result = Path(tmp) / "result.json"
        code = _run_child(request, result, Path(tmp), timeout, program_dir)
        outcome = _read(result)
    return _accept(code, outcome, program_dir)


def _run_child(request: Mapping[str, Any], result: Path, tmp: Path, timeout: float, program_dir: Path) -> int:
    argv = [sys.executable, "-m", "mlops_platform.engine.child", json.dumps(request), str(result)]
    # The program's own output goes to files: it must not corrupt `--format json` on stdout.
    with (tmp / "stdout").open("wb") as out, (tmp / "stderr").open("wb") as err:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        try:
            return child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # its own session: nothing it started outlives the review
            child.wait()
            raise EngineError(f"{program_dir}: the program did not finish within {timeout:g} s and was stopped — "
                              f"fix: look for a loop or a call that waits forever, or raise --timeout") from None


def _read(result: Path) -> dict[str, Any]:
    try:
        data = json.loads(result.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _accept(code: int, outcome: Mapping[str, Any], program_dir: Path) -> ProgramRun:
    if "hard_exit" in outcome:
        hard = outcome["hard_exit"]
        raise EngineError(f"the program ended the engine process with os._exit({hard.get('code')}) at "
                          f"{hard.get('where')} before the plan was complete — fix: let it run to its end")
    if "error" in outcome:
        raise _relayed(outcome["error"])
    if code != 0 or "plan" not in outcome:
        raise EngineError(f"{program_dir}: the engine process {_ended(code)} before the plan was complete "
                          f"— fix: run the program's own tests; look for a crash or a hard exit")
    return ProgramRun(outcome["plan"], dict(outcome.get("references") or {}))


def _ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"ended with exit status {code}"


def _relayed(error: Mapping[str, Any]) -> MlplatError:
    """The child's error as the same class (so the same exit code and `--json` shape)."""
    name, message = str(error.get("class")), str(error.get("message"))
    if name == "ConfigError":
        return ConfigError([ConfigIssue(**issue) for issue in error.get("issues") or []], message)
    cls = getattr(errors, name, EngineError)
    if not (isinstance(cls, type) and issubclass(cls, MlplatError)):
        cls = EngineError
    return cls(message)
