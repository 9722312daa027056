"""Copier and git, wrapped: render, update, detect conflicts, read template versions.

Every copier call is non-interactive (`defaults=True`) and safe (`unsafe=False` unless the caller was
told `--trust`); copier's own errors become `TemplateError`s naming the project and the fix.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from copier.errors import CopierError, UnsafeTemplateError
from packaging.version import InvalidVersion, Version
from ruamel.yaml.error import YAMLError

from mlops_platform.config import repo_root
from mlops_platform.core.errors import MlplatError, TemplateError, ToolMissingError
from mlops_platform.core.files import COPIER_YAML, kind_of, load_yaml, read_text
from mlops_platform.scaffold._copier_internals import (
    NewRender,
    Render,
    Template,
    release,
    shared_versions,
    use_clone,
)

ANSWERS_FILE = ".copier-answers.yml"
#: Lines copier writes around an unresolved three-way merge hunk.
CONFLICT_MARKERS = ("<<<<<<< ", ">>>>>>> ")
#: Identity for commits `mlplat` makes when git has none configured (CI machines).
_FALLBACK_IDENTITY = {"GIT_AUTHOR_NAME": "mlplat", "GIT_AUTHOR_EMAIL": "mlplat@localhost",
                      "GIT_COMMITTER_NAME": "mlplat", "GIT_COMMITTER_EMAIL": "mlplat@localhost"}


def template_source() -> Path:
    """The repository holding the root `copier.yml` (template versions are its git tags)."""
    root = repo_root()
    if not (root / "copier.yml").is_file():
        raise TemplateError(f"{root}: no copier.yml — fix: run from a checkout of mlops-platform "
                            f"or set MLPLAT_ROOT to one")
    return root


def git(*args: str, cwd: Path, check: bool = True, identity: bool = False) -> str:
    """Run git; its stdout, stripped. Raises TemplateError naming the command on failure.
    `identity`: commits get a fallback author when git has none configured."""
    env = dict(os.environ)
    if identity and not _has_identity(cwd):
        env.update(_FALLBACK_IDENTITY)
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False)
    except FileNotFoundError:
        raise ToolMissingError("git is not installed — fix: install git") from None
    if check and done.returncode != 0:
        raise TemplateError(f"{cwd}: `git {' '.join(args)}` failed: {done.stderr.strip()[-400:]}")
    return done.stdout.strip()


def _has_identity(cwd: Path) -> bool:
    found = subprocess.run(["git", "config", "user.email"], cwd=cwd if cwd.is_dir() else None,
                           capture_output=True, text=True, check=False)
    return bool(found.stdout.strip())


def copy_project(dest: Path, data: Mapping[str, Any], src: str | Path | None = None,
                 vcs_ref: str | None = None, ask_defaults: Mapping[str, Any] | None = None) -> None:
    """Render the template into the new directory `dest` (copier picks the latest tag when `vcs_ref` is None).

    `ask_defaults` given: copier's questionnaire asks every question `data` does not answer, offering
    these defaults (a terminal is needed); otherwise nothing is asked."""
    interactive = ask_defaults is not None
    with _copier_errors(dest), NewRender(src_path=str(src or template_source()), dst_path=dest, data=dict(data),
                                         defaults=not interactive, user_defaults=dict(ask_defaults or {}),
                                         unsafe=False, quiet=not interactive, vcs_ref=vcs_ref,
                                         overwrite=False) as worker:
        worker.run_copy()


def template_version(src: str | Path, ref: str) -> Template:
    """One version of a template for `render_version`; copier clones it on first use. The caller removes the
    clone with `release_version`."""
    return Template(url=str(src), ref=ref)


def release_version(version: Template) -> None:
    """Remove the clone `template_version` made."""
    release(version)


def render_version(dest: Path, data: Mapping[str, Any], version: Template) -> None:
    """Render an already cloned template version (`template_version`) into a new directory `dest`, non-interactively
    and safely: what `copy_project` renders, without cloning the template again for every project of a batch."""
    with _copier_errors(dest):
        worker = NewRender(src_path=version.url, dst_path=dest, data=dict(data), vcs_ref=version.ref,
                           defaults=True, unsafe=False, quiet=True, overwrite=False)
        use_clone(worker, version)
        with worker:
            worker.run_copy()


def update_project(dest: Path, vcs_ref: str | None = None, trust: bool = False) -> None:
    """`copier update` with recorded answers; conflicts stay inline in the files for `conflicts()`. Each template
    version is cloned once for the update (once for a batch of them inside `shared_versions`)."""
    with _copier_errors(dest), shared_versions(), Render(dst_path=dest, defaults=True, overwrite=True, unsafe=trust,
                                                         quiet=True, vcs_ref=vcs_ref, conflict="inline",
                                                         skip_answered=True) as worker:
        worker.run_update()


@contextmanager
def _copier_errors(dest: Path) -> Iterator[None]:
    """Turn copier's exceptions into TemplateErrors; silence its warnings (dirty template, deprecations)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except UnsafeTemplateError as exc:
            raise TemplateError(f"{dest}: the update runs template migrations ({exc}) — fix: review the "
                                f"template's _migrations, then rerun with --trust") from None
        except (CopierError, ValueError) as exc:
            raise TemplateError(f"{dest}: copier failed: {exc}") from None


def conflicts(project: Path) -> list[str]:
    """Files an update left unresolved: unmerged in git, holding conflict markers, or `.rej` files."""
    unmerged = git("diff", "--name-only", "--diff-filter=U", cwd=project).splitlines()
    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=all",
                                        cwd=project).splitlines()]
    marked = [name for name in changed if _has_markers(project / name)]
    rejects = [str(p.relative_to(project)) for p in project.rglob("*.rej") if ".git" not in p.parts]
    return sorted(set(unmerged) | set(marked) | set(rejects))


def _has_markers(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return False
    return any(line.startswith(CONFLICT_MARKERS) for line in text.splitlines())


def read_answers(project: Path) -> dict[str, Any]:
    """The project's recorded answers file (`_commit`, `_src_path` and the answers)."""
    path = project / ANSWERS_FILE
    if not project.is_dir():
        raise TemplateError(f"{project}: {kind_of(project) or 'a file'}, not a project directory — fix: pass "
                            "a project generated from the template")
    if not path.is_file() and kind_of(path) == "missing":
        raise TemplateError(f"{project}: no {ANSWERS_FILE} — fix: pass a project generated from the template")
    fix = "restore it from git (`git checkout -- .copier-answers.yml`) or regenerate the project"
    try:
        data = load_yaml(read_text(path, "answers file", fix), path, "answers file", COPIER_YAML)
    except (YAMLError, yaml.YAMLError) as exc:
        raise TemplateError(f"{path}: not valid YAML ({getattr(exc, 'problem', exc)}) — fix: {fix}") from None
    except MlplatError as exc:
        raise TemplateError(exc.render()) from None
    if not isinstance(data, dict) or "_commit" not in data or "_src_path" not in data:
        raise TemplateError(f"{path}: missing _commit/_src_path — fix: regenerate it with `copier copy`")
    return data


def template_versions(src: str) -> list[Version]:
    """Release versions (git tags vX.Y.Z) of a template repository, oldest first."""
    return [version for version, _ in release_tags(src)]


def release_tags(src: str) -> list[tuple[Version, str]]:
    """(version, tag as spelled, e.g. v1.3.0) of each release of a template repository, oldest first.
    The tag is what `--vcs-ref` and copier accept; the version is only for ordering."""
    out = git("ls-remote", "--tags", "--refs", src, cwd=Path.cwd())
    releases = []
    for line in out.splitlines():
        tag = line.rsplit("refs/tags/", 1)[-1]
        try:
            releases.append((Version(tag), tag))
        except InvalidVersion:
            continue
    return sorted(r for r in releases if not r[0].is_prerelease)


def committed_answers(project: Path) -> dict[str, Any] | None:
    """The answers file as committed at HEAD (None before the first commit or when it is untracked)."""
    text = git("show", f"HEAD:{ANSWERS_FILE}", cwd=project, check=False)
    try:
        data = load_yaml(text, f"HEAD:{ANSWERS_FILE}", "answers file", COPIER_YAML) if text else None
    except (YAMLError, yaml.YAMLError, MlplatError):
        return None
    return data if isinstance(data, dict) else None


def commit_all(project: Path, message: str) -> bool:
    """Commit every change in the project; False when there was nothing to commit."""
    git("add", "-A", cwd=project)
    if not git("status", "--porcelain", cwd=project):
        return False
    git("commit", "-q", "-m", message, cwd=project, identity=True)
    return True
