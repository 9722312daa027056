"""`gpu.provisioner`: the Karpenter rules (negative, each with its message and fix), and the NodePool bounds a
pool's config implies, as pure functions (properties: the GPU limit never exceeds the environment cap a valid
config allows; the CPU/memory limits cover every node mix the GPU limit admits)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_platform.config.gpu_provisioning import (
    capacity_types,
    gpu_limit,
    instance_families,
    karpenter_max_nodes,
    launches_spot_with_karpenter,
    resource_limits,
)
from mlops_platform.config.rules import check_warnings, total_max_gpus
from mlops_platform.config.sections import GpuPoolConfig, PlatformSections
from mlops_platform.core import instances, versions

from .stackfiles import issue_at, issues_of, sections

KARPENTER = {"gpu": {"max_total_gpus": 16, "provisioner": "karpenter"}}


def with_pool(**fields: Any) -> dict[str, Any]:
    pool = {"name": "l4", "instance_types": ["g6.xlarge", "g6.2xlarge"], "capacity": "spot", "max_size": 4}
    return {"node_pools": {"gpu": [{**pool, **fields}]}}


def test_karpenter_is_a_valid_choice_and_managed_node_groups_the_default() -> None:
    assert issues_of(sections("dev", KARPENTER)) == []
    assert issues_of(sections("prod", KARPENTER)) == []
    assert PlatformSections.model_validate(sections("dev")).gpu.provisioner.value == "managed_node_groups"


@pytest.mark.parametrize(("over", "path", "message", "fix"), [
    pytest.param({**KARPENTER, **with_pool(min_size=1, desired_size=1)}, "node_pools.gpu[0].min_size",
                 "keeps no minimum", "set min_size: 0 and desired_size: 0", id="no-minimum"),
    pytest.param({**KARPENTER, **with_pool(capacity="on_demand", karpenter={"on_demand_fallback": True})},
                 "node_pools.gpu[0].karpenter.on_demand_fallback", "only spot pools fall back",
                 "set capacity: spot", id="fallback-needs-spot"),
    pytest.param({**KARPENTER, "node_pools": {"gpu": []}}, "gpu.provisioner", "needs at least one GPU pool",
                 "managed_node_groups", id="karpenter-needs-a-pool"),
    pytest.param(with_pool(karpenter={"consolidation": "WhenEmptyOrUnderutilized"}), "node_pools.gpu[0].karpenter",
                 "only used with gpu.provisioner: karpenter", "set gpu.provisioner: karpenter",
                 id="settings-without-karpenter"),
    pytest.param({**KARPENTER, **with_pool(karpenter={"consolidate_after": "10 minutes"})},
                 "node_pools.gpu[0].karpenter.consolidate_after", "pattern", "", id="karpenter-duration"),
    pytest.param({**KARPENTER, **with_pool(karpenter={"disruption_budget": "150%"})},
                 "node_pools.gpu[0].karpenter.disruption_budget", "pattern", "", id="budget-pattern"),
    pytest.param({"gpu": {"provisioner": "autoscaler"}}, "gpu.provisioner", "managed_node_groups' or 'karpenter",
                 "", id="named-enum"),
])
def test_karpenter_rule_violations_name_field_value_and_fix(over: dict[str, Any], path: str, message: str,
                                                            fix: str) -> None:
    issue = issue_at(issues_of(sections("staging", over)), path)  # dev already refuses a GPU minimum
    assert message in issue.message and fix in issue.fix


@pytest.mark.parametrize(("ami_type", "instance_types"), [("BOTTLEROCKET_x86_64_NVIDIA", ["g6.xlarge"]),
                                                          ("BOTTLEROCKET_ARM_64_NVIDIA", ["g5g.xlarge"])])
def test_bottlerocket_karpenter_pools_are_valid_without_the_node_group_warning(ami_type: str,
                                                                              instance_types: list[str]) -> None:
    config = sections("staging", {**KARPENTER, **with_pool(ami_type=ami_type, instance_types=instance_types)})
    assert issues_of(config) == []
    cfg = PlatformSections.model_validate(config)
    assert [w for w in check_warnings(cfg) if w.path.endswith("ami_type")] == []


@pytest.mark.parametrize("minor", versions.SUPPORTED_EKS_VERSIONS)
def test_every_gpu_ami_type_has_a_karpenter_alias_on_every_minor(minor: str) -> None:
    """No GPU AMI type is left that a Karpenter pool cannot select (the config rules refuse none by type)."""
    aliases = {t: versions.karpenter_ami_alias(minor, t) for t in instances.GPU_AMI_ARCH}
    assert {a.split("@")[0] for a in aliases.values()} == {"al2023", "bottlerocket"}


def test_a_minor_without_a_confirmed_bottlerocket_release_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(versions.BOTTLEROCKET_NVIDIA_RELEASES, "1.33")
    over = {**KARPENTER, **with_pool(ami_type="BOTTLEROCKET_x86_64_NVIDIA"), "cluster": {"version": "1.33"}}
    issue = issue_at(issues_of(sections("staging", over)), "node_pools.gpu[0].ami_type")
    assert "pins no Bottlerocket release whose aws-k8s-1.33-nvidia variant is confirmed" in issue.message
    assert issue.value == "BOTTLEROCKET_x86_64_NVIDIA" and "use AL2023_x86_64_NVIDIA" in issue.fix
    assert "BOTTLEROCKET_NVIDIA_RELEASES" in issue.fix


def test_the_gpu_cap_holds_for_karpenter_pools_too() -> None:
    """The NodePool limits are max_size × GPUs, the same sum `gpu.max_total_gpus` caps."""
    issue = issue_at(issues_of(sections("dev", {**KARPENTER, **with_pool(max_size=17)})), "node_pools.gpu")
    assert "above gpu.max_total_gpus" in issue.message


def test_bounds_of_a_mixed_pool() -> None:
    pool = GpuPoolConfig(name="l4", instance_types=["g6.xlarge", "g6.12xlarge"], capacity="spot", max_size=2)
    assert gpu_limit(pool) == 8  # two of the 4-GPU type
    assert karpenter_max_nodes(pool) == 8  # or eight of the 1-GPU type
    # 8 GPUs as g6.xlarge: 32 vCPUs, 128 GiB; as g6.12xlarge: 96 vCPUs, 384 GiB
    assert resource_limits(pool) == {"nvidia.com/gpu": "8", "cpu": "96", "memory": "384Gi"}
    assert capacity_types(pool) == ["spot", "on-demand"] and instance_families(pool) == ["g6"]
    strict = pool.model_copy(update={"karpenter": pool.karpenter.model_copy(update={"on_demand_fallback": False})})
    assert capacity_types(strict) == ["spot"]


GPU_TYPES = [t for t in instances.INSTANCE_TYPES.values() if t.gpus and t.gpu_type is instances.GpuType.L4]


@given(types=st.lists(st.sampled_from(GPU_TYPES), min_size=1, max_size=4, unique=True),
       max_size=st.integers(1, 50), mix=st.lists(st.integers(0, 50), min_size=4, max_size=4))
def test_cpu_and_memory_limits_cover_every_node_mix_within_the_gpu_limit(
        types: list[instances.InstanceType], max_size: int, mix: list[int]) -> None:
    pool = GpuPoolConfig(name="p", instance_types=[t.name for t in types], max_size=max_size)
    limits = resource_limits(pool)
    counts = list(zip(types, mix, strict=False))
    if sum(t.gpus * n for t, n in counts) <= gpu_limit(pool):  # a mix Karpenter may launch
        assert sum(t.vcpus * n for t, n in counts) <= int(limits["cpu"])
        assert sum(t.memory_gib * n for t, n in counts) <= int(limits["memory"].removesuffix("Gi"))
    assert karpenter_max_nodes(pool) >= max_size


@given(max_sizes=st.lists(st.integers(1, 20), min_size=1, max_size=3))
def test_a_valid_config_keeps_the_sum_of_nodepool_limits_under_the_cap(max_sizes: list[int]) -> None:
    gpu = [{"name": f"p{i}", "instance_types": ["g6.xlarge", "g6.12xlarge"], "max_size": m}
           for i, m in enumerate(max_sizes)]
    config = sections("dev", {**KARPENTER, "node_pools": {"gpu": gpu}})
    cfg = PlatformSections.model_validate(config)
    valid = not issues_of(config)
    assert valid == (total_max_gpus(cfg) <= 16)
    if valid:
        assert sum(gpu_limit(p) for p in cfg.node_pools.gpu) <= cfg.gpu.max_total_gpus


def test_only_karpenter_with_a_spot_pool_needs_the_ec2_spot_service_linked_role() -> None:
    """Karpenter's spot CreateFleet needs AWSServiceRoleForEC2Spot; a managed node group's Auto Scaling group
    creates it itself (AutoScalingServiceRolePolicy allows iam:CreateServiceLinkedRole for spot.amazonaws.com:
    https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AutoScalingServiceRolePolicy.html)."""
    def needs(over: dict[str, Any]) -> bool:
        return launches_spot_with_karpenter(PlatformSections.model_validate(sections("dev", over)))
    assert needs({**KARPENTER, **with_pool()})
    assert not needs({**KARPENTER, **with_pool(capacity="on_demand")})
    assert not needs(with_pool())  # spot, but a managed node group
