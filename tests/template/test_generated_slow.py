"""Slow half of the preset matrix: each generated project's own checks, for real.

Every project suite runs once per preset and Python (each run starts a real MLflow server and trains:
train → register → gate → serve → predict → drift, ~45 CPU s): the full `make test` in a uv-locked venv of
its own, created from PyPI like on a fresh machine, on every offered Python (3.13 with the preset that
answers 3.13, so that preset's suite runs on the Python it asks for); the GPU preset's suite with this
venv's Python, which carries the project's dependencies and CPU torch; `run_demo` is what `make demo`
ends with. Tests here share no state, so xdist spreads them over both workers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from mlops_platform.apps.demo_project import run_demo
from mlops_platform.scaffold.templating import read_answers
from ruamel.yaml import YAML

from .support import PRESETS, ROOT, assert_ok, render, run, with_venv_tools

#: The preset whose locked venv `make test` builds for each offered Python: the default answers, except 3.13,
#: which the long-slug preset answers (its suite then runs on its own Python instead of this venv's).
LOCKED_PRESETS = {"3.11": "cpu-deployment-all-envs", "3.12": "cpu-deployment-all-envs", "3.13": "long-slug-dev-only"}


@pytest.mark.slow
def test_gpu_preset_tests_pass(tmp_path: Path) -> None:
    """The GPU preset's own suite (incl. its e2e and torch tests) with this venv's Python, which has the
    project's deps; a locked venv would install multi-GB CUDA wheels (`make test` of the others does that)."""
    project = render(tmp_path / "project", **PRESETS["gpu-kserve-dev-prod"])
    done = run(sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", cwd=project, timeout=900)
    assert_ok(done)
    assert re.search(r"\b\d+ passed\b", done.stdout) and " failed" not in done.stdout
    # its training backend is ray: Ray Train's DDP ran for real on a local two-worker Ray (this venv has
    # `ray`), not skipped
    assert PRESETS["gpu-kserve-dev-prod"]["training_backend"] == "ray"
    ddp = "PASSED tests/test_ray_train.py::test_workers_train_their_own_shards_and_the_gate_judges_that_version"
    assert ddp in done.stdout


@pytest.mark.slow
def test_demo_generates_the_default_preset_and_its_tests_pass(tmp_path: Path) -> None:
    """`make demo`'s last step: the default answers, wired to the offline plan of dev."""
    assert run_demo(tmp_path / "demo") == 0
    answers = read_answers(tmp_path / "demo")
    assert (answers["outputs_source"], answers["serving_mode"], answers["environments"]) == (
        "offline-plan", "deployment", ["dev", "staging", "prod"])


@pytest.mark.slow
@pytest.mark.parametrize("python_version", list(LOCKED_PRESETS))
def test_make_test_passes_in_the_projects_own_locked_venv(python_version: str, tmp_path: Path) -> None:
    """What a team runs on a fresh machine, for every Python the template offers: `make test` locks
    (uv.lock with hashes), syncs .venv on the answered Python, then lint, types and tests."""
    preset = PRESETS[LOCKED_PRESETS[python_version]]
    assert preset.get("python_version", python_version) == python_version
    project = render(tmp_path / "project", **{**preset, "python_version": python_version})
    done = run("make", "test", cwd=project, timeout=1500, env=with_venv_tools())
    assert_ok(done)
    lock = (project / "uv.lock").read_text()
    assert f'requires-python = ">={python_version}"' in lock and 'hash = "sha256:' in lock
    config = (project / ".venv" / "pyvenv.cfg").read_text()
    assert re.search(rf"^version(_info)? = {re.escape(python_version)}\.", config, flags=re.M), config
    # once committed, CI accepts the lock as it is (`uv lock --check`, no rewrite)
    assert_ok(run("make", "-B", "uv.lock", cwd=project, timeout=300, env=with_venv_tools(ci=True)))


def test_every_offered_python_builds_a_locked_venv() -> None:
    """The matrix above covers exactly the Pythons copier.yml offers."""
    offered = YAML(typ="safe").load((ROOT / "copier.yml").read_text())["python_version"]["choices"]
    assert list(LOCKED_PRESETS) == offered


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
