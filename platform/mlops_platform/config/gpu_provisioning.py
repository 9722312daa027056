"""GPU pools under either provisioner (`gpu.provisioner`): the bounds a Karpenter NodePool gets from a pool's
config, shared by the NodePool manifest, the cost model, preflight and the policies, and the cross-field
rules of `gpu.provisioner: karpenter` (registered in `rules.RULES`).

A Karpenter NodePool has no node count: its `limits` cap the resources of all its nodes together
(https://karpenter.sh/docs/concepts/nodepools/#speclimits). A pool's `max_size` therefore becomes a GPU limit,
`max_size` × the GPUs of its largest instance type, the same number `gpu.max_total_gpus` caps for managed node
groups. Within that limit Karpenter may launch more, smaller nodes (four 1-GPU nodes instead of one 4-GPU
node): root-volume costs count `karpenter_max_nodes`, and vCPU quotas and the NodePool's cpu/memory limits
the most vCPUs/memory per GPU among the pool's types (`resource_limits`), the worst cases.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from mlops_platform.config.issues import issue
from mlops_platform.config.section_types import Capacity
from mlops_platform.config.sections import GpuPoolConfig, PlatformSections
from mlops_platform.core import contract, instances
from mlops_platform.core.errors import ConfigIssue
from mlops_platform.core.gpu_sharing import sharing_node_labels
from mlops_platform.core.versions import BOTTLEROCKET_AMI_PREFIX, bottlerocket_release

#: Every GPU AMI type (core.instances.GPU_AMI_ARCH) works with Karpenter: AL2023 NVIDIA through the matrix's alias
#: `al2023@v<release>`, Bottlerocket's `aws-k8s-<minor>-nvidia` variants through `bottlerocket@v<release>` pinned
#: per minor (versions.BOTTLEROCKET_NVIDIA_RELEASES); minors without a pinned Bottlerocket release are refused
#: below. Karpenter picks the NVIDIA variant for GPU instance types:
#: https://karpenter.sh/docs/concepts/nodeclasses/#specamiselectorterms.
#: Karpenter's `karpenter.sh/capacity-type` values (karpenter.sh/v1 well-known labels).
CAPACITY_TYPES = {Capacity.SPOT: "spot", Capacity.ON_DEMAND: "on-demand"}


def _types(pool: GpuPoolConfig) -> list[instances.InstanceType]:
    return [t for t in (instances.lookup(n) for n in pool.instance_types) if t is not None and t.gpus > 0]


def gpu_limit(pool: GpuPoolConfig) -> int:
    """The pool's NodePool `limits["nvidia.com/gpu"]`: max_size nodes of its largest instance type."""
    return pool.max_size * max((t.gpus for t in _types(pool)), default=0)


def karpenter_max_nodes(pool: GpuPoolConfig) -> int:
    """Most nodes Karpenter can run inside the GPU limit: all of the type with the fewest GPUs."""
    fewest = min((t.gpus for t in _types(pool)), default=0)
    return gpu_limit(pool) // fewest if fewest else 0


def resource_limits(pool: GpuPoolConfig) -> dict[str, str]:
    """NodePool `limits`: the GPU limit, and the most vCPUs and memory nodes holding that many GPUs can have
    (GPUs × the largest vCPUs/memory per GPU among the types), so the pool never claims more of the
    account's vCPU quota than preflight counted."""
    limit, types = gpu_limit(pool), _types(pool)
    cpu = max((math.ceil(limit * t.vcpus / t.gpus) for t in types), default=0)
    memory = max((math.ceil(limit * t.memory_gib / t.gpus) for t in types), default=0)
    return {"nvidia.com/gpu": str(limit), "cpu": str(cpu), "memory": f"{memory}Gi"}


def launches_spot_with_karpenter(cfg: PlatformSections) -> bool:
    """Karpenter may launch a spot node, so the account needs the EC2 Spot service-linked role."""
    return cfg.karpenter and any(pool.capacity is Capacity.SPOT for pool in cfg.node_pools.gpu)


def capacity_types(pool: GpuPoolConfig) -> list[str]:
    """`karpenter.sh/capacity-type` values: a spot pool may fall back to on-demand (Karpenter prefers spot
    when both are allowed: https://karpenter.sh/docs/concepts/scheduling/#capacity-type)."""
    if pool.capacity is Capacity.SPOT and pool.karpenter.on_demand_fallback:
        return [CAPACITY_TYPES[Capacity.SPOT], CAPACITY_TYPES[Capacity.ON_DEMAND]]
    return [CAPACITY_TYPES[pool.capacity]]


def instance_families(pool: GpuPoolConfig) -> list[str]:
    """`karpenter.k8s.aws/instance-family` values of the pool's instance types, in order."""
    return list(dict.fromkeys(n.split(".", 1)[0] for n in pool.instance_types))


# --- rules (documented in docs/configuration.md through config/rule_docs.py) --------------------------------


def karpenter_rules(cfg: PlatformSections) -> Iterator[ConfigIssue]:
    if cfg.karpenter:
        if not cfg.node_pools.gpu:
            yield issue("gpu.provisioner", "karpenter needs at least one GPU pool to provision", "karpenter",
                        "add a node_pools.gpu pool, or set gpu.provisioner: managed_node_groups")
        for i, pool in enumerate(cfg.node_pools.gpu):
            yield from _karpenter_pool_rules(f"node_pools.gpu[{i}]", pool, cfg.cluster.version)
    else:
        yield from _karpenter_settings_unused(cfg)


def _karpenter_pool_rules(path: str, pool: GpuPoolConfig, version: str) -> Iterator[ConfigIssue]:
    if pool.min_size or pool.desired_size:
        yield issue(f"{path}.min_size", "with gpu.provisioner: karpenter a pool keeps no minimum (Karpenter "
                    "launches nodes for pending GPU pods only)", f"min_size {pool.min_size}, desired_size "
                    f"{pool.desired_size}", "set min_size: 0 and desired_size: 0, or use gpu.provisioner: "
                    "managed_node_groups for warm GPU nodes")
    if pool.ami_type.startswith(BOTTLEROCKET_AMI_PREFIX) and bottlerocket_release(version) is None:
        yield issue(f"{path}.ami_type", "the version matrix pins no Bottlerocket release whose "
                    f"aws-k8s-{version}-nvidia variant is confirmed (cluster.version {version})", pool.ami_type,
                    "use AL2023_x86_64_NVIDIA (AL2023_ARM_64_NVIDIA for Graviton GPUs), or a cluster.version with a "
                    "Bottlerocket pin (core/versions.py BOTTLEROCKET_NVIDIA_RELEASES)")
    if pool.capacity is Capacity.ON_DEMAND and "on_demand_fallback" in pool.karpenter.model_fields_set:
        yield issue(f"{path}.karpenter.on_demand_fallback", "only spot pools fall back to on-demand",
                    pool.karpenter.on_demand_fallback, "remove it, or set capacity: spot")


def _karpenter_settings_unused(cfg: PlatformSections) -> Iterator[ConfigIssue]:
    for i, pool in enumerate(cfg.node_pools.gpu):
        if "karpenter" in pool.model_fields_set:
            yield issue(f"node_pools.gpu[{i}].karpenter", "only used with gpu.provisioner: karpenter",
                        cfg.gpu.provisioner.value, "remove it, or set gpu.provisioner: karpenter")


def gpu_node_labels(pool: GpuPoolConfig, gpu_type: str) -> dict[str, str]:
    """The labels every node of a GPU pool carries, the same under either provisioner (a managed node group's
    `labels`, a Karpenter NodePool's template), so workloads select a pool one way."""
    shared = sharing_node_labels(pool.name, pool.sharing, pool.mig_profile)
    # Only whole-GPU pools get the accelerator label: the autoscaler holds a node with it unready while its
    # allocatable nvidia.com/gpu is zero, which a shared pool's always is (it advertises its slices instead):
    # cluster-autoscaler processors/customresources/gpu_processor.go FilterOutNodesWithUnreadyResources.
    accelerator = {} if shared else {contract.ACCELERATOR_LABEL: f"nvidia-{gpu_type}"}
    # EFA pools only: the EFA device plugin selects its nodes by this label (k8s/gpu.py)
    efa = {contract.EFA_LABEL: "true"} if pool.multi_node is not None and pool.multi_node.efa else {}
    return {**pool.labels, contract.POOL_LABEL: pool.name, contract.GPU_TYPE_LABEL: gpu_type,
            **accelerator, "nvidia.com/gpu.present": "true", **shared, **efa}
