"""`mlplat fleet`: where every project repository stands against the template, and bulk updates.

`check` compares each project's recorded template version with the latest release and its files with
a fresh render of the recorded version and answers (drift = generated files the team changed or
deleted). `update` runs `copier update` per project; a project whose update leaves conflicts is
reported as a failure and is never committed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from mlops_platform.errors import MlplatError
from mlops_platform.scaffold.render import (
    ANSWERS_FILE,
    commit_all,
    conflicts,
    copy_project,
    git,
    read_answers,
    template_versions,
    update_project,
)


@dataclass(frozen=True)
class Drift:
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.modified or self.deleted)


@dataclass(frozen=True)
class ProjectStatus:
    path: str
    template: str = ""
    version: str = ""  # recorded `_commit`
    latest: str = ""  # latest release tag of the template ('' when it has none)
    behind: bool = False
    drift: Drift = field(default_factory=Drift)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check(projects: Iterable[Path]) -> list[ProjectStatus]:
    """Status of every project. Each template version is fetched once for the whole fleet, not per project."""
    with Snapshots() as snapshots:
        return [check_one(p, snapshots) for p in projects]


def check_one(project: Path, snapshots: Snapshots | None = None) -> ProjectStatus:
    """Version and drift of one project; problems are reported in `error`, never raised."""
    try:
        recorded = read_answers(project)
        src, commit = str(recorded["_src_path"]), str(recorded["_commit"])
        if snapshots is None:
            with Snapshots() as own:
                return check_one(project, own)
        latest = snapshots.latest(src)
        return ProjectStatus(str(project), src, commit, str(latest or ""), _is_behind(commit, latest),
                             drift(project, recorded, snapshots.tree(src, commit)))
    except MlplatError as exc:
        return ProjectStatus(str(project), error=exc.render())


class Snapshots:
    """Template versions checked out once per `(source, commit)`, and each source's latest release.

    Rendering from a checked-out tree gives the files copier renders from the same commit (copier clones the
    source at the commit, then renders that tree); without it, every project cost a clone of the template
    repository and a `git ls-remote`."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="mlplat-templates-")
        self._trees: dict[tuple[str, str], Path] = {}
        self._latest: dict[str, Version | None] = {}

    def __enter__(self) -> Snapshots:
        return self

    def __exit__(self, *_: object) -> None:
        self._tmp.cleanup()

    def latest(self, src: str) -> Version | None:
        if src not in self._latest:
            versions = template_versions(src)
            self._latest[src] = versions[-1] if versions else None
        return self._latest[src]

    def tree(self, src: str, commit: str) -> Path:
        key = (src, commit)
        if key not in self._trees:
            tree = Path(self._tmp.name) / str(len(self._trees))
            git("clone", "-q", "--no-checkout", src, str(tree), cwd=Path(self._tmp.name))
            git("-c", "advice.detachedHead=false", "checkout", "-q", commit, cwd=tree)
            shutil.rmtree(tree / ".git")  # a plain tree: copier renders it as it is, no clone
            self._trees[key] = tree
        return self._trees[key]


def _is_behind(commit: str, latest: Version | None) -> bool:
    if latest is None:
        return False
    try:
        return Version(commit) < latest
    except InvalidVersion:  # an untagged commit: older than any release we can name
        return True


def drift(project: Path, recorded: dict[str, Any], tree: Path | None = None) -> Drift:
    """Generated files that differ from a fresh render of the recorded version with the recorded answers
    (`tree`: that version already checked out, see `Snapshots`)."""
    answers = {k: v for k, v in recorded.items() if not k.startswith("_")}
    with tempfile.TemporaryDirectory(prefix="mlplat-fresh-") as tmp:
        fresh = Path(tmp) / "fresh"
        if tree is None:
            copy_project(fresh, answers, str(recorded["_src_path"]), vcs_ref=str(recorded["_commit"]))
        else:
            copy_project(fresh, answers, tree)
        generated = [p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()]
        modified, deleted = [], []
        for rel in sorted(generated, key=str):
            if str(rel) == ANSWERS_FILE:
                continue
            mine = project / rel
            if not mine.is_file():
                deleted.append(str(rel))
            elif mine.read_bytes() != (fresh / rel).read_bytes():
                modified.append(str(rel))
    return Drift(modified, deleted)


class UpdateOutcome(StrEnum):
    UPDATED = "updated"
    UP_TO_DATE = "up-to-date"
    CONFLICT = "conflict"
    FAILED = "failed"


@dataclass(frozen=True)
class UpdateResult:
    path: str
    outcome: UpdateOutcome
    before: str = ""
    after: str = ""
    conflicts: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in (UpdateOutcome.UPDATED, UpdateOutcome.UP_TO_DATE)


def update(projects: Iterable[Path], vcs_ref: str | None = None, trust: bool = False, commit: bool = True,
           on_done: Callable[[UpdateResult], None] | None = None) -> list[UpdateResult]:
    """`copier update` every project; `on_done` is called after each (progress bars)."""
    results = []
    for project in projects:
        result = update_one(project, vcs_ref, trust, commit)
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results


def update_one(project: Path, vcs_ref: str | None = None, trust: bool = False,
               commit: bool = True) -> UpdateResult:
    """Update one project. Conflicts are left in the work tree for a person, uncommitted."""
    try:
        before = str(read_answers(project)["_commit"])
        update_project(project, vcs_ref, trust)
        after = str(read_answers(project)["_commit"])
        unresolved = conflicts(project)
        if unresolved:
            return UpdateResult(str(project), UpdateOutcome.CONFLICT, before, after, unresolved,
                                "resolve the conflict markers / .rej files, run the tests, then commit")
        if not git("status", "--porcelain", cwd=project):
            return UpdateResult(str(project), UpdateOutcome.UP_TO_DATE, before, after)
        if commit:
            commit_all(project, f"Update the mlops-platform template from {before} to {after}")
        return UpdateResult(str(project), UpdateOutcome.UPDATED, before, after)
    except MlplatError as exc:
        return UpdateResult(str(project), UpdateOutcome.FAILED, message=exc.render())
