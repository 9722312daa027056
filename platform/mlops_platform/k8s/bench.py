"""Synthetic tenants for `make bench`: plan an environment with N projects (cost per project stays flat)."""

from __future__ import annotations

from typing import Any

from mlops_platform.config.schema import PlatformConfig, ProjectConfig


def bench_projects(n: int) -> list[dict[str, Any]]:
    """N distinct, valid project entries (stack-config shape), named bench-0000 … in order."""
    return [{"name": f"bench-{i:04d}", "owners": [f"team-{i:04d}@example.com"],
             "github_repo": f"example-org/bench-{i:04d}", "gpu_quota": i % 3, "cpu_quota": 8,
             "memory_quota_gib": 32, "monthly_budget_usd": 100.0} for i in range(n)]


def with_projects(cfg: PlatformConfig, n: int) -> PlatformConfig:
    """`cfg` with its projects replaced by `bench_projects(n)`, validated like any stack config."""
    data = cfg.model_dump(mode="python")
    data["projects"] = [ProjectConfig.model_validate(p) for p in bench_projects(n)]
    return PlatformConfig.model_validate(data)
