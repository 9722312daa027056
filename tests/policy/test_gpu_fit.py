"""Shared GPUs in the GPU policies (rules/gpu_fit.py, sdk/gpu_resources.py): what a pool advertises, what a pod
asks for, what a quota can hold in physical GPUs, and the messages a mismatch gets. Run through the pack's
analyzer (`evaluate`, routed per resource type as the engine routes a CrossGuard run) and `mlplat review`'s
project configuration built from a platform's outputs."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from mlops_platform.core.gpu_sharing import TIME_SLICED_GPU, SharedResource, physical_gpu_bound, quota_gpu_bound
from mlops_platform.engine import platform_outputs
from mlops_platform.policy import evaluate
from mlops_platform.policy.evaluate import Diagnostic
from mlops_platform.policy.sdk.gpu_resources import gpu_asks, node_advertises, slice_share
from mlops_platform.scaffold.outputs import validate_outputs
from mlops_platform.workflows.review import project_config
from policy_cases.gpu_fit import A100_MIG, MIG, SHARED, TIME_SLICED, asks, q
from policy_plans import Drop, Only, Patch, config_for, variant

PROJECT_STACK = (Drop("eks"), Drop("system"), Drop("gpu-l4"), Drop("nodes-lt"))


def run(policy: str, *changes: Any, routed: bool = True, **settings: Any) -> list[Diagnostic]:
    found = evaluate(variant(*changes), config_for(Only((policy,), settings)), routed=routed).diagnostics
    assert {d.policy for d in found} <= {policy}
    return found


# ------------------------------------------------------------------ pure
def test_what_a_node_advertises() -> None:
    tags = {"k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu.shared": "16", "team": "x"}
    assert node_advertises({}, tags, 4) == {TIME_SLICED_GPU: 16}  # the autoscaler's own view wins
    mig = {"mlops.io/gpu-type": "a100", "nvidia.com/mig.config": "all-1g.10gb"}
    assert node_advertises(mig, None, 8) == {"nvidia.com/mig-1g.10gb": 32}  # A100: 4 x 1g.10gb per GPU
    assert node_advertises({"nvidia.com/device-plugin.config": "pool-l4"}, None, 1) == {TIME_SLICED_GPU: None}
    assert node_advertises({"nvidia.com/device-plugin.config": "exclusive"}, {}, 2) == {"nvidia.com/gpu": 2}
    assert node_advertises({}, None, None) == {"nvidia.com/gpu": None}


def test_what_a_slice_is_worth() -> None:
    assert slice_share(TIME_SLICED_GPU, 16, 4) == SharedResource(TIME_SLICED_GPU, 4, Fraction(1, 4))
    assert slice_share("nvidia.com/mig-3g.20gb", None, None).gpu_fraction == Fraction(3, 7)  # type: ignore[union-attr]
    assert slice_share(TIME_SLICED_GPU, None, 4) is None and slice_share("nvidia.com/gpu", 4, 4) is None


def test_a_container_asks_with_its_limits_else_its_requests() -> None:
    c = {"resources": {"requests": {"cpu": "1", MIG: 1}, "limits": {MIG: 2, "memory": "1Gi"}}}
    assert gpu_asks(c) == {MIG: 2}
    assert gpu_asks({"resources": {"requests": {"nvidia.com/gpu": "1"}}}) == {"nvidia.com/gpu": "1"}
    assert gpu_asks({}) == {}


def test_quota_bound_per_resource_agrees_with_the_uniform_bound() -> None:
    shared = {TIME_SLICED_GPU: SharedResource(TIME_SLICED_GPU, 4, Fraction(1, 4)),
              MIG: SharedResource(MIG, 4, Fraction(1, 7))}
    assert quota_gpu_bound(2, {TIME_SLICED_GPU: 8, MIG: 8}, shared) == physical_gpu_bound(2, 8, shared)
    assert quota_gpu_bound(1, {TIME_SLICED_GPU: 4, MIG: 7}, shared) == 3
    assert quota_gpu_bound(0, {"nvidia.com/mig-9g.1gb": 5}, shared) == 0  # advertised by no pool


# ------------------------------------------------------------------ negative tests with their messages
@pytest.mark.parametrize("routed", [True, False])
def test_a_whole_gpu_on_a_shared_pool_is_refused_with_what_the_pool_offers(routed: bool) -> None:
    [found] = run("gpu-workload-targets-pool", *TIME_SLICED, routed=routed)
    assert not found.deferred
    assert "asks for nvidia.com/gpu but the selected pools advertise only gpu-l4: nvidia.com/gpu.shared" \
        in found.message


def test_a_slice_on_a_whole_gpu_pool_and_the_wrong_mig_profile_are_refused() -> None:
    [slice_] = run("gpu-workload-targets-pool", asks(SHARED, 1))
    assert "asks for nvidia.com/gpu.shared but the selected pools advertise only gpu-l4: nvidia.com/gpu" \
        in slice_.message
    [profile] = run("gpu-workload-targets-pool", *A100_MIG, asks("nvidia.com/mig-3g.20gb", 1))
    assert "asks for nvidia.com/mig-3g.20gb" in profile.message and "gpu-l4: nvidia.com/mig-1g.10gb" \
        in profile.message


def test_more_mig_instances_than_a_node_has_and_two_time_slices_are_refused() -> None:
    [many] = run("gpu-workload-targets-pool", *A100_MIG, asks(MIG, 33))
    assert "needs 33 nvidia.com/mig-1g.10gb per pod but the selected pools offer at most 32 per node" in many.message
    [two] = run("gpu-workload-targets-pool", *TIME_SLICED, asks(SHARED, 2))
    assert "asks for 2 nvidia.com/gpu.shared: the device plugin refuses more than one time slice" in two.message


def test_a_quota_over_the_cap_names_its_physical_gpus() -> None:
    [found] = run("gpu-quota-within-cap", *TIME_SLICED, q(SHARED, 25), max_total_gpus=8)
    assert found.message == ("ResourceQuota 'fraud-quota' (2 nvidia.com/gpu, 25 nvidia.com/gpu.shared) lets its "
                             "namespace hold 8.25 physical GPUs, over the cap of 8")


def test_shared_limits_are_limits_too() -> None:
    missing = asks(SHARED, 1)
    missing.value.pop("limits")
    [found] = run("gpu-workload-limits", *TIME_SLICED, missing)
    assert "requests nvidia.com/gpu.shared without a limit" in found.message


# ------------------------------------------------------------------ project stacks: the platform's outputs
def test_a_project_on_staging_is_judged_by_the_pools_resources() -> None:
    """staging's l4 pool is time-sliced (4 replicas on g6.xlarge/g6.2xlarge: 1 GPU each): its `gpu_pools`
    output says so, `mlplat review` and `mlplat policy config --platform-outputs` carry it to the policy."""
    outputs = validate_outputs(platform_outputs("staging"), "staging")
    assert outputs.gpu_pools["l4"].resources == {TIME_SLICED_GPU: 4}
    assert outputs.gpu_pools["a10g"].resources == {"nvidia.com/gpu": 1}
    settings = project_config(outputs).settings
    assert settings.gpu_pools is not None
    pools = {n: p.model_dump() for n, p in settings.gpu_pools.items()}
    on_l4 = Patch("fraud-serving", "spec.template.spec.nodeSelector", {"mlops.io/pool": "l4"})
    assert run("gpu-workload-targets-pool", *PROJECT_STACK, on_l4, asks(SHARED, 1), stack_kind="project",
               gpu_pools=pools) == []
    [whole] = run("gpu-workload-targets-pool", *PROJECT_STACK, on_l4, stack_kind="project", gpu_pools=pools)
    assert "asks for nvidia.com/gpu but the selected pools advertise only l4: nvidia.com/gpu.shared" in whole.message
