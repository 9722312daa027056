"""GPU sharing per pool: validation against the GPU model, the device plugin's per-pool configs (chart
nvidia-device-plugin 0.17.1 `config.map`/`config.default`, values keys checked in test_chart_values.py),
the node labels that select them, the autoscaler's node templates, and the honest arithmetic of quotas
over shared GPUs (a slice is never counted as a whole GPU, nor as nothing)."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_platform.config import load_env
from mlops_platform.config.rules import check_rules, check_warnings
from mlops_platform.config.rules_gpu import pool_sharing, project_physical_gpus
from mlops_platform.config.section_types import GpuProvisioner
from mlops_platform.config.sections import GpuPoolConfig
from mlops_platform.core.gpu_sharing import (
    DEVICE_PLUGIN_CONFIG_LABEL,
    EXCLUSIVE_CONFIG,
    MAX_REPLICAS,
    MIG_CONFIG_LABEL,
    MIG_MANAGER_DEPLOY_LABEL,
    MIG_PROFILES,
    NFD_STAND_IN_LABELS,
    OPERATOR_VALIDATOR_DEPLOY_LABEL,
    TIME_SLICED_GPU,
    WHOLE_GPU,
    GpuSharing,
    PoolSharing,
    SharedResource,
    advertised_per_node,
    merge_shared,
    physical_gpu_bound,
    shared_resource,
    sharing_node_labels,
)
from mlops_platform.core.instances import GpuType
from mlops_platform.k8s.device_plugin import config_values

from .planview import helm_values, k8s_of

CA = "k8s.io/cluster-autoscaler/node-template/"


# ---------------------------------------------------------------- pure arithmetic
def test_time_slicing_advertises_renamed_replicas_worth_a_fraction_each() -> None:
    res = shared_resource(GpuSharing.TIME_SLICING, GpuType.L4, replicas=4)
    assert res == SharedResource(TIME_SLICED_GPU, 4, Fraction(1, 4))
    assert advertised_per_node(4, res) == {TIME_SLICED_GPU: 16}
    assert advertised_per_node(4, None) == {WHOLE_GPU: 4}
    assert shared_resource(GpuSharing.NONE, GpuType.L4) is None


def test_mig_profiles_are_distinct_resources_worth_their_compute_share() -> None:
    res = shared_resource(GpuSharing.MIG, GpuType.H100, mig_profile="3g.40gb")
    assert res == SharedResource("nvidia.com/mig-3g.40gb", 2, Fraction(3, 7))
    assert advertised_per_node(8, res) == {"nvidia.com/mig-3g.40gb": 16}
    with pytest.raises(ValueError, match="no MIG profile"):
        shared_resource(GpuSharing.MIG, GpuType.L4, mig_profile="1g.10gb")


def test_mig_table_is_consistent() -> None:
    """NVIDIA MIG user guide: 7 compute slices per GPU; instances of one profile never exceed them."""
    for profiles in MIG_PROFILES.values():
        for p in profiles.values():
            assert p.per_gpu * p.compute_slices <= 7 and p.name.startswith(f"{p.compute_slices}g.")
    # MIG-capable models of the catalog only: A100 40/80 GB (p4d, p4de), H100 (p5), H200 (p5en)
    assert set(MIG_PROFILES) == {GpuType.A100, GpuType.A100_80GB, GpuType.H100, GpuType.H200}


def test_merged_resources_keep_the_largest_share() -> None:
    two = SharedResource(TIME_SLICED_GPU, 2, Fraction(1, 2))
    eight = SharedResource(TIME_SLICED_GPU, 8, Fraction(1, 8))
    assert merge_shared([eight, two]) == {TIME_SLICED_GPU: two}


@given(whole=st.integers(0, 64), slices=st.integers(0, 256), replicas=st.integers(2, MAX_REPLICAS),
       profile=st.sampled_from(sorted(MIG_PROFILES[GpuType.A100])))
def test_physical_bound_is_between_whole_gpus_and_every_slice_a_gpu(whole: int, slices: int, replicas: int,
                                                                    profile: str) -> None:
    shared = merge_shared([shared_resource(GpuSharing.TIME_SLICING, GpuType.L4, replicas=replicas),  # type: ignore[list-item]
                           shared_resource(GpuSharing.MIG, GpuType.A100, mig_profile=profile)])
    bound = physical_gpu_bound(whole, slices, shared)
    assert whole <= bound <= whole + slices * len(shared)
    assert (bound > whole) is (slices > 0)  # a slice is never free
    assert physical_gpu_bound(whole, slices + 1, shared) > bound


# ---------------------------------------------------------------- config rules
def pool(**kw: Any) -> GpuPoolConfig:
    return GpuPoolConfig.model_validate({"name": "p", "instance_types": ["g6.xlarge"], **kw})


def issues_of(**pool_kw: Any) -> list[Any]:
    cfg = load_env("dev")
    pools = cfg.node_pools.model_copy(update={"gpu": [pool(**pool_kw)]})
    return [i for i in check_rules(cfg.model_copy(update={"node_pools": pools}))
            if i.path.startswith("node_pools.gpu[0]")]


def test_mig_is_refused_on_gpus_without_it() -> None:
    (issue,) = issues_of(sharing="mig", mig_profile="1g.10gb")
    assert issue.path == "node_pools.gpu[0].sharing" and "l4 GPUs do not support MIG" in issue.message
    assert "p4d.24xlarge" in issue.fix and "p5.48xlarge" in issue.fix


def test_mig_profile_must_be_the_models() -> None:
    (issue,) = issues_of(instance_types=["p4d.24xlarge"], sharing="mig", mig_profile="1g.20gb")
    assert issue.path == "node_pools.gpu[0].mig_profile" and "1g.5gb" in issue.fix
    assert issues_of(instance_types=["p4d.24xlarge"], sharing="mig", mig_profile="1g.5gb") == []


def test_each_setting_belongs_to_its_mode() -> None:
    assert [i.path for i in issues_of(sharing="time-slicing")] == ["node_pools.gpu[0].time_slicing_replicas"]
    assert [i.path for i in issues_of(time_slicing_replicas=4)] == ["node_pools.gpu[0].time_slicing_replicas"]
    assert [i.path for i in issues_of(mig_profile="1g.5gb")] == ["node_pools.gpu[0].mig_profile"]
    assert issues_of(sharing="time-slicing", time_slicing_replicas=4) == []


def test_replicas_are_bounded() -> None:
    with pytest.raises(ValueError, match="time_slicing_replicas"):
        pool(sharing="time-slicing", time_slicing_replicas=MAX_REPLICAS + 1)
    with pytest.raises(ValueError, match="time_slicing_replicas"):
        pool(sharing="time-slicing", time_slicing_replicas=1)


def test_slices_need_a_shared_pool_and_count_against_the_gpu_cap() -> None:
    dev = load_env("dev")
    project = dev.projects[0].model_copy(update={"gpu_slices": 2})
    bad = dev.model_copy(update={"projects": [project, *dev.projects[1:]]})
    assert any(i.path == "projects[0].gpu_slices" and "no GPU pool shares" in i.message for i in check_rules(bad))
    staging = load_env("staging")
    p = staging.projects[0]
    assert project_physical_gpus(staging, p) == p.gpu_quota + Fraction(p.gpu_slices, 4)
    greedy = staging.model_copy(update={"projects": [p.model_copy(update={"gpu_slices": 4 * 15})]})
    (issue,) = [i for i in check_rules(greedy) if i.path == "projects[0].gpu_slices"]
    assert "17 physical GPUs, above gpu.max_total_gpus" in issue.message


# ---------------------------------------------------------------- device plugin configs and labels
def test_device_plugin_gets_one_config_per_shared_pool_and_an_exclusive_default() -> None:
    values = config_values([PoolSharing(pool="a", sharing=GpuSharing.NONE),
                            PoolSharing(pool="ts", sharing=GpuSharing.TIME_SLICING, replicas=4),
                            PoolSharing(pool="mig", sharing=GpuSharing.MIG, mig_profile="1g.10gb")])
    config = values["config"]
    assert config["default"] == EXCLUSIVE_CONFIG and set(config["map"]) == {EXCLUSIVE_CONFIG, "pool-ts", "pool-mig"}
    files = {name: json.loads(text) for name, text in config["map"].items()}  # JSON is YAML
    assert files[EXCLUSIVE_CONFIG] == {"version": "v1", "flags": {"migStrategy": "none", "failOnInitError": True}}
    assert files["pool-ts"]["sharing"]["timeSlicing"] == {
        "renameByDefault": True, "failRequestsGreaterThanOne": True,
        "resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}
    assert files["pool-mig"]["flags"]["migStrategy"] == "mixed" and "sharing" not in files["pool-mig"]
    assert config_values([PoolSharing(pool="a", sharing=GpuSharing.NONE)]) == {}


def test_labels_select_the_pools_config_and_mig_partition() -> None:
    assert sharing_node_labels("a", GpuSharing.NONE) == {}
    assert sharing_node_labels("ts", GpuSharing.TIME_SLICING) == {DEVICE_PLUGIN_CONFIG_LABEL: "pool-ts"}
    # mig-manager applies NVIDIA's config name for the profile (k8s/mig_manager.py; tests/k8s/test_gpu_devices.py)
    assert sharing_node_labels("m", GpuSharing.MIG, "3g.40gb") == {
        DEVICE_PLUGIN_CONFIG_LABEL: "pool-m", MIG_CONFIG_LABEL: "all-3g.40gb", MIG_MANAGER_DEPLOY_LABEL: "true",
        OPERATOR_VALIDATOR_DEPLOY_LABEL: "true", **NFD_STAND_IN_LABELS}


def test_staging_nodes_get_only_their_pools_config(plans: Any) -> None:
    """The L4 pool time-slices (4 per GPU); the A10G pool keeps whole GPUs. Each node group's labels pick
    its config; the autoscaler's node template advertises what the nodes will (slices, or whole GPUs)."""
    cfg, plan = load_env("staging"), plans["staging"]
    assert [(p.pool, p.sharing) for p in pool_sharing(cfg)] == [("a10g", GpuSharing.NONE),
                                                                ("l4", GpuSharing.TIME_SLICING)]
    groups = {r.get("nodeGroupNamePrefix").removesuffix("-"): r for r in plan.of_type("aws:eks/nodeGroup:NodeGroup")}
    l4, a10g = groups["l4"], groups["a10g"]
    assert l4.get("labels")[DEVICE_PLUGIN_CONFIG_LABEL] == "pool-l4"
    assert DEVICE_PLUGIN_CONFIG_LABEL not in a10g.get("labels")  # falls back to config.default
    # a shared pool never advertises nvidia.com/gpu: with the accelerator label the autoscaler would hold
    # its nodes unready forever (processors/customresources/gpu_processor.go)
    assert "k8s.amazonaws.com/accelerator" not in l4.get("labels")
    assert l4.get("tags")[f"{CA}resources/{TIME_SLICED_GPU}"] == "4"  # g6.2xlarge: 1 GPU x 4
    assert f"{CA}resources/{WHOLE_GPU}" not in l4.get("tags")
    assert a10g.get("tags")[f"{CA}resources/{WHOLE_GPU}"] == "1"
    config = helm_values(plan, "nvidia-device-plugin")["config"]
    assert config["default"] == EXCLUSIVE_CONFIG and set(config["map"]) == {EXCLUSIVE_CONFIG, "pool-l4"}


def test_every_namespace_caps_every_shared_resource(plans: Any) -> None:
    """An extended resource a ResourceQuota does not list is unlimited: each project namespace lists the
    time-sliced resource, at its gpu_slices (plus what it may borrow)."""
    cfg, plan = load_env("staging"), plans["staging"]
    for p in cfg.projects:
        (quota,) = [q for q in k8s_of(plan, "kubernetes:core/v1:ResourceQuota")
                    if q.get("metadata.namespace") == p.name]
        assert int(quota.get("spec.hard")[f"requests.{TIME_SLICED_GPU}"]) >= p.gpu_slices
    for q in k8s_of(plans["dev"], "kubernetes:core/v1:ResourceQuota"):
        assert not any("shared" in k or "mig-" in k for k in q.get("spec.hard"))  # dev shares nothing


def test_both_provisioners_label_gpu_nodes_with_one_function() -> None:
    """gpu.provisioner: karpenter and managed_node_groups — a NodePool's node labels and a node group's labels
    come from `gpu_node_labels`: a shared pool selects its device-plugin config and has no accelerator label."""
    from mlops_platform.aws.nodepools import pool_spec
    from mlops_platform.config.gpu_provisioning import gpu_node_labels
    from mlops_platform.core.contract import ACCELERATOR_LABEL
    from mlops_platform.k8s.karpenter import node_pool

    shared, whole = pool(sharing="time-slicing", time_slicing_replicas=4), pool()
    assert gpu_node_labels(shared, "l4")[DEVICE_PLUGIN_CONFIG_LABEL] == "pool-p"
    assert ACCELERATOR_LABEL not in gpu_node_labels(shared, "l4")
    assert gpu_node_labels(whole, "l4")[ACCELERATOR_LABEL] == "nvidia-l4"
    assert DEVICE_PLUGIN_CONFIG_LABEL not in gpu_node_labels(whole, "l4")
    for p in (shared, whole):
        assert node_pool(p, "l4")["spec"]["template"]["metadata"]["labels"] == gpu_node_labels(p, "l4")
        assert pool_spec(p).labels == gpu_node_labels(p, "l4")


def test_karpenter_cannot_launch_nodes_for_slices_and_validate_says_so() -> None:
    """kubernetes-sigs/karpenter#729 (open): Karpenter's scheduling simulation knows an instance type's
    nvidia.com/gpu, not the device plugin's renamed nvidia.com/gpu.shared, so a pod asking only for a slice
    launches no node."""
    cfg = load_env("staging")
    karpenter = cfg.model_copy(update={"gpu": cfg.gpu.model_copy(update={"provisioner": GpuProvisioner.KARPENTER})})
    found = [w for w in check_warnings(karpenter) if "karpenter#729" in w.message]
    assert [w.path for w in found] == ["node_pools.gpu[1].sharing"]  # staging's time-sliced l4 pool
    assert "nvidia.com/gpu.shared" in found[0].message and "managed_node_groups" in found[0].fix
    assert not [w for w in check_warnings(cfg) if "karpenter#729" in w.message]
