"""Layer 1: the network's pure math — subnet plan (property-based), NAT strategy, endpoint settings."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_platform.aws.cluster import endpoint_settings
from mlops_platform.aws.network import nat_gateway_count, subnet_plan
from mlops_platform.config.sections import ClusterConfig, EndpointAccess, NatStrategy


@st.composite
def vpc_cidrs(draw: st.DrawFn) -> str:
    """Any VPC size the rules allow (/16../24) anywhere in the IPv4 space, aligned to its prefix."""
    prefix = draw(st.integers(16, 24))
    address = draw(st.integers(0, 2**32 - 1))
    return str(ipaddress.IPv4Network((address, prefix), strict=False))


AZ_COUNTS = st.integers(1, 6)


def _networks(cidrs: list[str]) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(c) for c in cidrs]


@given(vpc_cidrs(), AZ_COUNTS)
def test_subnets_are_disjoint_and_inside_the_vpc(cidr: str, azs: int) -> None:
    public, private = subnet_plan(cidr, azs)
    vpc = ipaddress.IPv4Network(cidr)
    nets = _networks(public + private)
    assert len(public) == len(private) == azs
    assert all(n.subnet_of(vpc) for n in nets)
    for i, a in enumerate(nets):
        for b in nets[i + 1:]:
            assert not a.overlaps(b), f"{a} overlaps {b} in {cidr}"


@given(vpc_cidrs(), AZ_COUNTS)
def test_private_subnets_get_an_eighth_of_the_vpc_and_public_a_sixty_fourth(cidr: str, azs: int) -> None:
    public, private = subnet_plan(cidr, azs)
    prefix = ipaddress.IPv4Network(cidr).prefixlen
    assert {n.prefixlen for n in _networks(private)} == {prefix + 3}
    assert {n.prefixlen for n in _networks(public)} == {prefix + 6}


@given(vpc_cidrs(), st.integers(1, 5))
def test_adding_an_az_never_renumbers_existing_subnets(cidr: str, azs: int) -> None:
    public, private = subnet_plan(cidr, azs)
    more_public, more_private = subnet_plan(cidr, azs + 1)
    assert more_public[:azs] == public
    assert more_private[:azs] == private


@given(vpc_cidrs(), AZ_COUNTS)
def test_subnet_plan_is_deterministic(cidr: str, azs: int) -> None:
    assert subnet_plan(cidr, azs) == subnet_plan(str(ipaddress.IPv4Network(cidr)), azs)


def test_subnet_plan_of_a_known_vpc() -> None:
    public, private = subnet_plan("10.20.0.0/16", 3)
    assert private == ["10.20.0.0/19", "10.20.32.0/19", "10.20.64.0/19"]
    assert public == ["10.20.224.0/22", "10.20.228.0/22", "10.20.232.0/22"]


@pytest.mark.parametrize("azs", [0, 7])
def test_subnet_plan_refuses_az_counts_outside_1_to_6(azs: int) -> None:
    with pytest.raises(ValueError, match=f"az_count must be 1..6, got {azs}"):
        subnet_plan("10.0.0.0/16", azs)


@pytest.mark.parametrize(("strategy", "azs", "expected"), [
    (NatStrategy.ONE_PER_AZ, 3, 3), (NatStrategy.ONE_PER_AZ, 2, 2), (NatStrategy.SINGLE, 3, 1),
    (NatStrategy.NONE, 3, 0),
])
def test_nat_gateway_count_per_strategy(strategy: NatStrategy, azs: int, expected: int) -> None:
    assert nat_gateway_count(strategy, azs) == expected


def test_endpoint_is_private_by_default() -> None:
    assert endpoint_settings(ClusterConfig(version="1.34")) == (False, [])


def test_public_endpoint_only_with_explicit_opt_in_and_cidrs() -> None:
    opted_in = ClusterConfig(version="1.34", endpoint_access=EndpointAccess.PUBLIC_AND_PRIVATE,
                             allow_public_endpoint_cidrs=["203.0.113.0/24"])
    assert endpoint_settings(opted_in) == (True, ["203.0.113.0/24"])
    # Opt-in without CIDRs (rules reject it; the component stays private even if rules are bypassed).
    no_cidrs = ClusterConfig(version="1.34", endpoint_access=EndpointAccess.PUBLIC_AND_PRIVATE)
    assert endpoint_settings(no_cidrs) == (False, [])
    # CIDRs without the opt-in never open the endpoint.
    cidrs_only = ClusterConfig(version="1.34", allow_public_endpoint_cidrs=["203.0.113.0/24"])
    assert endpoint_settings(cidrs_only) == (False, [])
