"""xdist workers share the rewriting of the test modules' asserts (used by tests/conftest.py).

Every worker collects (so imports) every test module, and pytest rewrites a test module's asserts on import
unless its cache (`__pycache__/*-pytest-*.pyc`, checked against the source's hash) holds it: about 3 CPU s per
worker for this suite, half of its collection. In a fresh clone no cache exists yet, and each worker would rewrite
all of them. Here each worker first rewrites its own share (every Nth module) into that cache, so by the time
a worker imports the others' share, they wrote it: the work is done once per run, not once per worker.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _python_files(root: Path, skip: list[str]) -> Iterator[Path]:
    """The .py files under `root`, not descending where pytest does not collect (`norecursedirs`: .venv ...)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not any(fnmatch.fnmatch(d, pattern) for pattern in skip)]
        yield from (Path(dirpath, name) for name in filenames if name.endswith(".py"))


def test_modules(config: pytest.Config) -> Iterator[Path]:
    """The test modules and conftests under the paths this run collects."""
    patterns = [*config.getini("python_files"), "conftest.py"]
    skip = list(config.getini("norecursedirs"))
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0])
        candidates = _python_files(path, skip) if path.is_dir() else [path]
        yield from (p for p in candidates
                    if p.is_file() and any(fnmatch.fnmatch(p.name, pattern) for pattern in patterns))


def rewrite_share(config: pytest.Config) -> None:
    """On an xdist worker: rewrite this worker's share of the test modules into pytest's cache. Uses pytest's
    own rewriting and cache writer (internal functions); when they moved, each worker rewrites all, as before."""
    worker = getattr(config, "workerinput", None)
    if worker is None or sys.dont_write_bytecode:
        return
    try:
        from _pytest.assertion.rewrite import (
            PYC_TAIL,
            _read_pyc,
            _rewrite_test,
            _write_pyc,
            assertstate_key,
            get_cache_dir,
        )
    except ImportError:
        return
    index, count = int(str(worker["workerid"]).removeprefix("gw")), int(worker["workercount"])
    state = config.stash[assertstate_key]
    for source in sorted(set(test_modules(config)))[index::count]:
        pyc = get_cache_dir(source) / (source.name[:-3] + PYC_TAIL)
        if _read_pyc(source, pyc) is not None:
            continue
        try:
            pyc.parent.mkdir(exist_ok=True)
            source_hash, code = _rewrite_test(source, config)
        except (OSError, SyntaxError, ValueError):  # unreadable or broken: its import reports it, as always
            continue
        _write_pyc(state, code, source_hash, pyc)
