"""Slow half of the preset matrix: each generated project's own checks, for real.

Its pytest (a real MLflow server, train → register → gate → serve → predict → drift) runs with this
venv's Python, which carries the project's dependencies; `run_demo` is what `make demo` ends with;
the default preset runs the full `make test` on every offered Python in a uv-locked venv of its own,
created from PyPI like on a fresh machine.
Tests here share no state, so xdist spreads them over both workers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from mlops_platform.apps.demo_project import run_demo
from mlops_platform.scaffold.templating import read_answers

from .support import PRESETS, assert_ok, render, run, with_venv_tools


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["gpu-kserve-dev-prod", "long-slug-dev-only"])
def test_generated_project_tests_pass(preset: str, tmp_path: Path) -> None:
    """The project's own suite (incl. its e2e test) with this venv's Python (it has the project's deps)."""
    project = render(tmp_path / "project", **PRESETS[preset])
    done = run(sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", cwd=project, timeout=900)
    assert_ok(done)
    assert re.search(r"\b\d+ passed\b", done.stdout) and " failed" not in done.stdout
    if PRESETS[preset].get("training_backend") == "ray":
        # Ray Train's DDP ran for real on a local two-worker Ray (this venv has `ray`), not skipped
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
@pytest.mark.parametrize("python_version", ["3.11", "3.12", "3.13"])
def test_make_test_passes_in_the_projects_own_locked_venv(python_version: str, tmp_path: Path) -> None:
    """What a team runs on a fresh machine, for every Python the template offers: `make test` locks
    (uv.lock with hashes), syncs .venv on the answered Python, then lint, types and tests."""
    project = render(tmp_path / "project", python_version=python_version)
    done = run("make", "test", cwd=project, timeout=1500, env=with_venv_tools())
    assert_ok(done)
    lock = (project / "uv.lock").read_text()
    assert f'requires-python = ">={python_version}"' in lock and 'hash = "sha256:' in lock
    config = (project / ".venv" / "pyvenv.cfg").read_text()
    assert re.search(rf"^version(_info)? = {re.escape(python_version)}\.", config, flags=re.M), config
    # once committed, CI accepts the lock as it is (`uv lock --check`, no rewrite)
    assert_ok(run("make", "-B", "uv.lock", cwd=project, timeout=300, env=with_venv_tools(ci=True)))


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
