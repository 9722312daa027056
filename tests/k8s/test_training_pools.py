"""Multi-node training pools: one AZ, a cluster placement group, EFA and capacity reservations, validated
against the instance catalog and the network, and planned as AWS requires them (sources in
aws/training_placement.py: EC2 User Guide EFA pages, EKS launch-template and Capacity Blocks pages)."""

from __future__ import annotations

from typing import Any

import pytest
from mlops_platform.aws.nodepools import pool_spec
from mlops_platform.aws.training_placement import efa_interface_count, efa_interfaces, reservation_options
from mlops_platform.config import load_env
from mlops_platform.config.rules import check_rules
from mlops_platform.config.section_types import GpuProvisioner
from mlops_platform.config.sections import GpuPoolConfig
from mlops_platform.core import instances

CR = "cr-0123456789abcdef0"


def pool(**kw: Any) -> GpuPoolConfig:
    return GpuPoolConfig.model_validate({"name": "train", "instance_types": ["p4d.24xlarge"], "max_size": 1, **kw})


def issues_of(env: str = "dev", **pool_kw: Any) -> list[Any]:
    cfg = load_env(env)
    pools = cfg.node_pools.model_copy(update={"gpu": [pool(**pool_kw)]})
    return [i for i in check_rules(cfg.model_copy(update={"node_pools": pools}))
            if i.path.startswith("node_pools.gpu[0]")]


# ---------------------------------------------------------------- catalog facts
def test_efa_facts_of_the_catalog() -> None:
    """DescribeInstanceTypes NetworkInfo.EfaInfo.MaximumEfaInterfaces: p4d 4, p5 32 (one per network card);
    the small g sizes none."""
    assert instances.lookup("p4d.24xlarge").efa_interfaces == 4  # type: ignore[union-attr]
    assert instances.lookup("p5.48xlarge").efa_interfaces == 32  # type: ignore[union-attr]
    assert instances.lookup("g5.xlarge").efa_interfaces == 0  # type: ignore[union-attr]
    assert all(t.gpus for t in instances.INSTANCE_TYPES.values() if t.efa_interfaces)


# ---------------------------------------------------------------- config rules
def test_efa_is_refused_on_types_without_it() -> None:
    (issue,) = issues_of(instance_types=["g5.xlarge"], multi_node={"availability_zone": "us-east-1a", "efa": True})
    assert issue.path == "node_pools.gpu[0].multi_node.efa" and "g5.xlarge" in issue.message
    assert "p5.48xlarge" in issue.fix


def test_a_multi_node_pool_lives_in_one_of_the_networks_azs() -> None:
    (issue,) = issues_of(multi_node={"placement_group": True})
    assert issue.path == "node_pools.gpu[0].multi_node.availability_zone" and "us-east-1a" in issue.fix
    (issue,) = issues_of(multi_node={"availability_zone": "us-west-2a"})
    assert issue.value == "us-west-2a"
    (issue,) = issues_of(multi_node={"availability_zone": "us-east-1a", "subnet_id": "subnet-0123456789abcdef0"})
    assert issue.path.endswith("subnet_id") and "network.mode: existing" in issue.message
    assert issues_of(multi_node={"availability_zone": "us-east-1a", "placement_group": True, "efa": True}) == []


def test_a_reservation_is_one_on_demand_type() -> None:
    found = {i.message for i in issues_of(instance_types=["p4d.24xlarge", "p5.48xlarge"], capacity="spot",
                                          multi_node={"availability_zone": "us-east-1a",
                                                      "capacity_reservation": {"id": CR}})}
    assert "a capacity reservation is for one instance type" in found and "reserved capacity is not spot" in found


def test_a_capacity_block_pool_starts_at_zero() -> None:
    block = {"availability_zone": "us-east-1a", "capacity_reservation": {"id": CR, "kind": "capacity_block"}}
    (issue,) = issues_of("prod", min_size=1, desired_size=1, multi_node=block)
    assert "start at 0 nodes" in issue.message and issue.fix == "set min_size: 0 and desired_size: 0"


def test_reservation_ids_are_checked_by_shape() -> None:
    with pytest.raises(ValueError, match="cr-"):
        pool(multi_node={"availability_zone": "us-east-1a", "capacity_reservation": {"id": "odcr-1"}})


# ---------------------------------------------------------------- launch-template pieces
def test_efa_interfaces_one_per_network_card_primary_carries_the_cluster_group() -> None:
    nics = efa_interfaces(efa_interface_count(["p4d.24xlarge"]), ["sg-cluster", "sg-efa"], "sg-efa")
    assert [(n.network_card_index, n.device_index, n.interface_type) for n in nics] == [
        (0, 0, "efa"), (1, 1, "efa"), (2, 1, "efa"), (3, 1, "efa")]
    assert nics[0].security_groups == ["sg-cluster", "sg-efa"]
    assert all(n.security_groups == ["sg-efa"] and n.associate_public_ip_address == "false" for n in nics[1:])
    assert efa_interface_count(["p4d.24xlarge", "p5.48xlarge"]) == 4  # one launch template fits both


def test_capacity_block_targets_the_block_with_its_market_type() -> None:
    p = pool(multi_node={"availability_zone": "us-east-1a", "capacity_reservation": {"id": CR,
                                                                                    "kind": "capacity_block"}})
    opts = reservation_options(p.multi_node, p.instance_types)
    target = opts["capacity_reservation_specification"].capacity_reservation_target
    assert target.capacity_reservation_id == CR
    assert opts["instance_market_options"].market_type == "capacity-block"
    assert opts["instance_type"] == "p4d.24xlarge"
    assert pool_spec(p).capacity_type == "CAPACITY_BLOCK"
    odcr = pool(multi_node={"availability_zone": "us-east-1a", "capacity_reservation": {"id": CR}})
    assert set(reservation_options(odcr.multi_node, odcr.instance_types)) == {"capacity_reservation_specification"}
    assert pool_spec(odcr).capacity_type == "ON_DEMAND"


# ---------------------------------------------------------------- the planned prod pool
def test_prod_training_pool_is_placed_with_efa(plans: Any) -> None:
    """prod's a10g-train (g5.12xlarge, 1 EFA): a cluster placement group, the EFA security group open to
    itself only, every interface EFA, and the node group in us-east-1a's subnet only."""
    plan = plans["prod"]
    lts = {r.name: r for r in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    lt = lts["prod-nodes-a10g-train-lt"]
    (nic,) = lt.get("networkInterfaces")
    assert nic["interfaceType"] == "efa" and nic["deviceIndex"] == 0 and nic["networkCardIndex"] == 0
    assert len(nic["securityGroups"]) == 2  # the cluster group (EKS adds none itself) and the EFA group
    assert not lt.get("vpcSecurityGroupIds")  # not allowed beside network interfaces
    (pg,) = plan.of_type("aws:ec2/placementGroup:PlacementGroup")
    assert pg.get("strategy") == "cluster"
    assert lt.get("placement")["groupName"]
    rules = [*plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"),
             *plan.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")]
    efa_rules = [r for r in rules if "-efa-" in r.name]
    assert len(efa_rules) == 2 and all(r.get("ipProtocol") == "-1" and not r.get("cidrIpv4") for r in efa_rules)
    group = next(r for r in plan.of_type("aws:eks/nodeGroup:NodeGroup") if r.name == "prod-nodes-a10g-train")
    assert len(group.get("subnetIds")) == 1
    # the other pools keep every private subnet and their launch templates no interfaces
    assert all(not lt.get("networkInterfaces") for name, lt in lts.items() if "a10g-train" not in name)


def test_multi_node_placement_is_for_managed_node_groups_only() -> None:
    cfg = load_env("dev")
    gpu = cfg.gpu.model_copy(update={"provisioner": GpuProvisioner.KARPENTER})
    pools = cfg.node_pools.model_copy(update={"gpu": [pool(multi_node={"availability_zone": "us-east-1a",
                                                                       "placement_group": True})]})
    issues = [i for i in check_rules(cfg.model_copy(update={"gpu": gpu, "node_pools": pools}))
              if i.path == "node_pools.gpu[0].multi_node"]
    assert len(issues) == 1 and "managed_node_groups" in issues[0].fix
