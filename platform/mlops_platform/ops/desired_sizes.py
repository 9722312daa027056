"""`mlplat up`: move a node group's desired size up to a raised `min_size` before the aws layer is updated.

Why `pulumi up` alone cannot: the node groups ignore drift of `scalingConfig.desiredSize` (aws/nodepools.py —
the cluster autoscaler owns it after creation, and re-applying the stack must not reset it), so the engine's
UpdateNodegroupConfig carries the new min/max together with the *live* desired size. EKS requires
minSize ≤ desiredSize ≤ maxSize in every scaling config ("desiredSize ... must be greater than or equal to
minSize", https://docs.aws.amazon.com/eks/latest/APIReference/API_NodegroupScalingConfig.html) and rejects the
update ("Minimum capacity X can't be greater than desired size Y") half-way through the aws layer.

So before the aws layer, for every live group of a configured pool whose new min_size exceeds its desired
size, `up` sends one UpdateNodegroupConfig that keeps the live min, raises desired to the new min (and max
when it must), which is always valid, and waits for the group to be ACTIVE again (EKS refuses a second
update while one runs). The engine's update then sets the new min. A max_size lowered below the desired
size is never acted on: that would drain nodes, so preflight stops with the command instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mlops_platform.core import contract
from mlops_platform.core.errors import PreflightError
from mlops_platform.ops._aws import Aws, AwsFailure, describe
from mlops_platform.ops.live_checks import live_cluster, live_groups, pools_by_name

if TYPE_CHECKING:
    from mypy_boto3_eks.type_defs import NodegroupScalingConfigTypeDef, WaiterConfigTypeDef

    from mlops_platform.config import PlatformConfig

#: Waiting for the group to be ACTIVE again: EKS applies a scaling change in well under a minute; the
#: nodes themselves join later (the engine does not wait for them).
WAIT: WaiterConfigTypeDef = {"Delay": 10, "MaxAttempts": 60}


@dataclass(frozen=True)
class DesiredRaise:
    """One node group whose desired size `up` raised to the pool's new min_size."""

    pool: str
    nodegroup: str
    desired_from: int
    desired_to: int
    scaling_config: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def planned_raises(cfg: PlatformConfig, groups: Iterable[Mapping[str, Any]]) -> list[DesiredRaise]:
    """Pure: the raises the live groups need (matched to pools by their pool label)."""
    pools = pools_by_name(cfg)
    out = []
    for group in groups:
        pool = pools.get((group.get("labels") or {}).get(contract.POOL_LABEL, ""))
        live = group.get("scalingConfig") or {}
        desired = int(live.get("desiredSize", 0))
        if pool is None or pool.min_size <= desired:
            continue
        if cfg.karpenter and pool is not cfg.node_pools.system:
            continue  # the aws layer deletes this GPU node group (Karpenter provisions the pool): never scale it up
        # the live min stays (the engine raises it next); max moves only when the new min is above it
        scaling = {"minSize": int(live.get("minSize", 0)), "desiredSize": pool.min_size,
                   "maxSize": max(int(live.get("maxSize", 0)), pool.min_size)}
        out.append(DesiredRaise(pool.name, str(group.get("nodegroupName", "")), desired, pool.min_size, scaling))
    return out


def _apply(cfg: PlatformConfig, aws: Aws, change: DesiredRaise) -> None:
    sc = change.scaling_config
    scaling: NodegroupScalingConfigTypeDef = {"minSize": sc["minSize"], "desiredSize": sc["desiredSize"],
                                              "maxSize": sc["maxSize"]}
    try:
        aws.eks.update_nodegroup_config(clusterName=cfg.cluster_name, nodegroupName=change.nodegroup,
                                        scalingConfig=scaling)
        aws.eks.get_waiter("nodegroup_active").wait(clusterName=cfg.cluster_name, nodegroupName=change.nodegroup,
                                                    WaiterConfig=WAIT)
    except AwsFailure as exc:
        raise PreflightError(
            f"raising the desired size of node group {change.nodegroup} (node_pools {change.pool}.min_size "
            f"{change.desired_to} > its {change.desired_from} node(s)) failed before the aws layer: {describe(exc)}"
            f"\nfix: allow eks:UpdateNodegroupConfig and eks:DescribeNodegroup, or run `aws eks "
            f"update-nodegroup-config --cluster-name {cfg.cluster_name} --nodegroup-name {change.nodegroup} "
            f"--scaling-config minSize={sc['minSize']},maxSize={sc['maxSize']},desiredSize={sc['desiredSize']}` "
            "and wait until the group is ACTIVE, then rerun") from None


def raise_desired_sizes(cfg: PlatformConfig, aws: Aws, on_output: Callable[[str], Any]) -> list[DesiredRaise]:
    """Raise every group's desired size its pool's new min_size needs; [] when the cluster does not exist."""
    try:
        exists = live_cluster(cfg, aws) is not None
        changes = planned_raises(cfg, live_groups(cfg, aws)) if exists else []
    except AwsFailure as exc:
        raise PreflightError(f"reading the node groups of {cfg.cluster_name} failed: {describe(exc)}\nfix: allow "
                             "eks:DescribeCluster, eks:ListNodegroups and eks:DescribeNodegroup, then rerun") from None
    for change in changes:
        on_output(f"raising the desired size of node group {change.nodegroup} from {change.desired_from} to "
                  f"{change.desired_to} (node_pools {change.pool}.min_size; EKS needs desired ≥ min)\n")
        _apply(cfg, aws, change)
    return changes


__all__ = ["DesiredRaise", "planned_raises", "raise_desired_sizes"]
