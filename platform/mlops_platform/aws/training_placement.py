"""Launch-template pieces of a multi-node training pool: one AZ, a cluster placement group, EFA interfaces
with the EFA security group, and a capacity reservation (On-Demand or Capacity Block for ML).

Sources (encoded as tests in tests/k8s/test_training_pools.py):
- EFA interfaces and their security group: EC2 User Guide "Get started with EFA" (step "Prepare an
  EFA-enabled security group": all inbound and all outbound traffic from and to the group itself) and
  "Maximize network bandwidth ... with multiple network cards" (primary interface on network card 0,
  device 0; one more EFA per further network card at device index 1).
- A launch template that defines network interfaces sets security groups on each interface, never
  `SecurityGroupIds`; EKS then adds no cluster security group itself, so the primary interface carries it
  (EKS User Guide "Customize managed nodes with launch templates", security groups).
- Capacity Blocks with managed node groups: launch template `InstanceMarketOptions.MarketType=capacity-block`,
  `CapacityReservationSpecification.CapacityReservationTarget`, `InstanceType`; node group capacity type
  `CAPACITY_BLOCK` (EKS User Guide "Create a managed node group with Capacity Blocks for ML").
- A placement group and a reservation live in one AZ, so the node group gets that AZ's subnet only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts, with_name
from mlops_platform.config.sections_gpu import MultiNodeConfig, ReservationKind
from mlops_platform.core import instances


def pool_subnets(subnet_ids: pulumi.Input[list[str]], availability_zones: tuple[str, ...],
                 multi_node: MultiNodeConfig | None) -> pulumi.Input[list[str]]:
    """All private subnets, or the one of a multi-node pool's AZ (managed network: subnets follow the AZ
    order) or its subnet (existing network). Config rules guarantee the AZ or subnet is the network's."""
    if multi_node is None:
        return subnet_ids
    if multi_node.subnet_id is not None:
        return [multi_node.subnet_id]
    index = availability_zones.index(multi_node.availability_zone or "")
    return pulumi.Output.from_input(subnet_ids).apply(lambda ids: [ids[index]])


def efa_interface_count(instance_types: list[str]) -> int:
    """EFAs every node can take: the fewest of the pool's types (one launch template serves them all)."""
    counts = [t.efa_interfaces for n in instance_types if (t := instances.lookup(n)) is not None]
    return min(counts, default=0)


def efa_interfaces(count: int, primary_groups: list[Any],
                   efa_group: Any) -> list[aws.ec2.LaunchTemplateNetworkInterfaceArgs]:
    """The primary EFA (card 0, device 0: node IP, cluster and EFA groups) and one EFA per further card."""
    def interface(card: int) -> aws.ec2.LaunchTemplateNetworkInterfaceArgs:
        return aws.ec2.LaunchTemplateNetworkInterfaceArgs(
            network_card_index=card, device_index=0 if card == 0 else 1, interface_type="efa",
            security_groups=primary_groups if card == 0 else [efa_group],
            associate_public_ip_address="false", delete_on_termination="true")
    return [interface(card) for card in range(count)]


def reservation_options(multi_node: MultiNodeConfig | None, instance_types: list[str]) -> dict[str, Any]:
    """Launch-template arguments that target the pool's capacity reservation (none without one)."""
    res = multi_node.capacity_reservation if multi_node else None
    if res is None:
        return {}
    target = aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
        capacity_reservation_target=aws.ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs(
            capacity_reservation_id=res.id))
    out: dict[str, Any] = {"capacity_reservation_specification": target}
    if res.kind is ReservationKind.CAPACITY_BLOCK:
        out["instance_market_options"] = aws.ec2.LaunchTemplateInstanceMarketOptionsArgs(market_type="capacity-block")
        out["instance_type"] = instance_types[0]  # a block is one type; the node group then names none
    return out


@dataclass(frozen=True, kw_only=True)
class PlacementContext:
    """What the placement pieces of every multi-node pool share."""

    cluster_name: str
    """Names the placement group and the EFA security group."""
    vpc_id: pulumi.Input[str]
    """VPC of the EFA security group."""
    cluster_security_group_id: pulumi.Input[str]
    """The EKS cluster security group: the primary interface carries it (EKS adds none with interfaces)."""
    tags: dict[str, str]
    """Tags of the created resources."""


class TrainingPlacement:
    """Creates one pool's placement group and EFA security group as children of the node pools component
    and returns the launch-template arguments that use them (plain helper, not a component)."""

    def __init__(self, parent: pulumi.Resource, name: str, ctx: PlacementContext) -> None:
        self._parent, self._name, self._ctx = parent, name, ctx

    def launch_template_args(self, pool: str, multi_node: MultiNodeConfig | None,
                             instance_types: list[str]) -> dict[str, Any]:
        if multi_node is None:
            return {}
        out = reservation_options(multi_node, instance_types)
        if multi_node.placement_group:
            group = aws.ec2.PlacementGroup(
                f"{self._name}-{pool}-placement", name=f"{self._ctx.cluster_name}-{pool}", strategy="cluster",
                tags=self._ctx.tags, opts=child_opts(self._parent))
            out["placement"] = aws.ec2.LaunchTemplatePlacementArgs(group_name=group.name)
        if multi_node.efa:
            efa = self._efa_group(pool)
            out["network_interfaces"] = efa_interfaces(efa_interface_count(instance_types),
                                                       [self._ctx.cluster_security_group_id, efa.id], efa.id)
        return out

    def _efa_group(self, pool: str) -> aws.ec2.SecurityGroup:
        """EFA traffic is OS-bypass: it needs all traffic to and from the group itself, both ways."""
        group = aws.ec2.SecurityGroup(
            f"{self._name}-{pool}-efa-sg", vpc_id=self._ctx.vpc_id, description="EFA: all traffic within the group",
            tags=with_name(self._ctx.tags, f"{self._ctx.cluster_name}-{pool}-efa"), opts=child_opts(self._parent))
        aws.vpc.SecurityGroupIngressRule(
            f"{self._name}-{pool}-efa-in", security_group_id=group.id, referenced_security_group_id=group.id,
            ip_protocol="-1", description="EFA from the group", tags=self._ctx.tags, opts=child_opts(self._parent))
        aws.vpc.SecurityGroupEgressRule(
            f"{self._name}-{pool}-efa-out", security_group_id=group.id, referenced_security_group_id=group.id,
            ip_protocol="-1", description="EFA to the group", tags=self._ctx.tags, opts=child_opts(self._parent))
        return group
