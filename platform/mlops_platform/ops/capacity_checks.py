"""Preflight of multi-node training pools (`node_pools.gpu[].multi_node`): the capacity reservation each names,
and EFA on the instance types.

A reservation is checked with EC2 DescribeCapacityReservations
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeCapacityReservations.html): it must exist
in this account and region, be of the configured kind (`ReservationType` default = On-Demand Capacity
Reservation, capacity-block = Capacity Block for ML), be usable (`State` active; a Capacity Block before its
window is `scheduled`: nodes launch only from its start), reserve the pool's one instance type in the pool's AZ,
and hold the pool's `max_size` instances (a launch targeting a full reservation fails). EFA needs
`NetworkInfo.EfaSupported` of DescribeInstanceTypes
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa.html#efa-instance-types); the config rules check the
catalog, this asks the region.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from mlops_platform.config.sections import GpuPoolConfig
from mlops_platform.config.sections_gpu import ReservationKind
from mlops_platform.ops._aws import Aws, AwsFailure, error_code
from mlops_platform.ops.checks import CheckResult, Status

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from mlops_platform.config import PlatformConfig

#: DescribeCapacityReservations `ReservationType` of each configured kind.
RESERVATION_TYPES = {ReservationKind.ON_DEMAND: "default", ReservationKind.CAPACITY_BLOCK: "capacity-block"}
#: Error codes of a reservation id EC2 does not know in this account and region.
NOT_FOUND = ("InvalidCapacityReservationId.NotFound", "InvalidCapacityReservationId.Malformed")


def reserved_pools(cfg: PlatformConfig) -> list[tuple[str, GpuPoolConfig]]:
    """(config path, pool) of every GPU pool with a capacity reservation."""
    return [(f"node_pools.gpu[{i}].multi_node.capacity_reservation", p) for i, p in enumerate(cfg.node_pools.gpu)
            if p.multi_node is not None and p.multi_node.capacity_reservation is not None]


def reservation_problems(pool: GpuPoolConfig, zone: str | None, found: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Pure: (problem, fix) of a reservation EC2 described, against the pool that launches into it."""
    assert pool.multi_node is not None and pool.multi_node.capacity_reservation is not None
    kind, rid = pool.multi_node.capacity_reservation.kind, pool.multi_node.capacity_reservation.id
    out = []
    actual = found.get("ReservationType", "default")
    if actual != RESERVATION_TYPES[kind]:
        other = next((k for k, v in RESERVATION_TYPES.items() if v == actual), None)
        out.append((f"{rid} is a {actual} reservation, configured as {kind.value}",
                    f"set kind: {other.value}" if other else "name an On-Demand Capacity Reservation or a "
                    "Capacity Block"))
    if found.get("InstanceType") not in pool.instance_types:
        out.append((f"{rid} reserves {found.get('InstanceType')}, the pool launches {', '.join(pool.instance_types)}",
                    f"set instance_types: [{found.get('InstanceType')}], or name a reservation of the pool's type"))
    if zone is not None and found.get("AvailabilityZone") != zone:
        out.append((f"{rid} is in {found.get('AvailabilityZone')}, the pool runs in {zone}",
                    f"run the pool in {found.get('AvailabilityZone')} (availability_zone / subnet_id)"))
    total = int(found.get("TotalInstanceCount", 0))
    if total < pool.max_size:
        out.append((f"{rid} holds {total} instances, the pool scales to {pool.max_size}: launches beyond the "
                    "reservation fail", f"set max_size: {total}, or enlarge the reservation"))
    return out


def _state_result(name: str, rid: str, found: Mapping[str, Any]) -> CheckResult | None:
    state = found.get("State")
    if state == "active":
        return None
    if state == "scheduled":
        return CheckResult(name, Status.WARN, f"{rid} is scheduled: no node launches before {found.get('StartDate')}",
                           "deploy now and scale the pool within the block's window, or deploy after it starts")
    return CheckResult(name, Status.FAIL, f"{rid} is {state}: nothing can launch into it",
                       "name an active reservation (aws ec2 describe-capacity-reservations), or remove "
                       "capacity_reservation")


def _pool_zone(cfg: PlatformConfig, aws: Aws, pool: GpuPoolConfig) -> str | None:
    """The AZ the pool runs in: configured (managed network) or its subnet's (existing network)."""
    assert pool.multi_node is not None
    if pool.multi_node.subnet_id is None:
        return pool.multi_node.availability_zone
    subnets = aws.ec2.describe_subnets(SubnetIds=[pool.multi_node.subnet_id])["Subnets"]
    return subnets[0].get("AvailabilityZone") if subnets else None


#: Reads one capacity reservation by id (None when EC2 knows none).
Describe = Callable[[str], Mapping[str, Any] | None]


def describe_reservation(ec2: EC2Client, rid: str) -> Mapping[str, Any] | None:
    """DescribeCapacityReservations of one id; None when EC2 does not know it in this account and region."""
    try:
        found = ec2.describe_capacity_reservations(CapacityReservationIds=[rid])["CapacityReservations"]
    except AwsFailure as exc:
        if error_code(exc) not in NOT_FOUND:
            raise
        return None
    return found[0] if found else None


def check_capacity_reservations(cfg: PlatformConfig, aws: Aws, describe: Describe | None = None,
                                ) -> Iterator[CheckResult]:
    """One result per reserved pool: exists, usable, right type, AZ and size. `describe` reads a reservation
    (default: `describe_reservation` on `aws.ec2`); tests pass one over a client answered by botocore's
    Stubber, moto implementing no capacity reservations."""
    read = describe or functools.partial(describe_reservation, aws.ec2)
    region = cfg.environment.region
    for path, pool in reserved_pools(cfg):
        assert pool.multi_node is not None and pool.multi_node.capacity_reservation is not None
        rid, name = pool.multi_node.capacity_reservation.id, f"reservation {pool.name}"
        found = read(rid)
        if found is None:
            yield CheckResult(name, Status.FAIL, f"{path}: {rid} does not exist in account "
                              f"{cfg.environment.account_id}, {region}",
                              "name a reservation of this account and region (aws ec2 describe-capacity-reservations)")
            continue
        problems = reservation_problems(pool, _pool_zone(cfg, aws, pool), found)
        state = _state_result(name, rid, found)
        for problem, fix in problems:
            yield CheckResult(name, Status.FAIL, f"{path}: {problem}", fix)
        if state is not None:
            yield state
        elif not problems:
            yield CheckResult(name, Status.PASS, f"{rid}: active, {found.get('TotalInstanceCount')} x "
                              f"{found.get('InstanceType')} in {found.get('AvailabilityZone')}")


def check_efa_support(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    """Every instance type of an EFA pool supports EFA in this region."""
    for i, pool in enumerate(cfg.node_pools.gpu):
        if pool.multi_node is None or not pool.multi_node.efa:
            continue
        # the pool's names are catalog types, not the client's literal type; EC2 refuses an unknown one
        described = aws.ec2.describe_instance_types(
            InstanceTypes=cast(Any, list(pool.instance_types)))["InstanceTypes"]
        supported = {str(d.get("InstanceType")): bool(d.get("NetworkInfo", {}).get("EfaSupported"))
                     for d in described}
        lacking = [n for n in pool.instance_types if not supported.get(n)]
        path = f"node_pools.gpu[{i}].multi_node.efa"
        if lacking:
            yield CheckResult(f"efa {pool.name}", Status.FAIL,
                              f"{path}: {', '.join(lacking)} support no EFA in {cfg.environment.region}",
                              "use EFA-capable instance types (p4d, p5, ...) or set efa: false")
        else:
            yield CheckResult(f"efa {pool.name}", Status.PASS, f"{', '.join(pool.instance_types)} support EFA")
