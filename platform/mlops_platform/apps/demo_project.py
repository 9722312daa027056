"""The last step of `make demo`: generate a project from the offline plan and run its own `make test`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from uv import find_uv_bin

from mlops_platform.scaffold.new import OFFLINE_BANNER, entry_yaml, new_project

DEMO_PROJECT = "fraud-detector"
DEMO_ENV = "dev"
DEMO_ANSWERS = {"owners": ["risk-ml@example.com"], "github_org": "example-org", "cost_center": "risk"}
#: Variables of the platform's shell that would change what the project's `make test` does on a team's
#: laptop: CI/GITHUB_ACTIONS make its Makefile only check a committed uv.lock (there is none yet), and
#: PYTHONDONTWRITEBYTECODE would make every process of its suite compile its fresh .venv again (~5 CPU s each).
_NOT_A_LAPTOP = ("CI", "GITHUB_ACTIONS", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV")


def run_demo(dest: Path) -> int:
    """Generate the demo project into `dest` (must be new or empty) and run its `make test`; the exit code.

    That is what its team runs on a fresh machine: uv locks the dependencies with hashes (uv.lock), syncs
    a .venv of the answered Python from that lock, then lint, types and the project's tests. uv is the
    platform venv's own (a dev dependency), so the demo needs no uv on PATH."""
    project = new_project(DEMO_PROJECT, DEMO_ENV, dest, DEMO_ANSWERS, offline=True, vcs_ref="HEAD")
    print(f"generated {dest} from template {project.template_version} ({OFFLINE_BANNER})")
    print(entry_yaml(project.entry, DEMO_ENV))
    env = {k: v for k, v in os.environ.items() if k not in _NOT_A_LAPTOP}
    done = subprocess.run(["make", "test", f"UV={find_uv_bin()}"], cwd=dest, env=env, check=False)
    return done.returncode
