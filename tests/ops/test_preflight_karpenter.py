"""`mlplat preflight` with `gpu.provisioner: karpenter`: vCPU quota demand from the NodePools' GPU limits (per
quota family, in every capacity a pool may launch), offerings per instance type, and live GPU node groups a
switch to Karpenter would delete."""

from __future__ import annotations

from mlops_platform.core.instances import QuotaFamily
from mlops_platform.ops.checks import Status
from mlops_platform.ops.live_checks import size_results
from mlops_platform.ops.preflight import offering_results, required_vcpus

KARPENTER = {"gpu": {"max_total_gpus": 64, "provisioner": "karpenter"}}
POOLS = {"node_pools": {"gpu": [
    # limit 4 × 4 = 16 GPUs; as g6.xlarge (4 vCPUs/GPU) 64 vCPUs, as g6.12xlarge (12 vCPUs/GPU) 192
    {"name": "l4", "instance_types": ["g6.xlarge", "g6.12xlarge"], "capacity": "spot", "max_size": 4},
    {"name": "a100", "instance_types": ["p4d.24xlarge"], "capacity": "on_demand", "max_size": 1},
    {"name": "a10g", "instance_types": ["g5.xlarge"], "capacity": "spot", "max_size": 2,
     "karpenter": {"on_demand_fallback": False}},
]}}


def test_karpenter_pools_claim_their_gpu_limits_vcpus_in_every_capacity_they_may_use(make_cfg):
    cfg = make_cfg({**KARPENTER, **POOLS})
    assert required_vcpus(cfg) == {
        (QuotaFamily.STANDARD, "on_demand"): 4 * 4,  # the system pool stays a node group
        (QuotaFamily.G_VT, "spot"): 16 * 12 + 2 * 4,  # l4 at its most vCPUs per GPU, a10g spot only
        (QuotaFamily.G_VT, "on_demand"): 16 * 12,  # l4 may fall back to on-demand
        (QuotaFamily.P, "on_demand"): 96,
    }


def test_karpenter_demand_is_at_least_the_node_groups_for_the_same_pools(make_cfg):
    gpu = [{k: v for k, v in p.items() if k != "karpenter"} for p in POOLS["node_pools"]["gpu"]]
    plain = {"node_pools": {"gpu": gpu}}
    managed, karpenter = required_vcpus(make_cfg(plain)), required_vcpus(make_cfg({**KARPENTER, **POOLS}))
    assert all(karpenter.get(key, 0) >= vcpus for key, vcpus in managed.items())


def test_offerings_are_checked_per_instance_type_of_every_karpenter_pool(make_cfg):
    cfg = make_cfg({**KARPENTER, **POOLS})
    azs = ["us-east-1a", "us-east-1b"]
    offered = {t: set(azs) for t in ("m6i.xlarge", "g6.xlarge", "g6.12xlarge", "p4d.24xlarge", "g5.xlarge")}
    offered["p4d.24xlarge"] = {"us-east-1a"}
    results = {r.check: r for r in offering_results(cfg, azs, offered)}
    assert results["offerings a100"].status is Status.FAIL and "p4d.24xlarge" in results["offerings a100"].detail
    assert results["offerings l4"].status is Status.PASS


def test_a_live_gpu_node_group_is_a_warning_when_switching_to_karpenter(make_cfg):
    cfg = make_cfg({**KARPENTER, **POOLS})
    groups = [{"nodegroupName": "l4-abc", "labels": {"mlops.io/pool": "l4"}, "scalingConfig": {"desiredSize": 2}},
              {"nodegroupName": "system-abc", "labels": {"mlops.io/pool": "system"},
               "scalingConfig": {"desiredSize": 2}}]
    results = {r.check: r for r in size_results(cfg, groups)}
    assert results["node pool l4"].status is Status.WARN and "deletes it" in results["node pool l4"].detail
    assert results["node pool system"].status is Status.PASS
