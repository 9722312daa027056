"""Fixtures shared by every test area. Keep this file small: area fixtures live in the area's conftest."""

from __future__ import annotations

import pytest
from mlops_platform.engine import Plan, run_platform


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
