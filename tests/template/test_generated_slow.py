"""Slow half of the preset matrix: each generated project's own checks, for real.

Its pytest (a real MLflow server, train → register → gate → serve → predict → drift) runs with this
venv's Python, which carries the project's dependencies; `run_demo` is what `make demo` ends with;
one preset runs the full `make test` in a venv of its own, created from PyPI like on a fresh machine.
Tests here share no state, so xdist spreads them over both workers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from mlops_platform.apps.demo_project import run_demo
from mlops_platform.scaffold.templating import read_answers

from .support import assert_ok, render, run
from .test_generated import PRESETS


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["gpu-kserve-dev-prod", "long-slug-dev-only"])
def test_generated_project_tests_pass(preset: str, tmp_path: Path) -> None:
    """The project's own suite (incl. its e2e test) with this venv's Python (it has the project's deps)."""
    project = render(tmp_path / "project", **PRESETS[preset])
    done = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, timeout=900)
    assert_ok(done)
    assert re.search(r"\b\d+ passed\b", done.stdout) and " failed" not in done.stdout


@pytest.mark.slow
def test_demo_generates_the_default_preset_and_its_tests_pass(tmp_path: Path) -> None:
    """`make demo`'s last step: the default answers, wired to the offline plan of dev."""
    assert run_demo(tmp_path / "demo") == 0
    answers = read_answers(tmp_path / "demo")
    assert (answers["outputs_source"], answers["serving_mode"], answers["environments"]) == (
        "offline-plan", "deployment", ["dev", "staging", "prod"])


@pytest.mark.slow
def test_make_test_passes_in_the_projects_own_venv(tmp_path: Path) -> None:
    """What a team runs on a fresh machine: `make test` creates .venv from PyPI, then lint, types, tests."""
    # Python 3.11: the one this machine has (the project's own venv uses the answered version)
    project = render(tmp_path / "project", **{**PRESETS["gpu-kserve-dev-prod"], "python_version": "3.11"})
    done = run("make", "test", f"PYTHON={sys.executable}", cwd=project, timeout=1800)
    assert_ok(done)
    assert (project / ".venv" / ".installed").is_file()
