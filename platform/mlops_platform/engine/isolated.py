"""Plan an untrusted Pulumi program in a child process, so nothing it does can end or fake the review.

The program cannot exit the reviewer (`sys.exit`, `os._exit`, a crash), hang it (`timeout`), or reach the
network or start processes (`engine/sandbox.py`; where the kernel allows, also a network namespace of its
own, so sockets fail whatever the program does inside Python). Every way it fails to finish is an
`EngineError` (exit 4) naming what happened and where. The outcome comes back over a pipe this process
owns, and a plan is accepted only from a child that exited 0 after sending it with the per-run secret this
process handed it on stdin: a program that writes a fake result and hard-exits gets an engine error. The
program runs in the child's interpreter, so one written against this reviewer can still find the secret or
patch the recorder: reviewing a hostile program is advisory (docs/policies.md). It runs with the caller's
file permissions.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_platform.core import errors
from mlops_platform.core.errors import ConfigError, ConfigIssue, EngineError, MlplatError, UsageError
from mlops_platform.engine.runner import project_name

#: Seconds a reviewed program may run (`mlplat review --timeout`); the largest shipped program plans in ~30 s.
DEFAULT_TIMEOUT = 300.0
#: Bytes the child may send: far above any plan (the shipped prod plan is a few hundred KB).
CHANNEL_MAX_BYTES = 256 << 20
#: `unshare(1)` (util-linux): a new network namespace (only a loopback, down) in a user namespace, so no
#: privilege is needed where unprivileged user namespaces are enabled.
UNSHARE_NET = ("--net", "--map-root-user", "--")
NETNS = "network namespace + audit hook"
HOOK_ONLY = "audit hook only (no network namespace: {why})"


@dataclass(frozen=True)
class ProgramRun:
    """A finished program: its plan JSON and the stack outputs each StackReference it made read."""

    plan: dict[str, Any]
    references: dict[str, Mapping[str, Any]]
    isolation: str = ""  # which isolation was in force (NETNS or HOOK_ONLY)


@functools.cache
def network_isolation() -> tuple[tuple[str, ...], str]:
    """The command prefix that runs the child in its own network namespace, and a description of the
    isolation in force; probed once per process (`unshare` may exist but be refused by the kernel)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return (), HOOK_ONLY.format(why="unshare not found")
    try:
        probe = subprocess.run([unshare, *UNSHARE_NET, "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return (), HOOK_ONLY.format(why=f"unshare failed: {exc}")
    if probe.returncode != 0:
        why = probe.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {probe.returncode}"]
        return (), HOOK_ONLY.format(why=f"unshare refused: {why[0]}")
    return (unshare, *UNSHARE_NET), NETNS


def run_program_isolated(program_dir: Path, stack: str | None = None, config_file: Path | None = None,
                         timeout: float = DEFAULT_TIMEOUT) -> ProgramRun:
    """Plan `program_dir` (like `run_program`) in a guarded child process that must finish in `timeout` s."""
    program_dir = program_dir.resolve()
    project_name(program_dir)  # usage errors (no Pulumi.yaml, not Python) before a process starts
    if config_file is not None and not config_file.is_file():
        raise UsageError(f"{config_file}: config file not found — fix: pass an existing Pulumi.<stack>.yaml")
    if timeout <= 0:
        raise UsageError(f"--timeout {timeout:g}: must be more than 0 seconds — fix: pass a positive number of "
                         f"seconds, e.g. --timeout {DEFAULT_TIMEOUT:g}")
    request = {"program_dir": str(program_dir), "stack": stack,
               "config_file": str(config_file.resolve()) if config_file else None}
    prefix, isolation = network_isolation()
    secret = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="mlplat-review-") as tmp:
        code, messages = _run_child(request, secret, prefix, Path(tmp), timeout, program_dir)
    run = _accept(code, messages, secret, program_dir)
    return ProgramRun(run.plan, run.references, isolation)


def _run_child(request: Mapping[str, Any], secret: str, prefix: tuple[str, ...], tmp: Path, timeout: float,
               program_dir: Path) -> tuple[int, list[dict[str, Any]]]:
    read_end, write_end = os.pipe()
    argv = [*prefix, sys.executable, "-m", "mlops_platform.engine.child", json.dumps(request), str(write_end)]
    # The program's own output goes to files: it must not corrupt `--format json` on stdout.
    with (tmp / "stdout").open("wb") as out, (tmp / "stderr").open("wb") as err, os.fdopen(read_end, "rb") as chan:
        try:
            child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err, pass_fds=(write_end,),
                                     start_new_session=True)
        finally:
            os.close(write_end)  # the child holds the only write end: EOF once it (and all it started) ended
        chunks: list[bytes] = []
        reader = _drain(chan, chunks)
        _hand_secret(child, secret)
        try:
            code = _wait(child, timeout, program_dir)
        except BaseException:  # Ctrl-C never reaches the child's own session: end it and all it started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise
        finally:  # also after a timeout: the channel closes only once its reader is done with it
            reader.join(timeout=10)
        return code, _messages(b"".join(chunks))


def _drain(chan: Any, chunks: list[bytes]) -> threading.Thread:
    """Read the channel into `chunks` while the child runs (a plan is larger than a pipe's buffer)."""

    def read() -> None:
        size = 0
        while size <= CHANNEL_MAX_BYTES and (chunk := chan.read1(1 << 16)):
            chunks.append(chunk)
            size += len(chunk)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _hand_secret(child: subprocess.Popen[bytes], secret: str) -> None:
    assert child.stdin is not None
    try:
        child.stdin.write(f"{secret}\n".encode())
        child.stdin.close()
    except BrokenPipeError:  # the child died at start: its exit status says so
        pass


def _wait(child: subprocess.Popen[bytes], timeout: float, program_dir: Path) -> int:
    try:
        return child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # its own session: nothing it started outlives the review
        child.wait()
        raise EngineError(f"{program_dir}: the program did not finish within {timeout:g} s and was stopped — "
                          f"fix: look for a loop or a call that waits forever, or raise --timeout") from None


def _messages(data: bytes) -> list[dict[str, Any]]:
    out = []
    for line in data.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue  # not from the child's own `_send`: only authenticated messages count anyway
        if isinstance(message, dict):
            out.append(message)
    return out


def _accept(code: int, messages: list[dict[str, Any]], secret: str, program_dir: Path) -> ProgramRun:
    hard = next((m["hard_exit"] for m in messages if isinstance(m.get("hard_exit"), dict)), None)
    if hard is not None:
        raise EngineError(f"the program ended the engine process with os._exit({hard.get('code')}) at "
                          f"{hard.get('where')} before the plan was complete — fix: let it run to its end")
    final = [m for m in messages if hmac.compare_digest(str(m.get("secret", "")).encode(), secret.encode())]
    if len(final) != 1 or code != 0:
        raise EngineError(f"{program_dir}: the engine process {_ended(code)} before the plan was complete "
                          f"— fix: run the program's own tests; look for a crash or a hard exit")
    if "error" in final[0]:
        raise _relayed(final[0]["error"])
    if not isinstance(final[0].get("plan"), dict):
        raise EngineError(f"{program_dir}: the engine process sent no plan — fix: report this as a bug")
    return ProgramRun(final[0]["plan"], dict(final[0].get("references") or {}))


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
