"""Evaluation cost grows linearly with the stack: stack policies index resources once per run."""

from __future__ import annotations

import time

import pytest
from mlops_platform.policy import bench_evaluate, evaluate
from policy_plans import config_for, scaled


def _best_of(runs: int, plan: dict) -> float:
    return min(bench_evaluate(plan, config_for()) for _ in range(runs))


@pytest.mark.slow
def test_many_projects_stay_clean_and_cost_grows_linearly() -> None:
    small, large = scaled(40), scaled(400)
    assert len(large["resources"]) - len(small["resources"]) == 360 * 12
    assert evaluate(large, config_for()).diagnostics == []  # no index collisions between projects
    ratio = _best_of(2, large) / _best_of(2, small)
    assert ratio < 25, f"10x the projects cost {ratio:.1f}x the time: something is super-linear"


def test_bench_entry_point_returns_seconds() -> None:
    start = time.perf_counter()
    seconds = bench_evaluate(scaled(2))
    assert 0 < seconds <= time.perf_counter() - start
