"""Preflight's pure parts: AZ coverage, vCPU demand per quota bucket, EKS support table."""

from __future__ import annotations

from datetime import date

import pytest
from mlops_platform.catalog import QuotaFamily
from mlops_platform.ops.preflight import Status, offering_results, required_azs, required_vcpus, table_status


def test_gpu_pools_need_two_azs_and_the_system_pool_needs_all():
    assert required_azs(is_gpu=True, configured=3) == 2
    assert required_azs(is_gpu=False, configured=3) == 3


def test_vcpu_demand_sums_max_size_times_largest_type_per_family_and_capacity(make_cfg):
    cfg = make_cfg({"node_pools": {"gpu": [
        {"name": "l4", "instance_types": ["g6.xlarge", "g6.2xlarge"], "capacity": "spot", "max_size": 4},
        {"name": "a10g", "instance_types": ["g5.12xlarge"], "capacity": "spot", "max_size": 2},
        {"name": "a100", "instance_types": ["p4d.24xlarge"], "capacity": "on_demand", "max_size": 1},
    ]}})
    assert required_vcpus(cfg) == {
        (QuotaFamily.STANDARD, "on_demand"): 4 * 4,  # system pool m6i.xlarge × max 4
        (QuotaFamily.G_VT, "spot"): 4 * 8 + 2 * 48,
        (QuotaFamily.P, "on_demand"): 96,
    }


def test_type_missing_from_an_az_fails_with_the_az_and_the_fix(make_cfg):
    cfg = make_cfg({"network": {"availability_zones": ["us-east-1a", "us-east-1b"]}})
    azs = ["us-east-1a", "us-east-1b"]
    offered = {"m6i.xlarge": {"us-east-1a", "us-east-1b"}, "g6.xlarge": {"us-east-1a"}}
    results = {r.check: r for r in offering_results(cfg, azs, offered)}
    assert results["offerings system"].status is Status.PASS
    gpu = results["offerings l4"]
    assert gpu.status is Status.FAIL
    assert "g6.xlarge not offered in us-east-1b" in gpu.detail
    assert "node_pools.gpu[0].instance_types" in gpu.fix


@pytest.mark.parametrize(("today", "expected"), [
    (date(2026, 11, 1), "STANDARD_SUPPORT"),
    (date(2027, 1, 1), "EXTENDED_SUPPORT"),
    (date(2028, 1, 1), "UNSUPPORTED"),
])
def test_table_status_follows_the_release_calendar(today, expected):
    assert table_status("1.34", today) == expected


def test_unknown_version_is_unsupported():
    assert table_status("1.20", date(2026, 11, 1)) == "UNSUPPORTED"
