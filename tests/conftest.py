"""Fixtures shared by every test area. Keep this file small: area fixtures live in the area's conftest."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from mlops_platform.config import PlatformConfig, load_env, shipped_envs
from mlops_platform.engine import Plan, run_platform
from moto_stand_in import aws_env, moto, moto_server  # noqa: F401  (fixtures of every area that talks to AWS)

# `make test` (and so CI) replays a fixed set of examples, so a merge is never blocked by a case the
# previous run did not draw; `make fuzz` explores fresh random examples and saves failures to .hypothesis/.
settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True)
settings.register_profile("fuzz", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


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
    return load_env(env)
