"""Preflight of multi-node training pools (ops/capacity_checks.py): capacity reservations and EFA.

EFA support and subnets come from the real moto server (its instance-type data is AWS's DescribeInstanceTypes
output, `NetworkInfo.EfaSupported` included). Capacity reservations come from botocore's Stubber on an EC2
client the check reads them through (its `describe`, over capacity_checks.describe_reservation): moto 5.2
implements no DescribeCapacityReservations (the first test shows the server refusing it), so the answers are shaped like
the API reference's (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CapacityReservation.html).
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.parsers import ResponseParserError
from botocore.stub import Stubber
from mlops_platform.ops._aws import Aws
from mlops_platform.ops.capacity_checks import (
    check_capacity_reservations,
    check_efa_support,
    describe_reservation,
    reservation_problems,
)
from mlops_platform.ops.checks import Status
from mlops_platform.ops.preflight import CHECKS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto")]
RID = "cr-0123456789abcdef0"


def train_pool(**reservation: Any) -> dict[str, Any]:
    return {"name": "h100", "instance_types": ["p5.48xlarge"], "capacity": "on_demand", "min_size": 0,
            "desired_size": 0, "max_size": 2,
            "multi_node": {"availability_zone": "us-east-1a", "efa": True, "placement_group": True,
                           "capacity_reservation": {"id": RID, **reservation}}}


def reservation(**over: Any) -> dict[str, Any]:
    return {"CapacityReservationId": RID, "InstanceType": "p5.48xlarge", "AvailabilityZone": "us-east-1a",
            "TotalInstanceCount": 2, "AvailableInstanceCount": 2, "State": "active", "ReservationType": "default",
            **over}


def stubbed(region: str, answer: dict[str, Any] | None) -> tuple[Any, Stubber]:
    """An EC2 client whose DescribeCapacityReservations botocore's Stubber answers (checking the request and the
    answer against the API model)."""
    ec2 = boto3.client("ec2", region_name=region)
    stub = Stubber(ec2)
    if answer is None:
        stub.add_client_error("describe_capacity_reservations", "InvalidCapacityReservationId.NotFound",
                              expected_params={"CapacityReservationIds": [RID]})
    else:
        stub.add_response("describe_capacity_reservations", {"CapacityReservations": [answer]},
                          {"CapacityReservationIds": [RID]})
    stub.activate()
    return ec2, stub


def run(cfg: Any, answer: dict[str, Any] | None) -> list[Any]:
    """The check with reservations read through the stubbed client; subnets still come from the moto server."""
    ec2, stub = stubbed(cfg.environment.region, answer)
    describe = functools.partial(describe_reservation, ec2)
    results = list(check_capacity_reservations(cfg, Aws(cfg.environment.region), describe))
    stub.assert_no_pending_responses()
    return results


def test_moto_implements_no_capacity_reservations(moto: str) -> None:
    """Why the Stubber: the moto server cannot answer the call (an HTTP 500 from its unimplemented handler);
    switch to the server once it implements the API."""
    ec2 = boto3.client("ec2", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ResponseParserError, match="500 Internal Server Error"):
        ec2.describe_capacity_reservations(CapacityReservationIds=[RID])


def test_an_active_reservation_of_the_pools_type_zone_and_size_passes(moto: str, make_cfg: Any) -> None:
    [result] = run(make_cfg({"node_pools": {"gpu": [train_pool()]}}), reservation())
    assert result.status is Status.PASS and "2 x p5.48xlarge in us-east-1a" in result.detail


def test_a_reservation_that_does_not_exist_fails(moto: str, make_cfg: Any) -> None:
    [result] = run(make_cfg({"node_pools": {"gpu": [train_pool()]}}), None)
    assert result.status is Status.FAIL
    assert result.detail.startswith(f"node_pools.gpu[0].multi_node.capacity_reservation: {RID} does not exist")


@pytest.mark.parametrize(("over", "problem", "fix"), [
    ({"InstanceType": "p4d.24xlarge"}, "reserves p4d.24xlarge, the pool launches p5.48xlarge",
     "set instance_types: [p4d.24xlarge]"),
    ({"AvailabilityZone": "us-east-1b"}, "is in us-east-1b, the pool runs in us-east-1a", "run the pool in us-east-1b"),
    ({"TotalInstanceCount": 1}, "holds 1 instances, the pool scales to 2", "set max_size: 1"),
    ({"ReservationType": "capacity-block"}, "is a capacity-block reservation, configured as on_demand",
     "set kind: capacity_block"),
])
def test_a_reservation_that_does_not_fit_the_pool_fails(moto: str, make_cfg: Any, over: dict[str, Any],
                                                        problem: str, fix: str) -> None:
    [result] = run(make_cfg({"node_pools": {"gpu": [train_pool()]}}), reservation(**over))
    assert result.status is Status.FAIL and f"{RID} {problem}" in result.detail and result.fix.startswith(fix)


def test_reservation_states(moto: str, make_cfg: Any) -> None:
    cfg = make_cfg({"node_pools": {"gpu": [train_pool()]}})
    [cancelled] = run(cfg, reservation(State="cancelled"))
    assert cancelled.status is Status.FAIL and "is cancelled: nothing can launch into it" in cancelled.detail
    block = make_cfg({"node_pools": {"gpu": [train_pool(kind="capacity_block")]}})
    [scheduled] = run(block, reservation(State="scheduled", ReservationType="capacity-block",
                                         StartDate="2026-12-01T11:30:00Z"))
    assert scheduled.status is Status.WARN and "no node launches before 2026-12-01" in scheduled.detail


def test_on_an_existing_network_the_zone_is_the_subnets(moto: str, make_cfg: Any) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]
               ["SubnetId"] for i, z in enumerate("ab")]
    pool = train_pool()
    pool["multi_node"] = {**pool["multi_node"], "availability_zone": None, "subnet_id": subnets[1]}
    cfg = make_cfg({"network": {"mode": "existing", "availability_zones": [],
                                "existing": {"vpc_id": vpc, "private_subnet_ids": subnets}},
                    "node_pools": {"gpu": [pool]}})
    [result] = run(cfg, reservation())  # the reservation is in us-east-1a, the subnet in us-east-1b
    assert result.status is Status.FAIL and "is in us-east-1a, the pool runs in us-east-1b" in result.detail


def test_efa_support_comes_from_describe_instance_types(moto: str, make_cfg: Any) -> None:
    cfg = make_cfg({"node_pools": {"gpu": [train_pool()]}})
    [ok] = check_efa_support(cfg, Aws("us-east-1"))
    assert ok.status is Status.PASS
    # a type the region reports without EFA (the config rules refuse it from the catalog; preflight asks EC2)
    pool = cfg.node_pools.gpu[0].model_copy(update={"instance_types": ["g6.xlarge"]})
    bad = cfg.model_copy(update={"node_pools": cfg.node_pools.model_copy(update={"gpu": [pool]})})
    [failed] = check_efa_support(bad, Aws("us-east-1"))
    assert failed.status is Status.FAIL and "g6.xlarge support no EFA in us-east-1" in failed.detail


def test_preflight_names_the_permissions_of_both_checks() -> None:
    permissions = {name: actions for name, _, actions in CHECKS}
    assert permissions["capacity reservations"] == ("ec2:DescribeCapacityReservations", "ec2:DescribeSubnets")
    assert permissions["efa"] == ("ec2:DescribeInstanceTypes",)


def test_reservation_problems_are_pure(make_cfg: Any) -> None:
    pool = make_cfg({"node_pools": {"gpu": [train_pool()]}}).node_pools.gpu[0]
    assert reservation_problems(pool, "us-east-1a", reservation()) == []
    assert len(reservation_problems(pool, "us-east-1b", reservation(TotalInstanceCount=0))) == 2
