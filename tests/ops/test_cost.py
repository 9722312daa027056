"""Cost model: hand-checked small cases, budgets, comparison and hypothesis properties."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlops_platform.config import PlatformConfig, load_env
from mlops_platform.core.errors import BudgetExceededError, ConfigError
from mlops_platform.ops.cost import HOURS_PER_MONTH, check_budget, compare, estimate, nat_gateways
from mlops_platform.ops.prices import table_prices
from ops_configs import BASE, merge

TODAY = date(2026, 11, 1)  # 1.34 in standard support: control plane at the standard rate


def cfg_of(over: dict[str, Any]) -> PlatformConfig:
    """Validated staging config without a file (fast enough for hypothesis; dev forbids pinned GPU pools)."""
    staging = merge(BASE, {"environment": {"name": "staging", "tier": "staging"}})
    return PlatformConfig.model_validate(merge(staging, over))


def gpu_pool(**kw: Any) -> dict[str, Any]:
    return {"name": "gpu", "instance_types": ["g5.xlarge"], "capacity": "on_demand", **kw}


def pool_line(cfg: PlatformConfig, name: str = "pool gpu", **kw: Any):
    return estimate(cfg, today=TODAY, **kw).line(name)


def test_pinned_pool_costs_exactly_max_nodes_for_the_whole_month():
    cfg = cfg_of({"node_pools": {"gpu": [gpu_pool(min_size=2, desired_size=2, max_size=2, disk_size_gib=200)]}})
    expected = 2 * 730 * 1.006 + 2 * 200 * 0.08  # instances + gp3 root volumes
    line = pool_line(cfg)
    assert line.p50 == pytest.approx(expected) and line.p90 == pytest.approx(expected)


def test_scale_to_zero_gpu_pool_costs_less_than_the_same_pool_pinned_at_max():
    zero = pool_line(cfg_of({"node_pools": {"gpu": [gpu_pool(min_size=0, desired_size=0, max_size=4)]}}))
    pinned = pool_line(cfg_of({"node_pools": {"gpu": [gpu_pool(min_size=4, desired_size=4, max_size=4)]}}))
    assert 0 < zero.p50 <= zero.p90 < pinned.p50


def test_doubling_hours_doubles_node_cost():
    cfg = cfg_of({"node_pools": {"gpu": [gpu_pool(min_size=0, desired_size=1, max_size=4)]}})
    one, two = pool_line(cfg, hours=HOURS_PER_MONTH), pool_line(cfg, hours=2 * HOURS_PER_MONTH)
    assert two.p50 == pytest.approx(2 * one.p50) and two.p90 == pytest.approx(2 * one.p90)


def test_spot_is_cheaper_than_on_demand_for_the_same_pool():
    sizes = {"min_size": 1, "desired_size": 2, "max_size": 6}
    on_demand = pool_line(cfg_of({"node_pools": {"gpu": [gpu_pool(**sizes)]}}))
    spot = pool_line(cfg_of({"node_pools": {"gpu": [gpu_pool(capacity="spot", **sizes)]}}))
    assert spot.p50 < on_demand.p50 and spot.p90 < on_demand.p90


def test_control_plane_nat_and_multi_az_database_by_hand():
    cfg = cfg_of({"network": {"availability_zones": ["us-east-1a", "us-east-1b", "us-east-1c"],
                              "nat": "one_per_az"},
                  "tracking": {"db_instance_class": "db.r6g.large", "db_storage_gib": 100, "multi_az": True}})
    est = estimate(cfg, today=TODAY)
    assert est.line("eks control plane").p50 == pytest.approx(0.10 * 730)
    assert est.line("tracking db db.r6g.large multi-az").p50 == pytest.approx(2 * (0.225 * 730 + 100 * 0.115))
    nat = est.line("nat gateways ×3")
    assert nat.p50 >= 3 * 0.045 * 730  # hourly charge + processed GB on top
    extended = estimate(cfg, today=date(2027, 1, 1)).line("eks control plane")
    assert extended.p50 == pytest.approx(0.60 * 730)


def test_no_nat_line_without_nat_gateways():
    # a brought-your-own VPC creates no NAT gateways (`nat: none` is refused by the config rules while the
    # charts pull public images), so the estimate has no network line
    existing = {"mode": "existing", "existing": {"vpc_id": "vpc-0123456789abcdef0",
                                                 "private_subnet_ids": ["subnet-0123456789abcdef0",
                                                                        "subnet-0123456789abcdef1"]}}
    cfg = cfg_of({"network": existing})
    assert nat_gateways(cfg) == 0
    assert not [li for li in estimate(cfg, today=TODAY).lines if li.kind == "network"]


def test_region_multiplier_applies_to_table_prices():
    pinned = {"node_pools": {"gpu": [gpu_pool(min_size=1, desired_size=1, max_size=1)]}}
    eu = cfg_of({**pinned, "environment": {"region": "eu-west-1"},
                 "network": {"availability_zones": ["eu-west-1a", "eu-west-1b"]}})
    assert pool_line(eu).p50 == pytest.approx(pool_line(cfg_of(pinned)).p50 * 1.11)


def test_same_seed_same_numbers_and_adding_a_pool_leaves_others_alone():
    one = cfg_of({"node_pools": {"gpu": [gpu_pool(max_size=4)]}})
    two = cfg_of({"node_pools": {"gpu": [gpu_pool(max_size=4), {**gpu_pool(max_size=2), "name": "more"}]}})
    assert estimate(one, today=TODAY) == estimate(one, today=TODAY)
    assert pool_line(one) == pool_line(two)


def test_budget_exceeded_raises_with_the_numbers_and_the_fix():
    est = estimate(cfg_of({"budget": {"monthly_usd": 100}}), today=TODAY)
    assert est.over_budget and est.estimated_monthly_p90_usd == est.total_p90
    with pytest.raises(BudgetExceededError, match=r"exceeds budget\.monthly_usd 100 USD — fix") as err:
        check_budget(est)
    assert err.value.exit_code == 1
    check_budget(estimate(cfg_of({"budget": {"monthly_usd": 1_000_000}}), today=TODAY))


def test_unpriced_db_class_is_a_config_error_naming_the_field():
    with pytest.raises(ConfigError, match=r"tracking\.db_instance_class.*db\.x1\.huge"):
        estimate(cfg_of({"tracking": {"db_instance_class": "db.x1.huge"}}), today=TODAY)


def test_shipped_environments_fit_their_budgets_and_compare():
    dev, prod = estimate(load_env("dev"), today=TODAY), estimate(load_env("prod"), today=TODAY)
    assert not dev.over_budget and not prod.over_budget
    rows = {r.name: r for r in compare(dev, prod)}
    assert rows["total"].delta_p90 == pytest.approx(prod.total_p90 - dev.total_p90)
    assert rows["pool a100-train"].left_p90 == 0  # dev has no such pool
    assert dev.to_json()["estimated_monthly_p90_usd"] == round(dev.total_p90, 2)


def test_prices_api_and_table_give_the_same_model_shape():
    cfg = cfg_of({})
    est = estimate(cfg, table_prices("us-east-1"), today=TODAY)
    assert est.price_source.startswith("price table") and est.price_as_of == "2026-11-01"


# --- properties ----------------------------------------------------------------------------------

sizes = st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(1, 40)).map(sorted).filter(lambda s: s[2] >= 1)
gpu_types = st.sampled_from(["g5.xlarge", "g6.2xlarge", "g5.12xlarge", "p4d.24xlarge", "g4dn.xlarge"])


def _pool_cfg(size: list[int], itype: str, capacity: str) -> PlatformConfig:
    lo, mid, hi = size
    return cfg_of({"gpu": {"max_total_gpus": 10_000},
                   "node_pools": {"gpu": [gpu_pool(instance_types=[itype], capacity=capacity,
                                                   min_size=lo, desired_size=mid, max_size=hi)]}})


@settings(max_examples=40, deadline=None)
@given(sizes, st.integers(1, 30), gpu_types, st.sampled_from(["spot", "on_demand"]))
def test_cost_is_monotonic_in_max_size(size, extra, itype, capacity):
    small = estimate(_pool_cfg(size, itype, capacity), scenarios=400, today=TODAY)
    big = estimate(_pool_cfg([size[0], size[1], size[2] + extra], itype, capacity), scenarios=400, today=TODAY)
    assert big.line("pool gpu").p50 >= small.line("pool gpu").p50
    assert big.line("pool gpu").p90 >= small.line("pool gpu").p90
    assert big.total_p90 >= small.total_p90


@settings(max_examples=40, deadline=None)
@given(sizes, gpu_types, st.sampled_from(["spot", "on_demand"]), st.integers(0, 2**32 - 1))
def test_percentiles_are_ordered_and_non_negative(size, itype, capacity, seed):
    est = estimate(_pool_cfg(size, itype, capacity), scenarios=400, seed=seed, today=TODAY)
    for line in est.lines:
        assert 0 <= line.p50 <= line.p90
    assert 0 <= est.total_p50 <= est.total_p90
