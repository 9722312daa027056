"""Helpers for the template tests: answers, rendering from this checkout, and a throw-away template
repository with two tagged versions for the update path (tags are never created in the real repo)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from mlops_platform.config import repo_root
from mlops_platform.scaffold.templating import (
    Template,
    commit_all,
    copy_project,
    git,
    release_version,
    render_version,
    template_version,
)

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
    """Render this checkout's template (work tree included) with BASE_ANSWERS + `answers`: what
    `copy_project(dest, answers, ROOT, vcs_ref="HEAD")` renders, from one clone per process (`_checkout`)."""
    render_version(dest, {**BASE_ANSWERS, **answers}, _checkout())
    return dest


@cache
def _checkout() -> Template:
    """This checkout's template at HEAD, work tree included, cloned once per test process (removed at its exit):
    copier clones it for every render otherwise, which cost most of a render's CPU once compiled templates
    are shared (scaffold/_copier_internals.py). The same renders, byte for byte: tests/template/test_update.py
    compares a batch's render from one clone with `copy_project`'s."""
    version = template_version(ROOT, "HEAD")
    atexit.register(release_version, version)
    return version


def _copy_tree(src: Path, dest: Path) -> Path:
    """A private copy of a project (its git repository included): a copy costs a few hundredths of a CPU
    second where a copier render from a git source costs most of one (copier clones the source each time)."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


class Renders:
    """This checkout's template rendered once per distinct answers per test session (per xdist worker): tests
    that render the same answers share the render, read it with `get` or change a private `copy` of it."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._done: dict[str, Path] = {}

    def get(self, **answers: Any) -> Path:
        """The render of BASE_ANSWERS + `answers`, to read only."""
        key = json.dumps(answers, sort_keys=True)
        if key not in self._done:
            self._done[key] = render(self._root / str(len(self._done)) / "project", **answers)
        return self._done[key]

    def copy(self, dest: Path, **answers: Any) -> Path:
        """A copy of the render of BASE_ANSWERS + `answers` in `dest`, the caller's to change."""
        return _copy_tree(self.get(**answers), dest)


def template_snapshot(dest: Path) -> Path:
    """This checkout's template as a plain directory (copier.yml and templates/, work tree included), which
    copier reads in place: for copier runs that only check answers, where a clone of the git repository
    (what `vcs_ref` asks for) would add nothing but its cost."""
    dest.mkdir()
    shutil.copy2(ROOT / "copier.yml", dest / "copier.yml")
    shutil.copytree(ROOT / "templates", dest / "templates", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
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


def generate_committed(template: Path, dest: Path, version: str | None = "v1.0.0") -> Path:
    """A project generated from `template` at `version` (None: copier's latest release) and committed, as a
    team's repository starts."""
    copy_project(dest, BASE_ANSWERS, template, vcs_ref=version)
    git("init", "-q", "-b", "main", cwd=dest)
    commit_all(dest, "generated")
    return dest


class Committed:
    """Projects of one template, generated and committed once per version (`generate_committed`); each test gets
    a copy of its own, repository included."""

    def __init__(self, template: Path, root: Path) -> None:
        self.template = template
        self._root = root
        self._done: dict[str, Path] = {}

    def copy(self, dest: Path, version: str = "v1.0.0") -> Path:
        if version not in self._done:
            self._done[version] = generate_committed(self.template, self._root / version / "project", version)
        return _copy_tree(self._done[version], dest)


def _commit_and_tag(repo: Path, tag: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", f"template {tag}", cwd=repo, identity=True)
    git("tag", tag, cwd=repo)
