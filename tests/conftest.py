"""Fixtures shared by every test area. Keep this file small: area fixtures live in the area's conftest."""

from __future__ import annotations

import pytest
from mlops_platform.engine import Plan, run_platform


class PlanCache(dict[str, Plan]):
    """Offline plans of shipped environments, planned on first use: `plans["dev"]`."""

    def __missing__(self, env: str) -> Plan:
        plan = run_platform(env=env)
        self[env] = plan
        return plan


@pytest.fixture(scope="session")
def plans() -> PlanCache:
    """One plan per shipped environment per test session (so per xdist worker). Treat plans as read-only."""
    return PlanCache()
