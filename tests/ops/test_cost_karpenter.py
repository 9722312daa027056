"""Cost of Karpenter GPU pools (`gpu.provisioner: karpenter`): bounded by the NodePool's GPU limit, priced per
GPU over the pool's types, spot with an on-demand fallback share; hand-checked cases and properties."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlops_platform.config import PlatformConfig
from mlops_platform.config.gpu_provisioning import gpu_limit
from mlops_platform.ops.cost import estimate
from ops_configs import BASE, merge

TODAY = date(2026, 11, 1)


def cfg_of(pool: dict[str, Any], provisioner: str = "karpenter") -> PlatformConfig:
    staging = merge(BASE, {"environment": {"name": "staging", "tier": "staging"}})
    return PlatformConfig.model_validate(merge(staging, {
        "gpu": {"max_total_gpus": 64, "provisioner": provisioner},
        "node_pools": {"gpu": [{"name": "gpu", "min_size": 0, "desired_size": 0, **pool}]}}))


def line(cfg: PlatformConfig, **kw: Any):
    return estimate(cfg, today=TODAY, **kw).line("pool gpu")


def test_a_one_type_on_demand_pool_costs_what_the_same_node_group_costs():
    """One instance type: the GPU limit is max_size nodes' worth, so both provisioners agree."""
    pool = {"instance_types": ["g5.xlarge"], "capacity": "on_demand", "max_size": 4}
    karpenter, managed = line(cfg_of(pool)), line(cfg_of(pool, "managed_node_groups"))
    assert karpenter.p50 == pytest.approx(managed.p50) and karpenter.p90 == pytest.approx(managed.p90)


def test_the_bound_is_the_gpu_limit_not_the_node_count():
    """A mixed pool's limit is max_size × the biggest type's GPUs (g6.12xlarge: 4): the estimate grows with it."""
    small = line(cfg_of({"instance_types": ["g6.xlarge"], "capacity": "on_demand", "max_size": 2}))
    mixed = line(cfg_of({"instance_types": ["g6.xlarge", "g6.12xlarge"], "capacity": "on_demand", "max_size": 2}))
    assert mixed.p50 > 3 * small.p50


def test_on_demand_fallback_costs_more_than_spot_only_and_less_than_on_demand():
    base = {"instance_types": ["g6.xlarge", "g6.2xlarge"], "max_size": 6}
    spot_only = line(cfg_of({**base, "capacity": "spot", "karpenter": {"on_demand_fallback": False}}))
    fallback = line(cfg_of({**base, "capacity": "spot"}))
    on_demand = line(cfg_of({**base, "capacity": "on_demand"}))
    assert spot_only.p50 < fallback.p50 < on_demand.p50
    assert spot_only.p90 < fallback.p90 < on_demand.p90


GPU_TYPES = ["g5.xlarge", "g5.12xlarge", "g6.xlarge", "g6.12xlarge", "g6e.xlarge"]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 10), st.integers(1, 10), st.sampled_from(GPU_TYPES), st.sampled_from(["spot", "on_demand"]))
def test_cost_is_monotone_in_the_gpu_limit(size: int, extra: int, itype: str, capacity: str):
    small_cfg = cfg_of({"instance_types": [itype], "capacity": capacity, "max_size": size})
    big_cfg = cfg_of({"instance_types": [itype], "capacity": capacity, "max_size": size + extra})
    assert gpu_limit(big_cfg.node_pools.gpu[0]) > gpu_limit(small_cfg.node_pools.gpu[0])
    small, big = line(small_cfg, scenarios=400), line(big_cfg, scenarios=400)
    assert 0 <= small.p50 <= small.p90 and big.p50 >= small.p50 and big.p90 >= small.p90
