"""The update path, end to end with copier and git: a throw-away template repository tagged v1.0.0 and
v1.1.0 (v1.1.0 moves local MLflow state to .mlflow/ with a `_migrations` step)."""

from __future__ import annotations

import dataclasses
import filecmp
import inspect
import json
import tomllib
from pathlib import Path
from typing import Any

import copier
import copier._template as copier_template
import pytest
from copier._main import Worker
from jinja2 import Environment
from mlops_platform.cli import main
from mlops_platform.core.errors import EXIT_BEHIND, TemplateError
from mlops_platform.scaffold._copier_internals import (
    CHECKED_AGAINST,
    CLEANUP_HOOKS,
    SEAMS,
    NewRender,
    Render,
    compile_once,
)
from mlops_platform.scaffold.fleet import UpdateOutcome, check, check_one, update, update_one
from mlops_platform.scaffold.snapshots import Snapshots
from mlops_platform.scaffold.templating import commit_all, copy_project, git, read_answers, update_project
from packaging.requirements import Requirement
from packaging.version import Version

from .support import BASE_ANSWERS, Committed

pytestmark = pytest.mark.xdist_group("template-update")
TRAIN = "src/fraud_detector/train.py"


def _edit(project: Path, rel: str, old: str, new: str) -> None:
    path = project / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _tree(root: Path) -> set[str]:
    files = (p.relative_to(root) for p in root.rglob("*") if p.is_file())
    return {str(rel) for rel in files if ".git" not in rel.parts}


def test_update_keeps_user_edits_applies_changes_and_runs_the_migration(committed: Committed, template_repo: Path,
                                                                      tmp_path: Path) -> None:
    project = committed.copy(tmp_path / "p")
    _edit(project, TRAIN, "c: float = 1.0", "c: float = 0.5")  # the team's own tuning
    (project / "notes.md").write_text("our findings\n")
    commit_all(project, "tune C")
    (project / "mlruns").mkdir()
    (project / "mlruns" / "mlflow.db").write_text("local state")  # ignored by git, moved by the migration

    result = update_one(project, trust=True, sources=[str(template_repo)])

    assert (result.outcome, result.before, result.after) == (UpdateOutcome.UPDATED, "v1.0.0", "v1.1.0")
    assert "c: float = 0.5" in (project / TRAIN).read_text()
    assert (project / "notes.md").read_text() == "our findings\n"
    assert "sqlite:///.mlflow/mlflow.db" in (project / "Makefile").read_text()
    assert ".mlflow/" in (project / ".gitignore").read_text()
    assert (project / ".mlflow" / "mlflow.db").read_text() == "local state"
    assert not (project / "mlruns").exists()
    assert read_answers(project)["_commit"] == "v1.1.0"
    assert git("status", "--porcelain", cwd=project) == ""
    assert git("log", "-1", "--format=%s", cwd=project) == "Update the mlops-platform template from v1.0.0 to v1.1.0"


def test_untouched_projects_updated_in_a_batch_equal_a_fresh_copy(
        committed: Committed, template_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch clones the new version once for all its projects (copier's update alone cloned it three times per
    project) and removes its clones when done."""
    clones: list[tuple[str, str]] = []
    real = copier_template.clone

    def counting(url: str, ref: str, *args: Any, **kwargs: Any) -> str:
        clones.append((ref, kwargs["location"]))
        return real(url, ref, *args, **kwargs)

    monkeypatch.setattr(copier_template, "clone", counting)
    projects = [committed.copy(tmp_path / name) for name in ("p", "q")]
    results = update(projects, trust=True, sources=[str(template_repo)])
    assert [r.outcome for r in results] == [UpdateOutcome.UPDATED] * 2
    refs = [ref for ref, _ in clones]
    # v1.0.0: the batch's, and copier's own reading of each project's recorded version
    assert (refs.count("v1.1.0"), refs.count("v1.0.0")) == (1, 1 + len(projects))
    assert [where for _, where in clones if Path(where).exists()] == []
    fresh = committed.copy(tmp_path / "fresh", "v1.1.0")  # `copy_project` at v1.1.0, committed
    for project in projects:
        assert _tree(project) == _tree(fresh)
        different = [rel for rel in sorted(_tree(fresh)) if not filecmp.cmp(project / rel, fresh / rel, shallow=False)]
        assert different == []


def test_a_conflicting_edit_fails_loudly_and_is_not_committed(committed: Committed, template_repo: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    project = committed.copy(tmp_path / "p")
    _edit(project, "Makefile", "sqlite:///mlruns/mlflow.db", "sqlite:////var/lib/mlflow/mlflow.db")
    commit_all(project, "our own MLflow path")
    head = git("rev-parse", "HEAD", cwd=project)

    code = main(["fleet", "update", str(project), "--template", str(template_repo), "--trust"])

    assert code == TemplateError.exit_code
    output = capsys.readouterr()
    assert "conflict" in output.out and "Makefile" in output.out
    assert "1 of 1 project(s) not updated" in output.err
    assert git("rev-parse", "HEAD", cwd=project) == head  # nothing committed
    assert "<<<<<<<" in (project / "Makefile").read_text()


def test_migrations_need_trust(committed: Committed, template_repo: Path, tmp_path: Path) -> None:
    project = committed.copy(tmp_path / "p")
    result = update_one(project, trust=False, sources=[str(template_repo)])
    assert result.outcome is UpdateOutcome.FAILED
    assert "rerun with --trust" in result.message
    assert read_answers(project)["_commit"] == "v1.0.0"


def test_fleet_check_reports_version_and_drift(committed: Committed, template_repo: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    behind = committed.copy(tmp_path / "behind")
    _edit(behind, TRAIN, "c: float = 1.0", "c: float = 0.5")
    (behind / "Dockerfile").unlink()
    commit_all(behind, "edits")
    current = committed.copy(tmp_path / "current", "v1.1.0")

    status = check_one(behind, [str(template_repo)])
    assert (status.version, status.latest, status.behind) == ("v1.0.0", "v1.1.0", True)
    assert (status.drift.modified, status.drift.deleted) == ([TRAIN], ["Dockerfile"])
    fresh = check_one(current, [str(template_repo)])
    assert (fresh.behind, fresh.drift.clean, fresh.error) == (False, True, "")

    assert main(["fleet", "check", str(behind), str(current), "--template", str(template_repo), "--json"]) == 0
    report = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)["projects"]}
    assert report["behind"]["behind"] and not report["current"]["behind"]
    assert main(["fleet", "check", str(behind), "--template", str(template_repo), "--strict"]) == EXIT_BEHIND
    assert main(["fleet", "check", str(behind), "--template", str(template_repo), "--fail-on-drift"]) == 1


def test_a_batch_renders_each_version_and_answers_once_exactly_as_copier_does(committed: Committed,
                                                                             template_repo: Path,
                                                                             tmp_path: Path) -> None:
    """`fleet check` renders from one checkout per version, once per distinct answers: byte for byte what
    `copier copy` renders (the recorded `_commit`, `_src_path` and pinned commit hash included), so drift is
    unchanged."""
    own = committed.copy(tmp_path / "own")  # `copy_project` at v1.0.0, committed
    other = {**BASE_ANSWERS, "project_slug": "churn-model", "package_name": "churn_model"}
    with Snapshots() as batch:
        shared = batch.render(str(template_repo), "v1.0.0", BASE_ANSWERS)
        assert batch.render(str(template_repo), "v1.0.0", dict(BASE_ANSWERS)) == shared
        second = batch.render(str(template_repo), "v1.0.0", other)
        assert second != shared and (second / "src" / "churn_model").is_dir()
        assert _tree(shared) == _tree(own)
        differ = [rel for rel in sorted(_tree(own)) if not filecmp.cmp(own / rel, shared / rel, shallow=False)]
        assert differ == []
        assert read_answers(shared)["_commit"] == "v1.0.0"
    assert not shared.exists()  # the batch's renders and checkouts go with it


def test_the_copier_internals_a_batch_relies_on_are_still_there() -> None:
    """scaffold/_copier_internals.py overrides, sets and calls copier internals: a copier release that renames
    one would silently make the override dead or clone per render. Fail here instead, and check the pin."""
    for cls, attribute, kind in SEAMS:
        assert isinstance(inspect.getattr_static(cls, attribute, None), kind), f"copier {cls.__name__}.{attribute}"
    base = inspect.signature(inspect.getattr_static(Worker, "_sync_git_index_executable_bit"))
    for override in (Render._sync_git_index_executable_bit, NewRender._sync_git_index_executable_bit):
        assert list(base.parameters) == list(inspect.signature(override).parameters)
    # compile_once(env, ...) stands in for the bound Environment.compile(self, ...)
    ours, jinja = (list(inspect.signature(f).parameters)[1:] for f in (compile_once, Environment.compile))
    assert ours == jinja
    assert CLEANUP_HOOKS in {f.name for f in dataclasses.fields(Worker)}  # where Render takes a shared clone off
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    [pin] = [Requirement(r) for r in pyproject["project"]["dependencies"] if Requirement(r).name == "copier"]
    assert pin.specifier.contains(CHECKED_AGAINST) and pin.specifier.contains(copier.__version__)
    assert Version(copier.__version__) >= Version(CHECKED_AGAINST)


def test_a_batch_clones_each_template_version_once(template_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`use_clone` hands the batch's Template to each render: a copier change to how `Worker.template` is cached
    would clone again for every project."""
    clones: list[str] = []
    real = copier_template.clone

    def counting(url: str, *args: Any, **kwargs: Any) -> str:
        clones.append(url)
        return real(url, *args, **kwargs)

    monkeypatch.setattr(copier_template, "clone", counting)
    other = {**BASE_ANSWERS, "project_slug": "churn-model", "package_name": "churn_model"}
    with Snapshots() as batch:
        batch.render(str(template_repo), "v1.0.0", BASE_ANSWERS)
        batch.render(str(template_repo), "v1.0.0", other)
    assert len(clones) == 1


def test_projects_sharing_version_and_answers_share_one_render_and_keep_their_own_drift(committed: Committed,
                                                                                      template_repo: Path,
                                                                                      tmp_path: Path) -> None:
    clean = committed.copy(tmp_path / "clean")
    edited = committed.copy(tmp_path / "edited")
    _edit(edited, TRAIN, "c: float = 1.0", "c: float = 0.5")
    statuses = check([clean, edited], [str(template_repo)])
    assert [(s.drift.modified, s.drift.deleted) for s in statuses] == [([], []), ([TRAIN], [])]


def test_fleet_check_reports_a_directory_that_is_not_a_project(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "check", str(tmp_path)]) == TemplateError.exit_code
    assert "no .copier-answers.yml" in capsys.readouterr().out.replace("\n", "")


def _mode_template(root: Path) -> Path:
    """A template repository whose v1.1.0 makes its script `run.sh` executable, a mode-only change."""
    repo = root / "mode-template"
    repo.mkdir()
    (repo / "copier.yml").write_text("_answers_file: .copier-answers.yml\nname:\n  type: str\n  default: demo\n")
    (repo / "{{ _copier_conf.answers_file }}.jinja").write_text("{{ _copier_answers | to_nice_yaml -}}\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho run\n")
    git("init", "-q", "-b", "main", cwd=repo)
    for tag in ("v1.0.0", "v1.1.0"):
        if tag == "v1.1.0":
            (repo / "run.sh").chmod(0o755)
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", tag, cwd=repo, identity=True)
        git("tag", tag, cwd=repo)
    return repo


def test_an_update_making_a_script_executable_reaches_the_index_where_git_ignores_file_modes(tmp_path: Path) -> None:
    """copier writes the template's executable bit into the index itself when the project's repository has
    `core.fileMode=false` (git would not see the chmod, and the next commit would lose it); `Render` asks git for
    that setting once per render instead of once per file. Same index mode as copier's own `run_update`."""
    template = _mode_template(tmp_path)
    projects = []
    for name in ("ours", "copier"):
        project = tmp_path / name
        copy_project(project, {"name": "demo"}, template, vcs_ref="v1.0.0")
        git("init", "-q", "-b", "main", cwd=project)
        git("config", "core.fileMode", "false", cwd=project)
        commit_all(project, "generated")
        assert git("ls-files", "-s", "run.sh", cwd=project).startswith("100644 ")
        projects.append(project)
    ours, theirs = projects

    update_project(ours, "v1.1.0")
    copier.run_update(str(theirs), vcs_ref="v1.1.0", defaults=True, overwrite=True, quiet=True)

    for project in projects:
        assert git("ls-files", "-s", "run.sh", cwd=project).startswith("100755 "), project.name
        assert (project / "run.sh").stat().st_mode & 0o111
    assert read_answers(ours)["_commit"] == "v1.1.0"
