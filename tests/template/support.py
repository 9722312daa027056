"""Helpers for the template tests: answers, rendering from this checkout, and a throw-away template
repository with two tagged versions for the update path (tags are never created in the real repo)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlops_platform.config import repo_root
from mlops_platform.scaffold.templating import copy_project, git

ROOT = repo_root()
#: The required answers; everything else takes the template's defaults.
BASE_ANSWERS: dict[str, Any] = {
    "project_slug": "fraud-detector",
    "owners": ["risk-ml@example.com"],
    "github_org": "example-org",
    "cost_center": "risk",
}
#: The answer presets every generated-project test covers (the `generated` fixture renders each once).
PRESETS: dict[str, dict[str, Any]] = {
    "cpu-deployment-all-envs": {},
    "gpu-kserve-dev-prod": {"dataset": "wine", "gpu_count": 1, "serving_mode": "kserve", "training_backend": "ray",
                            "environments": ["dev", "prod"], "python_version": "3.12",
                            "delivery_strategy": "blue-green", "gpu_scale_on": "gpu-utilization",
                            "rollout_webhook_url": "http://flagger-loadtester.fraud-detector.svc.cluster.local/"},
    "long-slug-dev-only": {"project_slug": "long-project-slug-long-project-slug-lonx", "environments": ["dev"],
                           "python_version": "3.13", "scale_to_zero_in_dev": True, "serving_replicas": 1},
}

#: v1.1.0 of the throw-away template moves local MLflow state from mlruns/ to .mlflow/: the embedded
#: store's default, Makefile, .gitignore and a `_migrations` step that carries a project's state along.
V110_MIGRATION = """
  - version: v1.1.0
    when: "{{ _stage == 'after' }}"
    command:
      - "{{ _copier_python }}"
      - "{{ _copier_conf.src_path }}/templates/ml-project/_migrations/migrate.py"
      - rename
      - mlruns
      - .mlflow
"""


def render(dest: Path, **answers: Any) -> Path:
    """Render this checkout's template (work tree included) with BASE_ANSWERS + `answers`."""
    copy_project(dest, {**BASE_ANSWERS, **answers}, ROOT, vcs_ref="HEAD")
    return dest


def run(*command: str, cwd: Path, timeout: float = 600,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a generated project's own check; the output is shown when it fails."""
    return subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
                          env=env)


def with_venv_tools(*, ci: bool = False) -> dict[str, str]:
    """The environment with this venv's console scripts (uv among them) first on PATH.

    `ci` says whose machine this is: a team's laptop (no CI variable, so `make` may write uv.lock) or a
    CI runner (CI=true, so the generated Makefile only checks the committed lock). The suite itself may
    run under CI, so the variable is set or removed explicitly rather than inherited.

    PYTHONDONTWRITEBYTECODE is removed too, as neither machine sets it: the project's .venv is new and uv
    installs no bytecode, so with it every process of the project's suite (pytest, the MLflow server and its
    worker) would compile mlflow, pandas and scikit-learn from source again (~5 CPU s each)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS", "PYTHONDONTWRITEBYTECODE")}
    if ci:
        env["CI"] = "true"
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def assert_ok(done: subprocess.CompletedProcess[str]) -> None:
    """A generated project's check passed; otherwise fail with its output."""
    assert done.returncode == 0, f"{' '.join(done.args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"


def tool(name: str) -> str:
    """A console script of the platform venv (ruff, check-jsonschema, ...)."""
    return str(Path(sys.executable).with_name(name))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}: update the test's v1.1.0 change"
    path.write_text(text.replace(old, new))


def make_template_repo(root: Path) -> Path:
    """A git repository holding this checkout's template as v1.0.0 and a changed v1.1.0."""
    repo = root / "template"
    repo.mkdir()
    shutil.copy2(ROOT / "copier.yml", repo / "copier.yml")
    shutil.copytree(ROOT / "templates", repo / "templates",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git("init", "-q", "-b", "main", cwd=repo)
    _commit_and_tag(repo, "v1.0.0")
    project = repo / "templates" / "ml-project"
    _edit(project / "Makefile.jinja", "mkdir -p mlruns", "mkdir -p .mlflow")
    _edit(project / "Makefile.jinja", "sqlite:///mlruns/mlflow.db", "sqlite:///.mlflow/mlflow.db")
    _edit(project / "src" / "{{package_name}}" / "config.py.jinja", '"sqlite:///mlruns/mlflow.db"',
          '"sqlite:///.mlflow/mlflow.db"')
    _edit(project / ".gitignore", "mlruns/", ".mlflow/")
    _edit(repo / "copier.yml", "_message_after_copy:", V110_MIGRATION.lstrip("\n") + "_message_after_copy:")
    _commit_and_tag(repo, "v1.1.0")
    return repo


def _commit_and_tag(repo: Path, tag: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", f"template {tag}", cwd=repo, identity=True)
    git("tag", tag, cwd=repo)
