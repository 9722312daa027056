"""Plans of the platform program kept on disk, keyed by everything that decides them.

A platform plan is a pure function of the program's files, the stack config, the account and region,
the preview flag and the SDK versions; the key is a SHA-256 over all of them, so a changed file or value is
a different key and a stale plan is never read. `mlplat new` (offline platform outputs), `mlplat plan` and
the test suite (one plan per environment per run, shared by xdist workers) read the same cache.

Location: `MLPLAT_PLAN_CACHE` (a directory, or `off`), else `$XDG_CACHE_HOME/mlplat/plans`
(`~/.cache/mlplat/plans`). Concurrent planners of one key wait for the first (a file lock) instead of
planning twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from mlops_platform.engine.plan import Plan

CACHE_ENV = "MLPLAT_PLAN_CACHE"
#: Distributions whose code decides a plan besides the program's own files.
_SDKS = ("pulumi", "pulumi-aws", "pulumi-kubernetes")
_SKIP_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


def cache_dir() -> Path | None:
    """Where plans are kept, or None when `MLPLAT_PLAN_CACHE=off`."""
    configured = os.environ.get(CACHE_ENV, "")
    if configured.lower() == "off":
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlplat" / "plans"


def _files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                yield Path(dirpath) / name


def program_digest(program_dir: Path) -> str:
    """SHA-256 over every file of the program directory (path and content) and the SDK versions."""
    digest = hashlib.sha256(sys.version.encode())
    for dist in _SDKS:
        digest.update(f"{dist}=={_version(dist)}".encode())
    for path in _files(program_dir):
        digest.update(path.relative_to(program_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@cache
def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def plan_key(program_dir: Path, **inputs: Any) -> str:
    """The cache key of one run: the program's digest and the run's inputs (config, stack, ctx...)."""
    text = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(f"{program_digest(program_dir)}\n{text}".encode()).hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load(path: Path) -> Plan | None:
    try:
        data: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        plan = Plan.from_json(dict(data))
        plan.timings, plan.cached = list(data.get("timings") or []), True
        return plan
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or unreadable: plan again and overwrite


def _store(path: Path, plan: Plan) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".plan-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({**plan.to_json(), "timings": plan.timings}, handle)
    os.replace(tmp, path)  # readers see the old file or the whole new one


def cached_plan(key: str, compute: Callable[[], Plan]) -> Plan:
    """The plan stored under `key`, else `compute()` stored there. Errors are never cached."""
    root = cache_dir()
    if root is None:
        return compute()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return compute()  # an unwritable cache must not stop a plan
    path = root / f"{key}.json"
    with _locked(root / f"{key}.lock"):
        plan = _load(path)
        if plan is None:
            plan = compute()
            with contextlib.suppress(OSError):
                _store(path, plan)
    return plan
