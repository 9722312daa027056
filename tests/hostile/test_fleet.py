"""Fleet: `fleet check` reports each project on its own (a garbled answers file never stops the batch), reads
conflicts and uncommitted updates from the work tree and HEAD, prints release tags users can pass back,
separates "behind the template" (exit 7 with --strict) from intended edits (--fail-on-drift), and flags a
project generated from another template."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlops_platform.core.errors import EXIT_BEHIND, TemplateError
from mlops_platform.scaffold.fleet import ProjectStatus, State, check_failure, release_ref, same_source
from mlops_platform.scaffold.templating import ANSWERS_FILE, commit_all
from template.support import Committed, make_template_repo

from .conftest import Cli, unchanged

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hostile-fleet")]
TRAIN = "src/fraud_detector/train.py"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template_repo(tmp_path_factory.mktemp("tpl"))


@pytest.fixture(scope="module")
def projects(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Committed:
    """`projects.copy(dest, version)`: a committed project of `template`, generated once per version."""
    return Committed(template, tmp_path_factory.mktemp("projects"))


GARBLED = {
    "bad-yaml": b"_commit: v1.0.0\n_src_path: [unclosed\n",
    "a-list": b"- _commit\n- _src_path\n",
    "no-commit": b"_src_path: gh:org/tpl\nproject_slug: x\n",
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00",
    "empty": b"",
}


@pytest.mark.parametrize("kind", list(GARBLED))
def test_a_garbled_answers_file_is_that_project_s_error(cli: Cli, tmp_path: Path, kind: str) -> None:
    (tmp_path / ANSWERS_FILE).write_bytes(GARBLED[kind])
    with unchanged(tmp_path):
        result = cli("fleet", "check", tmp_path, "--json", code=TemplateError.exit_code)
    [status] = result.json()["projects"]
    assert status["state"] == "error" and str(tmp_path / ANSWERS_FILE) in status["error"]
    assert "fix:" in status["error"]


def test_the_batch_goes_on_past_a_broken_project_and_flags_a_foreign_one(cli: Cli, projects: Committed, template: Path,
                                                                         tmp_path: Path) -> None:
    good = projects.copy(tmp_path / "good", "v1.1.0")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / ANSWERS_FILE).write_bytes(GARBLED["bad-yaml"])
    foreign = tmp_path / "foreign"  # what copier records for some other template
    foreign.mkdir()
    (foreign / ANSWERS_FILE).write_text(f"_commit: v2.0.0\n_src_path: {template}\nservice_name: billing\n")
    with unchanged(tmp_path):
        result = cli("fleet", "check", broken, foreign, good, "--template", template, "--json",
                     code=TemplateError.exit_code)
    states = {Path(p["path"]).name: p for p in result.json()["projects"]}
    assert [states[n]["state"] for n in ("broken", "foreign", "good")] == ["error", "foreign template", "current"]
    assert "not generated from the mlops-platform template" in states["foreign"]["error"]
    assert "project_slug, owners, github_org, cost_center" in states["foreign"]["error"]
    assert "2 project(s) need attention" in result.error()["message"]


def test_a_project_naming_another_template_source_is_foreign_and_never_cloned(cli: Cli, projects: Committed,
                                                                              template: Path, tmp_path: Path) -> None:
    """Security review (hardening): the answers file is the project's to edit; `fleet check` clones and renders
    `_src_path`, so a source outside the allow-list is reported, not fetched (a missing path proves no clone
    was tried: cloning it would fail with a git error instead)."""
    rogue = projects.copy(tmp_path / "rogue")
    answers = (rogue / ANSWERS_FILE).read_text().replace(str(template), str(tmp_path / "elsewhere"))
    (rogue / ANSWERS_FILE).write_text(answers)
    result = cli("fleet", "check", rogue, "--template", template, "--json", code=TemplateError.exit_code)
    [status] = result.json()["projects"]
    assert status["state"] == "foreign template" and "not an allowed template source" in status["error"]
    assert str(tmp_path / "elsewhere") in status["error"] and "--template" in status["error"]
    updated = cli("fleet", "update", rogue, "--template", template, "--trust", code=TemplateError.exit_code)
    assert "not an allowed template source" in updated.text and "not updated" in updated.text
    assert same_source(f"{template}/.", [str(template)]) and not same_source("gh:evil/tpl", [str(template)])


def test_strict_gates_on_behind_and_drift_has_its_own_flag(cli: Cli, projects: Committed, template: Path,
                                                           tmp_path: Path) -> None:
    tpl = ("--template", template)
    current = projects.copy(tmp_path / "current", "v1.1.0")
    (current / TRAIN).write_text((current / TRAIN).read_text() + "\n# our model tweak\n")
    commit_all(current, "intended edit")
    behind = projects.copy(tmp_path / "behind")
    assert cli("fleet", "check", current, *tpl, "--strict", code=0)  # an intended edit is not "behind"
    drifted = cli("fleet", "check", current, *tpl, "--fail-on-drift", "--json", code=1)
    assert drifted.error()["code"] == "drift"
    result = cli("fleet", "check", current, behind, *tpl, "--strict", "--json", code=EXIT_BEHIND)
    assert result.error()["code"] == "behind_template" and str(behind) in result.error()["message"]
    behind_status = result.json()["projects"][1]
    assert (behind_status["state"], behind_status["latest"]) == ("behind", "v1.1.0")  # the tag, as spelled


def test_conflict_and_uncommitted_update_come_from_the_work_tree_and_head(cli: Cli, projects: Committed, template: Path,
                                                                          tmp_path: Path) -> None:
    clash = projects.copy(tmp_path / "clash")
    (clash / "Makefile").write_text((clash / "Makefile").read_text().replace(
        "sqlite:///mlruns/mlflow.db", "sqlite:////var/lib/mlflow/mlflow.db"))
    commit_all(clash, "our own MLflow path")
    cli("fleet", "update", clash, "--template", template, "--trust", code=TemplateError.exit_code)
    pending = projects.copy(tmp_path / "pending")
    assert release_ref(str(template), "1.1.0") == "v1.1.0" and release_ref(str(template), "main") == "main"
    # either spelling of the release: 1.1.0 for the tag v1.1.0
    cli("fleet", "update", pending, "--template", template, "--vcs-ref", "1.1.0", "--trust", "--no-commit", code=0)

    result = cli("fleet", "check", clash, pending, "--template", template, "--json", code=TemplateError.exit_code)
    clash_status, pending_status = result.json()["projects"]
    assert clash_status["state"] == "conflict" and "Makefile" in clash_status["conflicts"]
    assert (pending_status["state"], pending_status["version"], pending_status["pending"]) == \
        ("uncommitted update", "v1.0.0", "v1.1.0")
    as_checked = ProjectStatus(str(pending), State(pending_status["state"]), version="v1.0.0", pending="v1.1.0")
    failure = check_failure([as_checked], strict=True)
    assert failure is not None and failure.exit_code == EXIT_BEHIND  # --strict: an unfinished update is behind
