"""Slow half of the preset matrix: each generated project's own checks, for real.

Every project suite runs once per preset and Python (each run starts a real MLflow server and trains:
train → register → gate → serve → predict → drift, ~45 CPU s): the full `make test` in a uv-locked venv of
its own, created from PyPI like on a fresh machine, on every offered Python — the default one (3.11) by
`run_demo`, what `make demo` ends with (the default answers), the others with a preset each (3.13 with the
preset that answers 3.13, so that preset's suite runs on the Python it asks for); the GPU preset's suite
with this venv's Python, which carries the project's dependencies and CPU torch. Tests here share no
state, so xdist spreads them over both workers. Those that do not test the project's own MLflow launcher
(the demo does) may share one MLflow server for the whole run (`shared_mlflow`): the projects' tests work
on models and experiments of their own, so one server serves them all. That server runs this venv's MLflow,
so a locked venv's suite uses it only when its lock resolved the same MLflow minor version; otherwise the
project starts its own server, so no client/server version mix is tested that no team would run.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
from mlops_platform.apps.demo_project import run_demo
from mlops_platform.scaffold.templating import read_answers
from ruamel.yaml import YAML

from . import shared_mlflow
from .shared_mlflow import TEST_SERVER_ENV, keep, run_root, shared_server
from .support import PRESETS, ROOT, assert_ok, render, run, with_venv_tools

#: copier.yml's `python_version` question: its choices and its default.
PYTHON_QUESTION = YAML(typ="safe").load((ROOT / "copier.yml").read_text())["python_version"]
#: The preset whose locked venv `make test` builds for each offered Python but the default, which the demo
#: covers (`run_demo` runs `make test` on the default answers): 3.12 with the default answers otherwise, 3.13
#: with the long-slug preset, which answers it (its suite then runs on its own Python instead of this venv's).
LOCKED_PRESETS = {"3.12": "cpu-deployment-all-envs", "3.13": "long-slug-dev-only"}


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of the MLflow server the projects' suites share in this run (started by the first user)."""
    return shared_server(run_root(tmp_path_factory))


def assert_locked_venv(project: Path, python_version: str) -> None:
    """After `make test`: uv.lock pins every dependency with hashes for `python_version`, .venv runs that
    Python, and once committed, CI accepts the lock as it is (`uv lock --check`, no rewrite)."""
    lock = (project / "uv.lock").read_text()
    assert f'requires-python = ">={python_version}"' in lock and 'hash = "sha256:' in lock
    config = (project / ".venv" / "pyvenv.cfg").read_text()
    assert re.search(rf"^version(_info)? = {re.escape(python_version)}\.", config, flags=re.M), config
    assert_ok(run("make", "-B", "uv.lock", cwd=project, timeout=300, env=with_venv_tools(ci=True)))


@pytest.mark.slow
def test_gpu_preset_tests_pass(tmp_path: Path, mlflow_server: str) -> None:
    """The GPU preset's own suite (incl. its e2e and torch tests) with this venv's Python, which has the
    project's deps; a locked venv would install multi-GB CUDA wheels (`make test` of the others does that)."""
    project = render(tmp_path / "project", **PRESETS["gpu-kserve-dev-prod"])
    done = run(sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", cwd=project, timeout=900,
               env={**os.environ, TEST_SERVER_ENV: mlflow_server})
    assert_ok(done)
    assert re.search(r"\b\d+ passed\b", done.stdout) and " failed" not in done.stdout
    # its training backend is ray: Ray Train's DDP ran for real on a local two-worker Ray (this venv has
    # `ray`), not skipped
    assert PRESETS["gpu-kserve-dev-prod"]["training_backend"] == "ray"
    ddp = "PASSED tests/test_ray_train.py::test_workers_train_their_own_shards_and_the_gate_judges_that_version"
    assert ddp in done.stdout


@pytest.mark.slow
def test_demo_generates_the_default_preset_and_its_make_test_passes(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`make demo`'s last step: the default answers, wired to the offline plan of dev, and the project's
    own `make test` (lock, sync .venv on the default Python, lint, types, tests) like on a team's laptop —
    so this is also the locked-venv run for the default Python. The suite's own CI variable must not leak
    into it (the demo creates the lock; on CI the Makefile would only check it), nor does it need uv on PATH."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv(TEST_SERVER_ENV, raising=False)  # the project's suite starts its own server here
    assert run_demo(tmp_path / "demo") == 0
    answers = read_answers(tmp_path / "demo")
    assert (answers["outputs_source"], answers["serving_mode"], answers["environments"]) == (
        "offline-plan", "deployment", ["dev", "staging", "prod"])
    assert answers["python_version"] == PYTHON_QUESTION["default"]
    assert_locked_venv(tmp_path / "demo", PYTHON_QUESTION["default"])


def locked_mlflow(project: Path) -> str:
    """The MLflow version the project's uv.lock pins."""
    packages = tomllib.loads((project / "uv.lock").read_text())["package"]
    return next(package["version"] for package in packages if package["name"] == "mlflow")


def same_minor(version: str, other: str) -> bool:
    """Same major.minor: an MLflow client talks to a server of its own minor version."""
    return version.split(".")[:2] == other.split(".")[:2]


@pytest.mark.slow
@pytest.mark.parametrize("python_version", list(LOCKED_PRESETS))
def test_make_test_passes_in_the_projects_own_locked_venv(python_version: str, tmp_path: Path,
                                                           request: pytest.FixtureRequest) -> None:
    """What a team runs on a fresh machine, for every other Python the template offers: `make test` locks
    (uv.lock with hashes), syncs .venv on the answered Python, then lint, types and tests. The lock is made
    first (the same `make` target and environment, so `make test` finds it up to date): the suite uses the
    run's shared MLflow server only when the lock pins this venv's MLflow minor version, as a CI service
    container of the project's own version would; otherwise it starts its own (the locked MLflow on both
    sides)."""
    preset = PRESETS[LOCKED_PRESETS[python_version]]
    assert preset.get("python_version", python_version) == python_version
    project = render(tmp_path / "project", **{**preset, "python_version": python_version})
    env = with_venv_tools()
    assert_ok(run("make", "uv.lock", cwd=project, timeout=300, env=env))
    if same_minor(locked_mlflow(project), importlib.metadata.version("mlflow")):
        env[TEST_SERVER_ENV] = request.getfixturevalue("mlflow_server")
    else:
        env.pop(TEST_SERVER_ENV, None)  # the project's own launcher starts its locked MLflow
    done = run("make", "test", cwd=project, timeout=1500, env=env)
    assert_ok(done)
    assert_locked_venv(project, python_version)


def test_the_shared_server_is_used_only_by_a_client_of_its_minor_version(tmp_path: Path) -> None:
    """The version match that decides whether a locked suite shares this venv's MLflow server."""
    (tmp_path / "uv.lock").write_text('version = 1\n[[package]]\nname = "mlflow-skinny"\nversion = "3.1.0"\n'
                                      '[[package]]\nname = "mlflow"\nversion = "3.18.1"\n')
    assert locked_mlflow(tmp_path) == "3.18.1"
    assert same_minor("3.17.2", "3.17.0") and same_minor("3.17", "3.17.2")
    assert not same_minor("3.18.0", "3.17.2") and not same_minor("4.17.2", "3.17.2")


def test_every_offered_python_builds_a_locked_venv() -> None:
    """The demo (the default Python) and the matrix above cover exactly the Pythons copier.yml offers."""
    assert [PYTHON_QUESTION["default"], *LOCKED_PRESETS] == PYTHON_QUESTION["choices"]


def test_ci_refuses_a_project_without_its_committed_lock(tmp_path: Path) -> None:
    """On a CI runner (CI=true) the Makefile only checks uv.lock: a missing or stale lock fails the
    build instead of being re-resolved there, so CI installs exactly what was reviewed."""
    project = render(tmp_path / "project")
    done = run("make", "uv.lock", cwd=project, timeout=120, env=with_venv_tools(ci=True))
    assert done.returncode != 0 and not (project / "uv.lock").exists()
    assert "--check" in done.stdout + done.stderr


@pytest.mark.slow
def test_gpu_preset_locks_torch_with_hashes(tmp_path: Path) -> None:
    """The GPU preset's lock resolves torch for Linux (CUDA wheels); installing those multi-GB wheels
    is left to the image build, while its tests run above on this venv's CPU torch."""
    project = render(tmp_path / "project", **PRESETS["gpu-kserve-dev-prod"])
    assert_ok(run("uv", "lock", cwd=project, timeout=900, env=with_venv_tools()))
    lock = (project / "uv.lock").read_text()
    assert '[[package]]\nname = "torch"' in lock and 'hash = "sha256:' in lock


def test_the_shared_servers_keeper_stops_it_once_the_run_is_over(tmp_path: Path) -> None:
    """The keeper of the run's shared MLflow server stops it as soon as the process it watches (the run's
    pytest) is gone, so no server outlives a run, not even a killed one."""
    run_process = subprocess.Popen(["sleep", "0.5"])
    threading.Thread(target=run_process.wait, daemon=True).start()  # reaped on exit, as the shell reaps pytest
    pid_file = tmp_path / "server.pid"
    started = time.monotonic()
    keep(run_process.pid, tmp_path / "server.log", ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 60"])
    assert time.monotonic() - started < 30
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_a_terminated_keeper_stops_the_server_it_keeps(tmp_path: Path) -> None:
    """A keeper that is itself terminated (the shared server did not start in time, a cancelled CI job) still
    stops its server: none is left to init, holding its port and store."""
    pid_file = tmp_path / "server.pid"
    server = ["sh", "-c", f"echo $$ > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; exec sleep 60"]
    keeper = subprocess.Popen([sys.executable, shared_mlflow.__file__, str(os.getpid()), str(tmp_path / "log"), "--",
                               *server])
    deadline = time.monotonic() + 30
    while not pid_file.exists():
        assert keeper.poll() is None and time.monotonic() < deadline, "the keeper did not start its server"
        time.sleep(0.05)
    keeper.terminate()
    assert keeper.wait(timeout=30) == 128 + signal.SIGTERM
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
