"""Fixtures shared by every test area. Keep this file small: area fixtures live in the area's conftest."""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from mlops_platform.config import PlatformConfig, load_env, shipped_envs, stack_file_for
from mlops_platform.engine import Plan, run_platform
from mlops_platform.engine.cache import CACHE_ENV
from moto_stand_in import aws_env, moto, moto_server  # noqa: F401  (fixtures of every area that talks to AWS)
from rewrite_cache import rewrite_share
from ruamel.yaml import YAML
from xdist_groups import longest_first, name_group

# `make test` (and so CI) replays a fixed set of examples, so a merge is never blocked by a case the
# previous run did not draw; `make fuzz` explores fresh random examples and saves failures to .hypothesis/.
# Nor by the clock: on a machine shared by several runs, drawing an example can stall for seconds (seen:
# "Input generation is slow" failing test_chargeback.py), so `make test` has no deadline and no too_slow
# health check; `make fuzz` keeps both.
settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


_OWNED_CACHE = pytest.StashKey[str]()


def keep_bytecode() -> None:
    """Let this process and the ones it starts (xdist workers, `mlplat`, the engine's child) keep the bytecode
    they compile, as Python does by default, even where PYTHONDONTWRITEBYTECODE is set (this machine's shell,
    many CI images). With it every process compiles its sources again, and every xdist worker rewrites the
    asserts of all test modules again: about 3 of a worker's 6 CPU s of collection (pytest caches a rewritten
    module in `__pycache__` only when bytecode may be written). The files are git-ignored, pytest's are
    hash-checked against the source, and the plan cache's digest skips them (`engine/cache.py`)."""
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def pytest_configure(config: pytest.Config) -> None:
    """One on-disk plan cache per test run (`engine/cache.py`), shared by the xdist workers and the CLI
    subprocesses the tests start: each environment is planned once per run, and no plan of an earlier
    run is ever read (a fresh clone's `make test` pays for every plan it checks)."""
    keep_bytecode()
    rewrite_share(config)
    if CACHE_ENV in os.environ or hasattr(config, "workerinput"):
        return  # set by the caller, or inherited from the controller that started this worker
    os.environ[CACHE_ENV] = tempfile.mkdtemp(prefix="mlplat-test-plans-")
    config.stash[_OWNED_CACHE] = os.environ[CACHE_ENV]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest work first, the quick tests last: a stable order every xdist worker collects alike.

    `make test` runs `--dist loadgroup --no-loadscope-reorder`: xdist hands out work units (an
    `xdist_group`, or a single test) in collection order as workers free up. Collected as written, the
    generated projects' suites come last and one worker runs them while the other idles; started first,
    they alternate between the workers and the thousands of quick tests fill in around them
    (longest-first scheduling). Grouped units go before single tests too: taken last, one of them (e.g. the
    template-update group, ~8 s) kept one worker busy while the other had finished."""
    items.sort(key=longest_first)
    if getattr(config.option, "loadgroup", False):  # an xdist worker of `--dist loadgroup`
        for item in items:
            name_group(item)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Once collected, the objects this process holds for good (imported modules, the Pulumi SDKs' type tables:
    ~400 000 objects) leave the garbage collector's sight, and it runs less often: the tests allocate millions
    of short-lived objects (plans, pydantic models), and with CPython's defaults a full collection walked all of
    them again and again (about 1 of every 8 CPU s of a planning test went to the collector). Garbage is still
    collected, including pytest's own collections at the end that look for unraisable exceptions."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def pytest_unconfigure(config: pytest.Config) -> None:
    owned = config.stash.get(_OWNED_CACHE, None)
    if owned:
        shutil.rmtree(owned, ignore_errors=True)
        os.environ.pop(CACHE_ENV, None)


class PlanCache(dict[str, Plan]):
    """Offline plans of shipped environments, planned on first use: `plans["dev"]`.

    A failed plan is remembered too, so one broken environment fails its tests fast instead of
    re-planning for every test that asks for it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._errors: dict[str, Exception] = {}

    def __missing__(self, env: str) -> Plan:
        if env in self._errors:
            raise self._errors[env]
        try:
            plan = run_platform(env=env)
        except Exception as exc:
            self._errors[env] = exc
            raise
        self[env] = plan
        return plan


@pytest.fixture(scope="session")
def plans() -> PlanCache:
    """One plan per shipped environment per test session (so per xdist worker). Treat plans as read-only."""
    return PlanCache()


# Per shipped environment: `env` parametrizes, `plan` and `cfg` follow it (a module may override them).
@pytest.fixture(params=shipped_envs())
def env(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def plan(plans: PlanCache, env: str) -> Plan:
    return plans[env]


@pytest.fixture
def cfg(env: str) -> PlatformConfig:
    return shipped_config(env)


@cache
def shipped_config(env: str) -> PlatformConfig:
    """A shipped environment's validated config, loaded once per process (hundreds of tests read the same three
    files; a load parses the YAML with line positions). Frozen: treat it as read-only (`model_copy` to vary it)."""
    return load_env(env)


#: The shipped environment the Karpenter variant starts from (two GPU pools: one spot, one on-demand).
KARPENTER_BASE = "staging"


def stack_variant(env: str, sections: dict[str, dict[str, Any]], directory: Path) -> Path:
    """A shipped stack file with some `mlops-platform:<section>` fields replaced, written to `directory`
    under its own name (variants of shipped environments; the shipped files never change)."""
    yaml = YAML(typ="safe", pure=True)
    doc = yaml.load(stack_file_for(env).read_text(encoding="utf-8"))
    for section, fields in sections.items():
        key = f"mlops-platform:{section}"
        doc["config"][key] = {**doc["config"].get(key, {}), **fields}
    path = directory / f"Pulumi.{env}.yaml"
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)
    return path


@pytest.fixture(scope="session")
def shipped_variant() -> Callable[[str, dict[str, dict[str, Any]], Path], Path]:
    """`stack_variant` for test modules (variant stacks of shipped environments)."""
    return stack_variant


@pytest.fixture(scope="session")
def karpenter_stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The staging stack with `gpu.provisioner: karpenter` (shipped stacks keep managed node groups)."""
    return stack_variant(KARPENTER_BASE, {"gpu": {"provisioner": "karpenter"}}, tmp_path_factory.mktemp("karpenter"))


@pytest.fixture(scope="session")
def karpenter_plan(karpenter_stack: Path) -> Plan:
    """All layers of the Karpenter variant, planned once per session (and cached on disk per run)."""
    return run_platform(stack_file=karpenter_stack)
