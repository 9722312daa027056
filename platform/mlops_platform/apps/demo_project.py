"""The last step of `make demo`: generate a project from the offline plan and run its own tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlops_platform.scaffold.new import OFFLINE_BANNER, entry_yaml, new_project

DEMO_PROJECT = "fraud-detector"
DEMO_ENV = "dev"
DEMO_ANSWERS = {"owners": ["risk-ml@example.com"], "github_org": "example-org", "cost_center": "risk"}


def run_demo(dest: Path) -> int:
    """Generate the demo project into `dest` (must be new or empty) and run its pytest; the exit code."""
    project = new_project(DEMO_PROJECT, DEMO_ENV, dest, DEMO_ANSWERS, offline=True, vcs_ref="HEAD")
    print(f"generated {dest} from template {project.template_version} ({OFFLINE_BANNER})")
    print(entry_yaml(project.entry, DEMO_ENV))
    # the platform venv carries the project's runtime deps; a fresh project venv is `make test` there
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=dest, env=env, check=False)
    return done.returncode
