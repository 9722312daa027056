"""Versions projects pin: release tags (vX.Y.Z) when the template has them, the exact commit when it
does not, and `fleet check` compares either correctly. No project ever names a tag that does not exist."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from mlops_platform.scaffold.fleet import check_one, is_behind, same_commit
from mlops_platform.scaffold.templating import commit_all, committed_answers, git, read_answers
from packaging.version import Version

from .support import ROOT, Committed, generate_committed

pytestmark = pytest.mark.xdist_group("template-update")
PIN = re.compile(r'(?:"mlops-platform @ git\+https://github\.com/\S+\.git@|^  PLATFORM_REF: )(\w+)"?,?(?:  # (\S+))?$',
                 re.M)


@pytest.mark.parametrize(("recorded", "behind"), [
    ("v1.0.0", True), ("v1.1.0", False), ("v1.0.0-4-gabc1234", True), ("v1.1.0-2-gabc1234", False),
    ("abc1234", True), ("1234567", True),  # bare hashes predate every release (even all-digit ones)
])
def test_recorded_version_against_the_latest_release(recorded: str, behind: bool) -> None:
    assert is_behind(recorded, Version("1.1.0")) is behind


@pytest.mark.parametrize(("recorded", "same"), [
    ("abc1234", True), ("v0.1.0-3-gabc1234", True), ("abc1235", False), ("abc", False), ("", False),
])
def test_recorded_commit_against_the_head(recorded: str, same: bool) -> None:
    assert same_commit(recorded, "abc1234" + "0" * 33) is same


def _pins(project: Path) -> set[tuple[str, str]]:
    """(commit, release tag noted next to it or "") of every platform pin the project names: infra/pyproject.toml,
    the CD workflows' PLATFORM_REF; ci.yml's template job names the same commit (in a folded command: no note)."""
    workflows = project / ".github" / "workflows"
    texts = [(project / "infra" / "pyproject.toml").read_text()]
    texts += [(workflows / name).read_text() for name in ("cd.yml", "deploy.yml")]
    pins = {pin for text in texts for pin in PIN.findall(text)}
    assert {commit for commit, _ in PIN.findall((workflows / "ci.yml").read_text())} == {c for c, _ in pins}
    return pins


def _untagged_template(root: Path) -> Path:
    repo = root / "untagged"
    repo.mkdir()
    shutil.copy2(ROOT / "copier.yml", repo / "copier.yml")
    shutil.copytree(ROOT / "templates", repo / "templates", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git("init", "-q", "-b", "main", cwd=repo)
    commit_all(repo, "template, no release yet")
    return repo


def test_a_release_is_pinned_by_its_tag_which_exists(committed: Committed, template_repo: Path,
                                                     tmp_path: Path) -> None:
    project = committed.copy(tmp_path / "p", "v1.0.0")
    # the tag's commit (a moved tag cannot change what deploys), the tag, which exists, noted next to it
    assert _pins(project) == {(git("rev-parse", "--verify", "v1.0.0^{commit}", cwd=template_repo), "v1.0.0")}


def test_latest_release_by_default(template_repo: Path, tmp_path: Path) -> None:
    project = generate_committed(template_repo, tmp_path / "p", None)  # no ref: copier takes the latest tag
    assert _pins(project) == {(git("rev-parse", "v1.1.0^{commit}", cwd=template_repo), "v1.1.0")}
    assert read_answers(project)["_commit"] == "v1.1.0"


def test_without_tags_the_commit_is_pinned_and_fleet_compares_commits(tmp_path: Path) -> None:
    template = _untagged_template(tmp_path)
    project = generate_committed(template, tmp_path / "p", "HEAD")
    head = git("rev-parse", "HEAD", cwd=template)
    assert _pins(project) == {(head, "")}  # a commit that exists, not a tag that does not
    status = check_one(project, [str(template)])
    assert (status.latest, status.behind, status.error) == (head, False, "")

    (template / "templates" / "ml-project" / "NOTES.md").write_text("a template change\n")
    commit_all(template, "template moves on")
    status = check_one(project, [str(template)])
    assert status.behind and status.latest == git("rev-parse", "HEAD", cwd=template)


def test_a_commit_after_a_release_pins_the_commit_and_is_not_behind_that_release(template_repo: Path,
                                                                              tmp_path: Path) -> None:
    template = tmp_path / "after"
    shutil.copytree(template_repo, template)
    (template / "templates" / "ml-project" / "NOTES.md").write_text("after v1.1.0\n")
    commit_all(template, "after the release")
    project = generate_committed(template, tmp_path / "p", "HEAD")
    assert read_answers(project)["_commit"].startswith("v1.1.0-1-g")
    assert _pins(project) == {(git("rev-parse", "HEAD", cwd=template), "")}
    assert not check_one(project, [str(template)]).behind


def test_a_commit_that_yaml_1_2_reads_as_a_number_stays_the_commit(tmp_path: Path) -> None:
    """copier writes the answers file with PyYAML (YAML 1.1, whose floats need a dot), so a commit like
    `55220e28` or `5522e3` is left unquoted; read as YAML 1.2 it became a float and fleet compared `5522000.0`."""
    project = tmp_path / "p"
    project.mkdir()
    recorded = {"_commit": "55220e28", "_src_path": "https://example.com/t.git", "pin": "5522e3", "id": "1234567"}
    text = yaml.safe_dump(recorded)  # what copier's to_nice_yaml writes
    assert "_commit: 55220e28\n" in text and "pin: 5522e3\n" in text
    (project / ".copier-answers.yml").write_text(text)
    assert read_answers(project) == recorded
    git("init", "-q", "-b", "main", cwd=project)
    commit_all(project, "answers")
    assert committed_answers(project) == recorded
