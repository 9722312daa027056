"""Fixtures of the policies in `mlops_platform.policy.rules.gpu_fit`: the reference stack's GPU node group turned
into a time-sliced or MIG pool exactly as the platform renders one (aws/nodepools.py labels and node-template
tags), and pods or quotas asking for what such a pool does or does not advertise."""

from __future__ import annotations

from typing import Any

from mlops_platform.aws.nodepools import autoscaler_tags, pool_spec
from mlops_platform.config.sections import GpuPoolConfig
from policy_plans import DROP, TAGS, Add, Drop, Patch, U, res, urn

from policy_cases._base import C0, DEFERRED, DEPLOY, POD, Case, deploy, fail, ok, u
from policy_cases.karpenter import karpenter_pool

SHARED, MIG = "nvidia.com/gpu.shared", "nvidia.com/mig-1g.10gb"
QUOTA = urn("kubernetes:core/v1:ResourceQuota", "fraud-quota")


def shared_pool(**sharing: Any) -> tuple[Patch, ...]:
    """gpu-l4 as the platform renders a pool with this sharing (labels, node-template tags, instance types)."""
    pool = GpuPoolConfig(name="gpu-l4", instance_types=sharing.pop("instance_types", ["g6.xlarge"]), max_size=4,
                         **sharing)
    spec = pool_spec(pool)
    return (Patch("gpu-l4", "instanceTypes", spec.instance_types), Patch("gpu-l4", "labels", spec.labels),
            Patch("gpu-l4", "tags", {**TAGS, **autoscaler_tags("test", spec)}))


TIME_SLICED = shared_pool(sharing="time-slicing", time_slicing_replicas=4)  # g6.xlarge: 1 GPU -> 4 slices
A100_MIG = shared_pool(sharing="mig", mig_profile="1g.10gb", instance_types=["p4d.24xlarge"])  # 8 x 4 instances


def asks(resource: str, n: int) -> Patch:
    return deploy(f"{C0}.resources", {"requests": {"memory": "4Gi", resource: n},
                                      "limits": {"memory": "4Gi", resource: n}})


def q(resource: str, n: int) -> Add:
    return Add(res("kubernetes:core/v1:ResourceQuota", "fraud-quota", {
        "metadata": {"name": "project-quota", "namespace": "fraud"},
        "spec": {"hard": {"requests.cpu": "16", "requests.nvidia.com/gpu": 2, f"requests.{resource}": n}}}))


#: A project stack on a platform whose only pool is a MIG pool (its `gpu_pools` output).
MIG_PLATFORM = {"stack_kind": "project", "gpu_pools": {"gpu-l4": {"gpu_type": "a100", "gpus_per_node": 8,
                                                                  "resources": {MIG: 32}}}}

CASES: dict[str, Case] = {
    "gpu-workload-targets-pool": Case(
        passing=(ok(), ok(deploy(f"{POD}.nodeSelector", {"mlops.io/gpu-type": "l4"})),
                 # the pool is a Karpenter NodePool instead of a node group
                 ok(Drop("gpu-l4"), *karpenter_pool(), deploy(f"{POD}.nodeSelector", {"mlops.io/pool": "l4"})),
                 # one time slice on a time-sliced pool, MIG instances of the pool's profile on a MIG pool
                 ok(*TIME_SLICED, asks(SHARED, 1)), ok(*A100_MIG, asks(MIG, 32))),
        failing=(fail(DEPLOY, deploy(f"{POD}.nodeSelector", {"mlops.io/pool": "a100"})),
                 fail(DEPLOY, deploy(f"{POD}.nodeSelector", DROP)),
                 fail(DEPLOY, deploy(f"{C0}.resources.limits", {"memory": "4Gi", "nvidia.com/gpu": 4})),
                 # a NodePool of 1-GPU types cannot hold a 4-GPU pod
                 fail(DEPLOY, Drop("gpu-l4"), *karpenter_pool(), deploy(f"{POD}.nodeSelector", {"mlops.io/pool": "l4"}),
                      deploy(f"{C0}.resources.limits", {"memory": "4Gi", "nvidia.com/gpu": 4})),
                 # a whole GPU on a time-sliced pool (it advertises no nvidia.com/gpu), a slice on a whole-GPU pool
                 fail(DEPLOY, *TIME_SLICED), fail(DEPLOY, asks(SHARED, 1)),
                 # another MIG profile, and more instances than one node has (8 GPUs x 4)
                 fail(DEPLOY, *A100_MIG, asks("nvidia.com/mig-3g.20gb", 1)), fail(DEPLOY, *A100_MIG, asks(MIG, 33)),
                 # two time slices in one container: the device plugin refuses it
                 fail(DEPLOY, *TIME_SLICED, asks(SHARED, 2)),
                 # a project stack: the platform's only pool is MIG, the pod asks for a whole GPU
                 fail(DEPLOY, Drop("gpu-l4"), **MIG_PLATFORM)),
        unknown=u(DEFERRED, deploy(f"{POD}.nodeSelector", U))),
    "gpu-quota-within-cap": Case(
        passing=(ok(), ok(q(SHARED, 12)),  # 2 + 12 slices at 1/2 (no time-sliced pool in view: the most one can be)
                 ok(*TIME_SLICED, q(SHARED, 24)),  # 2 + 24 x 1/4 = 8: the pool's 4 replicas
                 ok(*A100_MIG, q(MIG, 42))),  # 2 + 42 x 1/7 = 8
        failing=(fail(QUOTA, q("nvidia.com/gpu", 9)), fail(QUOTA, *TIME_SLICED, q(SHARED, 25)),
                 fail(QUOTA, q(SHARED, 13)),  # 2 + 13/2 = 8.5: counted at the largest share a slice can be
                 fail(QUOTA, q("nvidia.com/mig-3g.20gb", 15))),  # 2 + 15 x 3/7 = 8.4
        unknown=u(DEFERRED, q(SHARED, 4), Patch("fraud-quota", "spec.hard", U))),
}
