"""One MLflow server for the generated projects' suites of a whole test run (all xdist workers).

The projects' own conftest starts an MLflow server per suite (~7 CPU s, 10-12 in a fresh venv that
compiles its bytecode first) unless MLFLOW_TEST_SERVER_URI names a running one. The suites that run this
venv's MLflow minor version as client (the GPU preset's; a locked venv's when its uv.lock pins it) share
this one, the others start their own: the first worker that needs it starts it under a file lock in the
run's base temp directory, the others read its URL there.

It must not outlive the run, and no worker knows whether another still needs it, so a keeper process
owns it: the keeper starts the server (the public `mlflow server` CLI, as the projects' Makefile does)
and stops it once the pytest process that runs the session (the xdist controller, or pytest itself
without xdist) has exited — also when that process was killed, or the keeper itself terminated.

Run as a script, this module is that keeper: `python shared_mlflow.py PID LOG -- COMMAND...`.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the keeper runs this file as a script: it imports nothing it does not use
    import pytest

#: The variable the generated projects' conftest reads (see the project's README).
TEST_SERVER_ENV = "MLFLOW_TEST_SERVER_URI"
#: Seconds the server may take to answer /health (it imports MLflow and migrates a new sqlite store).
STARTUP_TIMEOUT = 300


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base temp directory of the whole run: an xdist worker's base temp is a folder in it."""
    basetemp = tmp_path_factory.getbasetemp()
    return basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp


def session_pid() -> int:
    """The process whose exit ends the run: an xdist worker's parent is the controller."""
    return os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def shared_server(root: Path) -> str:
    """The URL of the run's shared server in `root`, started by the first caller."""
    home = root / "shared-mlflow"
    home.mkdir(exist_ok=True)
    with (home / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait here while the first one starts it
        known = home / "url"
        if known.exists() and healthy(url := known.read_text()):
            return url
        url = _start(home)
        known.write_text(url)
        return url


def _start(home: Path) -> str:
    # imported here: the keeper (this file run as a script) needs neither, nor has tests/ on its path
    from moto_stand_in import free_port, wait_until_up

    port = free_port()
    store = home / str(port)
    store.mkdir()
    # two suites (one per xdist worker) may write at once: a writer waits up to 60 s for sqlite's lock
    # (pysqlite's `timeout`, 5 s by default, set through SQLAlchemy's URL) instead of failing with
    # "database is locked" on a loaded machine, and NullPool (MLflow's MLFLOW_SQLALCHEMYSTORE_POOLCLASS)
    # keeps no idle connection in a transaction between requests
    database = f"sqlite:///{store / 'mlflow.db'}?timeout=60"
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", database,
               "--no-serve-artifacts", "--default-artifact-root", (store / "artifacts").as_uri(),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    log = store / "server.log"
    log.touch()  # read if the keeper fails before it opens it
    # as the projects' own test server (and the platform's): clients write artifacts themselves; the
    # projects use no server-side jobs (their Makefile says the same); no telemetry from tests
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_SQLALCHEMYSTORE_POOLCLASS": "NullPool"}
    keeper = subprocess.Popen([sys.executable, __file__, str(session_pid()), str(log), "--", *command],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              cwd=store, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"the shared MLflow server ({' '.join(command)})", lambda: healthy(url), keeper, log,
                      timeout=STARTUP_TIMEOUT)
    except RuntimeError:
        keeper.terminate()  # the keeper stops the server on its way out
        raise
    return url


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def keep(watched: int, log: Path, command: list[str]) -> int:
    """Run `command` (the server) until it exits or process `watched` is gone, then stop it."""
    with log.open("wb") as sink:
        server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    try:
        while server.poll() is None and _alive(watched):
            time.sleep(1)
    finally:
        server.terminate()  # `mlflow server` passes it on to its uvicorn process
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0


def _exit_on_terminate(signum: int, frame: object) -> None:
    """SIGTERM (a failed start-up's `keeper.terminate()`, a stopped CI job) unwinds `keep`, whose `finally`
    stops the server; Python's default would end the keeper at once and leave the server to init."""
    sys.exit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_terminate)
    pid, log_file, separator, *server_command = sys.argv[1:]
    assert separator == "--", sys.argv
    sys.exit(keep(int(pid), Path(log_file), server_command))
