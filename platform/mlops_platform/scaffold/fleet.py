"""`mlplat fleet`: where every project repository stands against the template, and bulk updates.

`check` compares each project's recorded template version with the latest release and its files with
a fresh render of the recorded version and answers (drift = generated files the team changed or
deleted). `update` runs `copier update` per project; a project whose update leaves conflicts is
reported as a failure and is never committed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from mlops_platform.core.errors import EXIT_BEHIND, MlplatError, TemplateError
from mlops_platform.scaffold.snapshots import Snapshots
from mlops_platform.scaffold.templating import (
    ANSWERS_FILE,
    commit_all,
    committed_answers,
    conflicts,
    git,
    read_answers,
    release_tags,
    shared_versions,
    update_project,
)


@dataclass(frozen=True)
class Drift:
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.modified or self.deleted)


class State(StrEnum):
    """Where a project stands; `fleet check` prints it and derives its exit status from it."""

    CURRENT = "current"
    BEHIND = "behind"  # HEAD records an older release than the latest
    UNCOMMITTED_UPDATE = "uncommitted update"  # the work tree holds a newer version than HEAD
    CONFLICT = "conflict"  # an update left conflict markers, unmerged files or .rej files
    FOREIGN = "foreign template"  # generated from another template: not a member of this fleet
    ERROR = "error"  # could not be read (garbled answers file, not a git repository, ...)


#: Questions every project of this template answered; a project without them came from another template.
IDENTITY_ANSWERS = ("project_slug", "owners", "github_org", "cost_center")


@dataclass(frozen=True)
class ProjectStatus:
    path: str
    state: State = State.CURRENT
    template: str = ""
    version: str = ""  # `_commit` recorded at HEAD
    pending: str = ""  # `_commit` in the work tree when an update is not committed
    latest: str = ""  # latest release tag of the template, as spelled (v1.3.0); its HEAD commit without one
    behind: bool = False
    drift: Drift = field(default_factory=Drift)
    conflicts: list[str] = field(default_factory=list)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value}


def check(projects: Iterable[Path], sources: Collection[str]) -> list[ProjectStatus]:
    """Every project's status; each template version is fetched once for the batch (`Snapshots`)."""
    with Snapshots() as snapshots:
        return [check_one(p, sources, snapshots) for p in projects]


def same_source(recorded: str, sources: Collection[str]) -> bool:
    """Whether a recorded `_src_path` is one of the allowed template sources (a local path in any spelling
    that resolves to the same directory; a URL as written)."""
    def norm(src: str) -> str:
        return src if ":" in src.split("/", 1)[0] or "@" in src else str(Path(src).expanduser().resolve())
    return norm(recorded) in {norm(s) for s in sources}


def check_one(project: Path, sources: Collection[str], snapshots: Snapshots | None = None) -> ProjectStatus:
    """Version, state and drift of one project; problems are reported in `error`, never raised, so one
    broken project never stops a batch. A project naming a template source outside `sources` is foreign
    and never cloned: its answers file is the project's to edit, and checking clones and renders the source."""
    if snapshots is None:
        with Snapshots() as own:
            return check_one(project, sources, own)
    try:
        recorded = read_answers(project)
        if not same_source(str(recorded["_src_path"]), sources):
            return _foreign_source(project, str(recorded["_src_path"]), sources)
        return _status(project, recorded, snapshots)
    except MlplatError as exc:
        return ProjectStatus(str(project), State.ERROR, error=exc.render())
    except Exception as exc:  # an unforeseen failure of one project is that project's error
        return ProjectStatus(str(project), State.ERROR, error=f"{type(exc).__name__}: {exc}")


def _foreign_source(project: Path, src: str, sources: Collection[str]) -> ProjectStatus:
    allowed = ", ".join(sorted(sources)) or "none"
    return ProjectStatus(str(project), State.FOREIGN, src, error=(
        f"{project}: .copier-answers.yml: _src_path {src!r} is not an allowed template source ({allowed}); "
        f"not cloned — fix: pass `--template {src}` if you trust that template, or regenerate the project "
        f"with `mlplat new`"))


def _status(project: Path, recorded: dict[str, Any], snapshots: Snapshots) -> ProjectStatus:
    src, worktree = str(recorded["_src_path"]), str(recorded["_commit"])
    missing = [q for q in IDENTITY_ANSWERS if q not in recorded]
    if missing:
        return ProjectStatus(str(project), State.FOREIGN, src, worktree, error=(
            f"{project}: not generated from the mlops-platform template ({src} lacks the answers "
            f"{', '.join(missing)}) — fix: drop it from the fleet, or regenerate it with `mlplat new`"))
    head = committed_answers(project) or {}
    version = str(head.get("_commit", worktree))
    latest, behind = _compare(src, version, snapshots)
    unresolved = conflicts(project)
    if unresolved:
        return ProjectStatus(str(project), State.CONFLICT, src, version, worktree, latest, behind,
                             conflicts=unresolved)
    state = State.UNCOMMITTED_UPDATE if version != worktree else State.BEHIND if behind else State.CURRENT
    return ProjectStatus(str(project), state, src, version, worktree if version != worktree else "",
                         latest, behind, drift(project, recorded, snapshots))


def _compare(src: str, version: str, snapshots: Snapshots) -> tuple[str, bool]:
    """(latest, behind): against the latest release tag; with no release yet, against the template's
    HEAD commit (projects then record and pin commits)."""
    releases = snapshots.releases(src)
    latest = releases[-1] if releases else None
    if latest is None:
        head = snapshots.head(src)
        return head, not same_commit(version, head)
    return latest[1], is_behind(version, latest[0])


def is_behind(commit: str, latest: Version) -> bool:
    """A recorded `_commit` (git describe: `v1.2.0`, `v1.2.0-3-gabc1234` = 3 commits after v1.2.0, or a
    bare hash from before the first release) against the latest release."""
    tag = commit.partition("-")[0]
    if not re.fullmatch(r"v?\d+\.\d+\.\d+", tag):  # a bare hash: a commit older than any release
        return True
    try:
        return Version(tag) < latest
    except InvalidVersion:
        return True


def same_commit(recorded: str, head: str) -> bool:
    """The recorded commit (an abbreviated hash, or describe output ending in -gHASH) is `head`."""
    abbreviated = recorded.rsplit("-g", 1)[-1]
    return bool(head) and len(abbreviated) >= 7 and head.startswith(abbreviated)


def check_failure(statuses: list[ProjectStatus], strict: bool, fail_on_drift: bool = False) -> MlplatError | None:
    """The failure `fleet check` exits with: unreadable/foreign/conflicted projects (6) before, with
    `--strict`, projects behind the template or with an uncommitted update (7), before drift (1)."""
    broken = [s for s in statuses if s.state in (State.ERROR, State.FOREIGN, State.CONFLICT)]
    if broken:
        return TemplateError(f"{len(broken)} project(s) need attention: "
                             + "; ".join(f"{s.path} ({s.state.value})" for s in broken))
    behind = [s for s in statuses if s.behind or s.state is State.UNCOMMITTED_UPDATE]
    if strict and behind:
        return BehindTemplateError(f"{len(behind)} project(s) behind the template: "
                                   + ", ".join(s.path for s in behind) + " — fix: `mlplat fleet update` them")
    drifted = [s for s in statuses if not s.drift.clean]
    if fail_on_drift and drifted:
        return DriftError(f"{len(drifted)} project(s) changed generated files: " + ", ".join(s.path for s in drifted))
    return None


class BehindTemplateError(MlplatError):
    """`fleet check --strict`: a project records an older template release than the latest."""

    exit_code = EXIT_BEHIND
    code = "behind_template"


class DriftError(MlplatError):
    """`fleet check --fail-on-drift`: a project changed or deleted generated files."""

    exit_code = 1
    code = "drift"


def drift(project: Path, recorded: dict[str, Any], snapshots: Snapshots) -> Drift:
    """Generated files that differ from a fresh render of the recorded version with the recorded answers
    (rendered once per distinct version and answers of the batch, see `Snapshots`)."""
    answers = {k: v for k, v in recorded.items() if not k.startswith("_")}
    fresh = snapshots.render(str(recorded["_src_path"]), str(recorded["_commit"]), answers)
    modified, deleted = [], []
    for rel in sorted((p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()), key=str):
        if str(rel) == ANSWERS_FILE:
            continue
        mine = project / rel
        if not mine.is_file():
            deleted.append(str(rel))
        elif mine.read_bytes() != (fresh / rel).read_bytes():
            modified.append(str(rel))
    return Drift(modified, deleted)


def release_ref(src: str, vcs_ref: str | None) -> str | None:
    """The tag as spelled for a release given either way (1.3.0 where the tag is v1.3.0, or the reverse)."""
    if vcs_ref is None:
        return None
    try:
        wanted = Version(vcs_ref)
    except InvalidVersion:
        return vcs_ref  # a branch or commit: passed through
    return next((tag for version, tag in release_tags(src) if version == wanted), vcs_ref)


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
           on_done: Callable[[UpdateResult], None] | None = None, *, sources: Collection[str]) -> list[UpdateResult]:
    """`copier update` every project; `on_done` is called after each (progress bars). Each template version is
    cloned once for the batch (`shared_versions`), not three times per project."""
    results = []
    with shared_versions():
        for project in projects:
            result = update_one(project, vcs_ref, trust, commit, sources=sources)
            results.append(result)
            if on_done is not None:
                on_done(result)
    return results


def update_one(project: Path, vcs_ref: str | None = None, trust: bool = False,
               commit: bool = True, *, sources: Collection[str]) -> UpdateResult:
    """Update one project. Conflicts are left in the work tree for a person, uncommitted. Only from an
    allowed template source (`sources`): with `trust`, updating runs the source's migrations."""
    try:
        recorded = read_answers(project)
        if not same_source(str(recorded["_src_path"]), sources):
            return UpdateResult(str(project), UpdateOutcome.FAILED,
                                message=_foreign_source(project, str(recorded["_src_path"]), sources).error)
        before = str(recorded["_commit"])
        update_project(project, release_ref(str(recorded["_src_path"]), vcs_ref), trust)
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
