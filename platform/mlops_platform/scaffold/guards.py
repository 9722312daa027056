"""What `mlplat new` checks around rendering: the answers against the platform's limits, where the
project may be generated, and one `new` at a time per destination.

A project is checked twice: its explicit answers before anything is written, and the entry the
template recorded (with its derived defaults) right after rendering, inside the destination guard, so
a rejected project leaves nothing behind either way.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlops_platform.config import load_env, repo_root, shipped_envs
from mlops_platform.config.rules import project_limits
from mlops_platform.config.sections import ProjectConfig
from mlops_platform.core.contract import PlatformOutputs
from mlops_platform.core.errors import ConfigError, ConfigIssue, UsageError

QUOTAS = ("gpu_quota", "cpu_quota", "memory_quota_gib")


def limit_issues(quotas: Mapping[str, Any], outputs: PlatformOutputs, source: str) -> list[ConfigIssue]:
    """Quota answers against the environment: its stack config's project rules when this checkout has
    the environment, else the GPU capacity its outputs publish."""
    given = {k: int(v) for k, v in quotas.items() if k in QUOTAS and v is not None}
    env = outputs.environment
    if env in shipped_envs():
        # Only the quotas are read, each already validated; one not given is at its minimum, never over.
        project = ProjectConfig.model_construct(name="new", owners=[], github_repo="",
                                                gpu_quota=given.get("gpu_quota", 0),
                                                cpu_quota=given.get("cpu_quota", 1),
                                                memory_quota_gib=given.get("memory_quota_gib", 1))
        return [dataclasses.replace(i, path=i.path.lstrip("."), file=source)
                for i in project_limits(load_env(env), project, "")]
    # gpu_quota is whole GPUs: a shared pool's nodes advertise none
    capacity = sum(p.gpus_per_node * p.max_nodes for p in outputs.gpu_pools.values() if p.whole_gpus)
    gpus = given.get("gpu_quota", 0)
    if gpus > capacity:
        return [ConfigIssue("gpu_quota", f"quota exceeds the {capacity} GPUs the pools of {env} can ever provide",
                            gpus, f"use at most {capacity}", source)]
    return []


def check_limits(quotas: Mapping[str, Any], outputs: PlatformOutputs, source: str) -> None:
    issues = limit_issues(quotas, outputs, source)
    if issues:
        raise ConfigError(issues, source)


def check_location(dest: Path, template: str | Path) -> None:
    """A project is its own git repository: inside the platform checkout it becomes an untracked nested
    repository that breaks every later render from that checkout (copier's git submodule error)."""
    target = dest.resolve()
    roots = {repo_root().resolve()} | ({Path(str(template)).resolve()} if Path(str(template)).is_dir() else set())
    for root in sorted(roots):
        if target == root or root in target.parents:
            raise UsageError(f"{dest}: inside the platform repository {root} — fix: pass a --dest outside it "
                             "(a project is its own repository), e.g. ../my-project")


@contextmanager
def destination(dest: Path) -> Iterator[None]:
    """Hold the destination while generating into it: a second `mlplat new` into the same place fails at
    once with a clear message, and anything created here is removed again if generating fails."""
    parent = _existing_ancestor(dest.resolve().parent)
    handle = os.open(parent, os.O_RDONLY)
    try:
        try:  # a lock on the parent directory: nothing is written for it, and it dies with the process
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{dest}: another `mlplat new` is generating into {parent} right now — fix: wait "
                             "for it to finish, then pass a --dest of your own") from None
        check_empty(dest)
        created = not dest.exists()
        try:
            yield
        except BaseException:
            if created:
                shutil.rmtree(dest, ignore_errors=True)
            raise
    finally:
        os.close(handle)  # releases the lock


def check_empty(dest: Path) -> None:
    """The destination is a new path or an empty real directory. A symlink (dangling ones included, which
    `exists()` reports as absent) is refused: generating would write where it points, and a rollback would
    remove that tree, not the link."""
    if dest.is_symlink():
        raise UsageError(f"{dest}: is a symbolic link (to {os.readlink(dest)}) — fix: pass a --dest that is a new "
                         "path or an empty directory, not a link to one")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest}: already exists and is not an empty directory — fix: pass a new --dest")


def _existing_ancestor(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path
