"""Rules of GPU sharing, multi-node training placement and quota-fair scheduling, as pure functions
(run by `rules.check_rules` with the others; documented in docs/configuration.md)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction

from mlops_platform.config.issues import issue
from mlops_platform.config.sections import GpuPoolConfig, PlatformSections, ProjectConfig, SystemPoolConfig
from mlops_platform.config.sections_gpu import MultiNodeConfig, ReservationKind
from mlops_platform.core import instances
from mlops_platform.core.errors import ConfigIssue
from mlops_platform.core.gpu_sharing import (
    MIG_PROFILES,
    GpuSharing,
    PoolSharing,
    SharedResource,
    merge_shared,
    physical_gpu_bound,
    shared_resource,
)
from mlops_platform.core.versions import bottlerocket_release_parameter

Issues = Iterator[ConfigIssue]



def pool_gpu_type(pool: GpuPoolConfig) -> instances.GpuType | None:
    """The GPU model of a pool (validated to be one), or None for unknown instance types."""
    for name in pool.instance_types:
        itype = instances.lookup(name)
        if itype and itype.gpu_type:
            return itype.gpu_type
    return None


def pool_shared_resource(pool: GpuPoolConfig) -> SharedResource | None:
    """What a pool advertises instead of whole GPUs (None: whole GPUs, or an invalid sharing setting, which
    `sharing_rules` reports: the other rules still run on the rest of the config)."""
    try:
        return shared_resource(pool.sharing, pool_gpu_type(pool), replicas=pool.time_slicing_replicas,
                               mig_profile=pool.mig_profile)
    except ValueError:
        return None


def pool_sharing(cfg: PlatformSections) -> tuple[PoolSharing, ...]:
    """Each GPU pool's sharing, as the device plugin's configs need it."""
    return tuple(PoolSharing(pool=p.name, sharing=p.sharing, replicas=p.time_slicing_replicas,
                             mig_profile=p.mig_profile, gpu_type=pool_gpu_type(p)) for p in cfg.node_pools.gpu)


def has_mig_pool(cfg: PlatformSections) -> bool:
    """Some GPU pool partitions its GPUs with MIG (its nodes need NVIDIA's mig-manager)."""
    return any(p.sharing is GpuSharing.MIG for p in cfg.node_pools.gpu)


def has_efa_pool(cfg: PlatformSections) -> bool:
    """Some GPU pool attaches EFA interfaces (its nodes need the EFA device plugin)."""
    return any(p.multi_node is not None and p.multi_node.efa for p in cfg.node_pools.gpu)


def shared_resources(cfg: PlatformSections) -> dict[str, SharedResource]:
    """Every shared-GPU resource of the environment's pools, by resource name."""
    found = (pool_shared_resource(p) for p in cfg.node_pools.gpu)
    return merge_shared(r for r in found if r is not None)


def project_physical_gpus(cfg: PlatformSections, project: ProjectConfig) -> Fraction:
    """The most physical GPUs the project's quotas let it hold (whole GPUs + slices at their share)."""
    return physical_gpu_bound(project.gpu_quota, project.gpu_slices, shared_resources(cfg))


def borrowing_limit(nominal: int, pct: int) -> int:
    """What a project may borrow of one resource from its cohort: `pct` % of its own quota, rounded up."""
    return math.ceil(nominal * pct / 100)


def quota_with_borrowing(cfg: PlatformSections, nominal: int) -> int:
    """A quota as the namespace's ResourceQuota renders it: raised by the borrowing limit when the project's
    ClusterQueue is in a cohort (k8s/project_queue.py `quota_ceiling`), or borrowed pods would be refused."""
    q = cfg.queueing
    return nominal + borrowing_limit(nominal, q.borrowing_limit_pct) if q.enabled and q.cohort_borrowing else nominal


def borrowing_cap_rules(cfg: PlatformSections, project: ProjectConfig, path: str) -> Issues:
    """The ResourceQuota's GPUs (quota plus borrowing headroom, slices at their share) stay within the
    environment cap, as policy `gpu-quota-within-cap` judges the rendered quota."""
    q = cfg.queueing
    if not (q.enabled and q.cohort_borrowing) or project_physical_gpus(cfg, project) > cfg.gpu.max_total_gpus:
        return  # no headroom, or the quota alone is over the cap (reported on its own)
    bound = physical_gpu_bound(quota_with_borrowing(cfg, project.gpu_quota),
                               quota_with_borrowing(cfg, project.gpu_slices), shared_resources(cfg))
    if bound > cfg.gpu.max_total_gpus:
        yield issue(f"{path}.gpu_quota", f"with cohort borrowing ({q.borrowing_limit_pct}%) the namespace's "
                    f"ResourceQuota allows {float(bound):g} physical GPUs, above gpu.max_total_gpus",
                    project.gpu_quota, "lower gpu_quota (or gpu_slices) or queueing.borrowing_limit_pct, or raise "
                    f"gpu.max_total_gpus ({cfg.gpu.max_total_gpus})")


#: EKS AMI types of Bottlerocket (`BOTTLEROCKET_x86_64_NVIDIA`, ...).
BOTTLEROCKET_PREFIX = "BOTTLEROCKET_"


def is_bottlerocket(ami_type: str) -> bool:
    return ami_type.startswith(BOTTLEROCKET_PREFIX)


def sharing_rules(path: str, pool: GpuPoolConfig) -> Issues:
    """`sharing` with exactly the setting it needs, MIG only on GPUs that have it."""
    replicas, profile = pool.time_slicing_replicas, pool.mig_profile
    if pool.sharing is not GpuSharing.NONE and is_bottlerocket(pool.ami_type):
        # Bottlerocket's NVIDIA variants run NVIDIA's device plugin as a host service configured by its own
        # settings (bottlerocket v1.26.1 variants/aws-k8s-1.31-nvidia/Cargo.toml: nvidia-k8s-device-plugin),
        # not by the chart config this platform renders, and mig-manager needs a writable host root
        yield issue(f"{path}.sharing", f"sharing: {pool.sharing.value} is rendered into the NVIDIA device "
                    "plugin chart and mig-manager, which Bottlerocket nodes do not use", pool.ami_type,
                    "use ami_type: AL2023_x86_64_NVIDIA for a shared pool, or sharing: none")
    if pool.sharing is not GpuSharing.TIME_SLICING and replicas is not None:
        yield issue(f"{path}.time_slicing_replicas", "only used with sharing: time-slicing", replicas,
                          "remove it, or set sharing: time-slicing")
    if pool.sharing is not GpuSharing.MIG and profile is not None:
        yield issue(f"{path}.mig_profile", "only used with sharing: mig", profile,
                          "remove it, or set sharing: mig")
    if pool.sharing is GpuSharing.TIME_SLICING and replicas is None:
        yield issue(f"{path}.time_slicing_replicas", "sharing: time-slicing needs the slices per GPU", None,
                          "set time_slicing_replicas, e.g. 4")
    if pool.sharing is GpuSharing.MIG:
        yield from _mig_rules(path, pool)


def _mig_rules(path: str, pool: GpuPoolConfig) -> Issues:
    gpu = pool_gpu_type(pool)
    profiles = MIG_PROFILES.get(gpu) if gpu else None
    if gpu and profiles is None:
        capable = ", ".join(f"{g.value} ({', '.join(sorted(_types_of(g)))})" for g in MIG_PROFILES)
        yield issue(f"{path}.sharing", f"{gpu.value} GPUs do not support MIG", "mig",
                          f"use sharing: time-slicing, or MIG-capable GPUs: {capable}")
    elif profiles is not None and pool.mig_profile not in profiles:
        yield issue(f"{path}.mig_profile", f"not a MIG profile of {gpu.value if gpu else '?'} GPUs",
                          pool.mig_profile, f"use one of {', '.join(profiles)}")


def _types_of(gpu: instances.GpuType) -> list[str]:
    return [t.name for t in instances.INSTANCE_TYPES.values() if t.gpu_type is gpu]


def multi_node_rules(cfg: PlatformSections, path: str, pool: GpuPoolConfig) -> Issues:
    """Placement, reservation and EFA against the network and the instance types."""
    mn = pool.multi_node
    if mn is None:
        return
    path = f"{path}.multi_node"
    if cfg.karpenter:
        # EKS User Guide "Manage EFA devices on Amazon EKS": Karpenter does not support placement groups, and
        # the platform's NodePools configure no per-device EFA or reservation
        yield issue(path, "multi-node placement is built for managed node groups", "set",
                    "set gpu.provisioner: managed_node_groups for this environment, or remove multi_node")
        return
    yield from _zone_rules(cfg, path, mn)
    if mn.efa:
        for i, name in enumerate(pool.instance_types):
            itype = instances.lookup(name)
            if itype is not None and not itype.efa_interfaces:
                efa = sorted(n for n, t in instances.INSTANCE_TYPES.items() if t.efa_interfaces and t.gpus)
                yield issue(f"{path}.efa", f"instance type {name} (instance_types[{i}]) has no EFA", True,
                                  f"use EFA-capable types ({', '.join(efa)}) or set efa: false")
    if mn.capacity_reservation is not None:
        yield from _reservation_rules(path, pool, mn)


def _zone_rules(cfg: PlatformSections, path: str, mn: MultiNodeConfig) -> Issues:
    net = cfg.network
    if net.mode == "managed":
        if mn.subnet_id is not None:
            yield issue(f"{path}.subnet_id", "only used with network.mode: existing", mn.subnet_id,
                              "remove it and name the AZ in availability_zone")
        if mn.availability_zone not in net.availability_zones:
            yield issue(f"{path}.availability_zone", "a multi-node pool runs in one of the network's AZs",
                              mn.availability_zone, f"use one of {', '.join(net.availability_zones) or '(none)'}")
        return
    subnets = net.existing.private_subnet_ids if net.existing else []
    if mn.subnet_id not in subnets:
        yield issue(f"{path}.subnet_id", "a multi-node pool on an existing network runs in one of its "
                          "private subnets", mn.subnet_id, f"use one of {', '.join(subnets) or '(none)'}")
    if mn.availability_zone is not None:
        yield issue(f"{path}.availability_zone", "only used with network.mode: managed",
                          mn.availability_zone, "remove it; subnet_id places the pool")


def _reservation_rules(path: str, pool: GpuPoolConfig, mn: MultiNodeConfig) -> Issues:
    res = mn.capacity_reservation
    assert res is not None
    if len(pool.instance_types) != 1:
        yield issue(f"{path}.capacity_reservation", "a capacity reservation is for one instance type",
                          pool.instance_types, "list exactly the reserved instance type in instance_types")
    if pool.capacity != "on_demand":
        yield issue(f"{path}.capacity_reservation", "reserved capacity is not spot", pool.capacity.value,
                          "set capacity: on_demand (a capacity block still bills as a block)")
    if res.kind is ReservationKind.CAPACITY_BLOCK and (pool.min_size or pool.desired_size):
        # EKS: node groups on a Capacity Block launch nothing outside its window; keep the group at 0
        # and let the autoscaler scale within it (docs.aws.amazon.com/eks/latest/userguide/capacity-blocks-mng.html)
        yield issue(f"{path}.capacity_reservation", "a capacity-block pool must start at 0 nodes "
                          "(no instance launches outside the block's window)",
                          f"min_size={pool.min_size}, desired_size={pool.desired_size}",
                          "set min_size: 0 and desired_size: 0")


def gpu_pool_rules(cfg: PlatformSections, path: str, pool: GpuPoolConfig) -> Issues:
    yield from sharing_rules(path, pool)
    yield from multi_node_rules(cfg, path, pool)
    yield from node_group_release_rules(cfg, path, pool)


def node_group_release_rules(cfg: PlatformSections, path: str, pool: GpuPoolConfig | SystemPoolConfig) -> Issues:
    """A Bottlerocket managed node group (a GPU pool, or the system pool) pins its AMI release
    (versions.bottlerocket_release_parameter); one the matrix cannot pin would float to the newest release
    (Karpenter GPU pools: gpu_provisioning.karpenter_rules)."""
    version = cfg.cluster.version
    if (cfg.karpenter and isinstance(pool, GpuPoolConfig)) or not is_bottlerocket(pool.ami_type) \
            or bottlerocket_release_parameter(version, pool.ami_type):
        return
    yield issue(f"{path}.ami_type", f"the version matrix pins no Bottlerocket release for a {pool.ami_type} node "
                f"group on cluster.version {version}: its AMI release would float (an update could roll the nodes)",
                pool.ami_type, "use a Bottlerocket AMI type on a minor of core/versions.py "
                "BOTTLEROCKET_NVIDIA_RELEASES, or an AL2023 AMI type (pinned)")


def project_gpu_rules(cfg: PlatformSections, project: ProjectConfig, path: str) -> Issues:
    """Slices need a shared pool; whole GPUs plus slices at their share stay within the environment cap."""
    shared = shared_resources(cfg)
    if project.gpu_slices and not shared:
        yield issue(f"{path}.gpu_slices", "no GPU pool shares its GPUs", project.gpu_slices,
                          "set sharing: time-slicing or mig on a node_pools.gpu entry, or gpu_slices: 0")
    bound = project_physical_gpus(cfg, project)
    if project.gpu_slices and shared and bound > cfg.gpu.max_total_gpus:
        yield issue(f"{path}.gpu_slices", f"gpu_quota plus slices can hold {float(bound):g} physical GPUs, "
                          "above gpu.max_total_gpus", project.gpu_slices,
                          f"lower gpu_slices or gpu_quota, or raise gpu.max_total_gpus ({cfg.gpu.max_total_gpus})")
    yield from borrowing_cap_rules(cfg, project, path)


def queueing_rules(cfg: PlatformSections) -> Issues:
    q = cfg.queueing
    if q.cohort_borrowing and not q.enabled:
        yield issue("queueing.cohort_borrowing", "borrowing happens between Kueue queues", True,
                          "set queueing.enabled: true, or remove cohort_borrowing")
    for i, project in enumerate(cfg.projects):
        if "fair_share_weight" in project.model_fields_set and not (q.enabled and q.cohort_borrowing):
            # Kueue weighs a ClusterQueue's share only against the other queues of its cohort
            yield issue(f"projects[{i}].fair_share_weight", "weights share borrowed quota within the cohort",
                        project.fair_share_weight, "set queueing.enabled and queueing.cohort_borrowing: true, or "
                        "remove fair_share_weight")


def gpu_warnings(cfg: PlatformSections) -> Issues:
    yield from karpenter_sharing_warnings(cfg)


def karpenter_sharing_warnings(cfg: PlatformSections) -> Issues:
    """Karpenter sizes nodes from the instance type's own resources (`nvidia.com/gpu`), never from what the device
    plugin renames them to: a pending pod asking only for a shared resource launches no node
    (kubernetes-sigs/karpenter#729, open)."""
    if not cfg.karpenter:
        return
    for i, pool in enumerate(cfg.node_pools.gpu):
        resource = pool_shared_resource(pool)
        if resource is not None:
            yield issue(f"node_pools.gpu[{i}].sharing", f"with gpu.provisioner: karpenter no node is launched for a "
                        f"pod asking only for {resource.resource}: Karpenter does not know that resource "
                        "(kubernetes-sigs/karpenter#729)", pool.sharing.value,
                        "use gpu.provisioner: managed_node_groups for shared pools (the autoscaler's node template "
                        "advertises the slices), or sharing: none")
