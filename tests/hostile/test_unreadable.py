"""Unreadable input: every file the CLI reads, given as something that is not a readable regular file.

We run as root, so permission bits cannot make a file unreadable; these stand in for it: a directory,
a FIFO (reading it would block forever), a character device (/dev/null), a /proc file whose read fails
with an I/O error (/proc/self/mem), a broken symbolic link, a missing file, a file that vanishes between
the check and the read, and an open() that raises PermissionError. Each is named for what it is."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from mlops_platform.core import files

from .conftest import Cli, unchanged

PLAN = '{"stack": "dev", "resources": [], "outputs": {}}'
NEW = ["new", "proj", "--env", "dev", "-d", "owners=a@example.com", "-d", "github_org=org", "-d", "cost_center=cc"]

#: kind -> (how to make it at a path, what the message calls it)
KINDS: dict[str, tuple[Callable[[Path], object], str]] = {
    "directory": (lambda p: p.mkdir(), "is a directory"),
    "fifo": (lambda p: os.mkfifo(p), "is a FIFO (named pipe)"),
    "dev-null": (lambda p: p.symlink_to("/dev/null"), "is a character device"),
    "proc-mem": (lambda p: p.symlink_to("/proc/self/mem"), "cannot be read (Input/output error)"),
    "broken-link": (lambda p: p.symlink_to(p.parent / "nowhere"), "broken symbolic link"),
    "missing": (lambda p: None, "not found"),
}


#: reader -> (file name it reads, argv given the path and tmp dir, exit code)
READERS: dict[str, tuple[str, Callable[[Path, Path], list[str]], int]] = {
    "validate": ("Pulumi.dev.yaml", lambda p, t: ["validate", "--stack-file", str(p), "--json"], 2),
    "plan": ("Pulumi.dev.yaml", lambda p, t: ["plan", "--stack-file", str(p), "--json"], 2),
    "review-plan": ("plan.json", lambda p, t: ["review", "--plan", str(p), "--format", "json"], 2),
    "waivers": ("waivers.yaml", lambda p, t: ["review", "--plan", str(t / "ok.json"), "--waivers", str(p)], 1),
    "policy-config": ("policy.yaml", lambda p, t: ["policy", "config", "--policy-config", str(p)], 2),
    "outputs": ("outputs.json", lambda p, t: [*NEW, "--dest", str(t / "dest"), "--outputs", str(p)], 2),
    "program-manifest": ("Pulumi.yaml", lambda p, t: ["review", "--program", str(p.parent)], 2),
    "answers": (".copier-answers.yml", lambda p, t: ["fleet", "check", str(p.parent), "--json"], 6),
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("reader", list(READERS))
def test_unreadable_input_is_named_for_what_it_is(cli: Cli, tmp_path: Path, reader: str, kind: str) -> None:
    name, argv, code = READERS[reader]
    make, words = KINDS[kind]
    (tmp_path / "ok.json").write_text(PLAN)
    target = tmp_path / "in" / name
    target.parent.mkdir()
    make(target)
    if kind == "missing" and reader == "answers":
        words = "no .copier-answers.yml"
    if kind == "missing" and reader == "program-manifest":
        words = "no Pulumi.yaml"
    with unchanged(tmp_path):
        result = cli(*argv(target, tmp_path), code=code)
    assert words in result.text.replace("\n", " ")
    assert str(target.parent) in result.text.replace("\n", "")


@pytest.mark.parametrize("error, words", [
    (FileNotFoundError, "disappeared while being read"),
    (PermissionError(13, "Permission denied"), "cannot be read (Permission denied) — fix: check its permissions"),
])
def test_a_file_that_vanishes_or_is_forbidden_after_the_check(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              error: BaseException, words: str) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config: {}\n")

    def gone(*args: object, **kwargs: object) -> object:
        raise error

    monkeypatch.setattr(files, "open", gone, raising=False)  # the read after the stat, as a race would have it
    with unchanged(tmp_path):
        result = cli("validate", "--stack-file", path, "--json", code=2)
    assert words in result.error()["message"]
    assert result.error()["code"] == "input_file"


def test_a_directory_given_as_project_to_fleet_is_reported_per_project(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = cli("fleet", "check", tmp_path / "file", tmp_path / "nope", "--json", code=6)
    projects = result.json()["projects"]
    assert [p["state"] for p in projects] == ["error", "error"]
    assert "a file, not a project directory" in projects[0]["error"]
    assert "missing, not a project directory" in projects[1]["error"]


@pytest.mark.parametrize("where, words", [
    ("a-directory", "it is a directory"),
    ("under-a-file/report.json", "under-a-file is a file, not a directory"),
])
def test_an_output_path_that_cannot_be_written_is_a_usage_error(cli: Cli, tmp_path: Path, where: str,
                                                                words: str) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(PLAN)
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "under-a-file").write_text("a file")
    with unchanged(tmp_path):
        result = cli("review", "--plan", plan, "--format", "json", "--output", tmp_path / where, code=2)
    error = result.error()
    assert error["code"] == "usage" and words in error["message"] and "fix: pass a" in error["message"]
