"""Layer 4: property-based config. Generated valid configs validate (and a few plan offline with the
expected shape); the same configs with exactly one rule broken fail with an issue at the broken field."""

from __future__ import annotations

import copy
import ipaddress
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from mlops_platform.aws.network import nat_gateway_count
from mlops_platform.config.rules import LOG_RETENTION_DAYS
from mlops_platform.config.rules_air_gap import PRIVATE_NODE_ENDPOINTS
from mlops_platform.config.sections import NatStrategy
from mlops_platform.core import contract, instances
from mlops_platform.engine import run_platform

from .stackfiles import ACCOUNT, issues_of, sections, write_stack

Config = dict[str, Any]
Group = tuple[instances.Arch, "instances.GpuType | None"]
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
CPU_AMI = {instances.Arch.X86_64: "AL2023_x86_64_STANDARD", instances.Arch.ARM64: "AL2023_ARM_64_STANDARD"}
GPU_AMIS = {arch: [a for a, x in instances.GPU_AMI_ARCH.items() if x is arch] for arch in instances.Arch}


def _groups(gpu: bool) -> dict[Group, list[str]]:
    """Catalog types grouped by (arch, GPU model): a valid pool draws its types from one group."""
    groups: dict[Group, list[str]] = {}
    for name in instances.known_types(gpu):
        t = instances.INSTANCE_TYPES[name]
        groups.setdefault((t.arch, t.gpu_type), []).append(name)
    return groups


CPU_GROUPS, GPU_GROUPS = _groups(gpu=False), _groups(gpu=True)


def _gpus(pool: Config) -> int:
    return int(pool["max_size"]) * max(instances.INSTANCE_TYPES[t].gpus for t in pool["instance_types"])


@st.composite
def sizes(draw: st.DrawFn, min_floor: int, min_ceiling: int) -> dict[str, int]:
    low = draw(st.integers(min_floor, min_ceiling))
    desired = draw(st.integers(low, low + 2))
    return {"min_size": low, "desired_size": desired, "max_size": draw(st.integers(max(desired, 1), desired + 4))}


@st.composite
def system_pools(draw: st.DrawFn, prod: bool) -> Config:
    group = draw(st.sampled_from(sorted(CPU_GROUPS, key=str)))
    types = draw(st.lists(st.sampled_from(CPU_GROUPS[group]), min_size=1, max_size=2, unique=True))
    capacity = "on_demand" if prod else draw(st.sampled_from(["on_demand", "spot"]))
    return {"instance_types": types, "ami_type": CPU_AMI[group[0]], "capacity": capacity,
            **draw(sizes(2 if prod else 1, 3))}


@st.composite
def gpu_pools(draw: st.DrawFn, name: str, dev: bool) -> Config:
    group = draw(st.sampled_from(sorted(GPU_GROUPS, key=str)))
    types = draw(st.lists(st.sampled_from(GPU_GROUPS[group]), min_size=1, max_size=3, unique=True))
    return {"name": name, "instance_types": types, "ami_type": draw(st.sampled_from(GPU_AMIS[group[0]])),
            "capacity": draw(st.sampled_from(["on_demand", "spot"])), "disk_size_gib": draw(st.integers(50, 500)),
            **draw(sizes(0, 0 if dev else 2))}


@st.composite
def networks(draw: st.DrawFn, region: str, prod: bool) -> Config:
    if draw(st.integers(0, 9)) == 0:  # bring-your-own VPC now and then
        subnets = [f"subnet-{i:017x}" for i in range(draw(st.integers(3 if prod else 2, 4)))]
        return {"mode": "existing", "existing": {"vpc_id": "vpc-0123456789abcdef0", "private_subnet_ids": subnets}}
    prefix = draw(st.integers(16, 24))
    cidr = ipaddress.IPv4Network((10 << 24 | draw(st.integers(0, 2**24 - 1)), prefix), strict=False)
    azs = [f"{region}{c}" for c in "abcdef"[: draw(st.integers(3 if prod else 2, 6))]]
    # nat: none needs the registry mirror's credentials and the runner image besides its endpoints
    # (config/rules_air_gap.py, tested in test_air_gap.py); the endpoints are drawn now and then all the same.
    nat = draw(st.sampled_from(["one_per_az"] if prod else ["one_per_az", "single"]))
    endpoints = {"interface_endpoints": list(PRIVATE_NODE_ENDPOINTS)} if draw(st.booleans()) else {}
    return {"cidr": str(cidr), "availability_zones": azs, "nat": nat,
            "flow_log_retention_days": draw(st.sampled_from(LOG_RETENTION_DAYS)), **endpoints}


@st.composite
def projects(draw: st.DrawFn, budget: float, gpu_cap: int) -> list[Config]:
    names = draw(st.lists(st.sampled_from(["fraud", "churn", "recsys", "vision"]), max_size=2, unique=True))
    return [{"name": n, "owners": [f"{n}@example.com"], "github_repo": f"example-org/{n}",
             "gpu_quota": draw(st.integers(0, min(gpu_cap, 4))), "monthly_budget_usd": budget / 4} for n in names]


@st.composite
def clusters(draw: st.DrawFn, prod: bool) -> Config:
    public = not prod and draw(st.booleans())
    opt_in = {"endpoint_access": "public_and_private", "allow_public_endpoint_cidrs": ["203.0.113.0/24"]}
    return {"version": "1.34", "admin_principal_arns": [f"arn:aws:iam::{ACCOUNT}:role/admins"],
            "log_retention_days": draw(st.sampled_from(LOG_RETENTION_DAYS)), **(opt_in if public else {})}


@st.composite
def valid_configs(draw: st.DrawFn) -> Config:
    tier = draw(st.sampled_from(["dev", "staging", "prod"]))
    prod, region = tier == "prod", draw(st.sampled_from(REGIONS))
    names = draw(st.lists(st.sampled_from(["a10g", "l4", "train", "serve"]), max_size=3, unique=True))
    gpu = [draw(gpu_pools(n, dev=tier == "dev")) for n in names]
    cap = sum(_gpus(p) for p in gpu) + draw(st.integers(0, 8))
    monthly = float(draw(st.integers(1_000, 100_000)))
    return {
        "environment": {"name": draw(st.sampled_from([tier, f"ml-{tier}", f"{tier}2"])), "tier": tier,
                        "account_id": ACCOUNT, "region": region, "owners": ["platform@example.com"],
                        "cost_center": "ml-platform"},
        "network": draw(networks(region, prod)),
        "cluster": draw(clusters(prod)),
        "node_pools": {"system": draw(system_pools(prod)), "gpu": gpu},
        "artifacts": {"buckets": draw(st.lists(st.sampled_from(["datasets", "models"]), unique=True))},
        "registry": {"repositories": draw(st.lists(st.sampled_from(["base-images", "model-servers", "jax/train"]),
                                                   unique=True))},
        "budget": {"monthly_usd": monthly},
        "gpu": {"max_total_gpus": cap},
        "projects": draw(projects(monthly, cap)) if gpu else [],
    }


@given(valid_configs())
@settings(max_examples=80, deadline=None)
def test_generated_valid_configs_validate(config: Config) -> None:
    assert issues_of(config, stack=config["environment"]["name"]) == []


@pytest.mark.slow
@given(valid_configs())
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_valid_configs_plan_offline_with_the_expected_shape(config: Config) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        plan = run_platform(stack_file=write_stack(Path(tmp), config))
    pools = config["node_pools"]["gpu"]
    groups = plan.of_type("aws:eks/nodeGroup:NodeGroup")
    assert len(groups) == 1 + len(pools)
    prefixes = sorted(g.get("nodeGroupNamePrefix") for g in groups if g.get("taints"))
    assert prefixes == sorted(f"{p['name']}-" for p in pools)
    net = config["network"]
    if net.get("mode") == "existing":
        assert plan.outputs["private_subnet_ids"] == net["existing"]["private_subnet_ids"]
        assert plan.of_type("aws:ec2/vpc:Vpc") == []
    else:
        azs = len(net["availability_zones"])
        assert len(plan.of_type("aws:ec2/subnet:Subnet")) == 2 * azs
        assert len(plan.of_type("aws:ec2/natGateway:NatGateway")) == nat_gateway_count(NatStrategy(net["nat"]), azs)
    assert set(plan.outputs["buckets"]) == {"access-logs", *config["artifacts"]["buckets"]}
    contract.PlatformOutputs.model_validate(plan.outputs)


# --- one rule broken at a time ----------------------------------------------------------------------------------
# A mutation returns (broken config, dotted path the issue must name), or None when it does not apply.

Broken = tuple[Config, str] | None
Mutation = Callable[[Config], Broken]


def _set(config: Config, dotted: str, value: Any) -> Config:
    out = copy.deepcopy(config)
    *parents, leaf = dotted.split(".")
    node = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[leaf] = value
    return out


def _when(predicate: Callable[[Config], bool], fn: Mutation) -> Mutation:
    return lambda c: fn(c) if predicate(c) else None


def _tier(tier: str) -> Callable[[Config], bool]:
    return lambda c: c["environment"]["tier"] == tier


def _managed(c: Config) -> bool:
    return c["network"].get("mode") != "existing"


def _has_gpu(c: Config) -> bool:
    return bool(c["node_pools"]["gpu"])


def _gpu0(c: Config) -> Config:
    return dict(c["node_pools"]["gpu"][0])


def _other_arch_ami(pool: Config) -> str:
    arch = instances.GPU_AMI_ARCH[pool.get("ami_type", "AL2023_x86_64_NVIDIA")]
    return next(a for a, x in instances.GPU_AMI_ARCH.items() if x is not arch)


def _other_model(pool: Config) -> str | None:
    """A GPU type of the same architecture but another GPU model; None where the catalogue has none (e.g. arm64)."""
    first = instances.INSTANCE_TYPES[pool["instance_types"][0]]
    return next((n for (arch, model), names in GPU_GROUPS.items() for n in names
                 if arch is first.arch and model is not first.gpu_type), None)


def _with_project(c: Config, field: str, **fields: Any) -> tuple[Config, str]:
    project = {"name": "extra", "owners": ["x@example.com"], "github_repo": "o/extra", "monthly_budget_usd": 1,
               **fields}
    existing = c.get("projects", [])
    return {**c, "projects": [*existing, project]}, f"projects[{len(existing)}]{field}"


def _opened(c: Config, cidrs: list[str]) -> Config:
    return _set(_set(c, "cluster.endpoint_access", "public_and_private"), "cluster.allow_public_endpoint_cidrs", cidrs)


def _public(cidrs: list[str]) -> Mutation:
    path = "cluster.allow_public_endpoint_cidrs" + ("[0]" if cidrs else "")
    return lambda c: (_opened(c, cidrs), path)


def _last_az_elsewhere(c: Config) -> Broken:
    azs = c["network"]["availability_zones"]
    return (_set(c, "network.availability_zones", [*azs[:-1], "ap-south-1a"]),
            f"network.availability_zones[{len(azs) - 1}]")


PROD, DEV = _tier("prod"), _tier("dev")
MUTATIONS: dict[str, Mutation] = {
    "prod-2-azs": _when(lambda c: PROD(c) and _managed(c), lambda c: (
        _set(c, "network.availability_zones", c["network"]["availability_zones"][:2]), "network.availability_zones")),
    "prod-spot-system": _when(PROD, lambda c: (_set(c, "node_pools.system.capacity", "spot"),
                                               "node_pools.system.capacity")),
    "prod-public-endpoint": _when(PROD, lambda c: (_opened(c, ["203.0.113.0/24"]), "cluster.endpoint_access")),
    "prod-single-nat": _when(lambda c: PROD(c) and _managed(c), lambda c: (_set(c, "network.nat", "single"),
                                                                           "network.nat")),
    "prod-no-deletion-protection": _when(PROD, lambda c: (_set(c, "cluster.deletion_protection", False),
                                                          "cluster.deletion_protection")),
    "system-desired-above-max": lambda c: (
        _set(c, "node_pools.system.desired_size", c["node_pools"]["system"]["max_size"] + 1),
        "node_pools.system.desired_size"),
    "gpu-desired-above-max": _when(_has_gpu, lambda c: (
        _set(c, "node_pools.gpu.0.desired_size", _gpu0(c)["max_size"] + 1), "node_pools.gpu[0].desired_size")),
    "gpu-ami-arch": _when(_has_gpu, lambda c: (
        _set(c, "node_pools.gpu.0.ami_type", _other_arch_ami(_gpu0(c))), "node_pools.gpu[0].instance_types[0]")),
    "gpu-two-models": _when(lambda c: _has_gpu(c) and _other_model(_gpu0(c)) is not None, lambda c: (
        _set(c, "node_pools.gpu.0.instance_types", [*_gpu0(c)["instance_types"], _other_model(_gpu0(c))]),
        "node_pools.gpu[0].instance_types")),
    "dev-gpu-min": _when(lambda c: DEV(c) and _has_gpu(c), lambda c: (
        _set(_set(c, "node_pools.gpu.0.min_size", 1), "node_pools.gpu.0.desired_size",
             max(1, _gpu0(c)["desired_size"])), "node_pools.gpu[0].min_size")),
    "gpu-cap": _when(_has_gpu, lambda c: (
        _set(c, "gpu.max_total_gpus", sum(_gpus(p) for p in c["node_pools"]["gpu"]) - 1), "node_pools.gpu")),
    "unknown-instance-type": lambda c: (_set(c, "node_pools.system.instance_types", ["m99.mega"]),
                                        "node_pools.system.instance_types[0]"),
    "public-without-cidrs": _public([]),
    "whole-internet": _public(["0.0.0.0/0"]),
    "reserved-label": lambda c: (_set(c, "node_pools.system.labels", {"nvidia.com/x": "y"}),
                                 "node_pools.system.labels.nvidia.com/x"),
    "reserved-tag": lambda c: (_set(c, "environment.tags", {"managed-by": "me"}), "environment.tags.managed-by"),
    "reserved-namespace": lambda c: _with_project(c, ".name", name="monitoring"),
    "project-budgets": lambda c: (_with_project(c, "", monthly_budget_usd=c["budget"]["monthly_usd"] + 1)[0],
                                  "projects"),
    "gpu-quota-without-pool": _when(lambda c: not _has_gpu(c), lambda c: _with_project(c, ".gpu_quota", gpu_quota=1)),
    "bucket-name-length": lambda c: (_set(c, "environment.name_prefix", "x" * 50), "environment.name_prefix"),
    "log-retention": lambda c: (_set(c, "cluster.log_retention_days", 2), "cluster.log_retention_days"),
    "account-id": lambda c: (_set(c, "environment.account_id", "12345"), "environment.account_id"),
    "unknown-key": lambda c: (_set(c, "network.natt", "single"), "network.natt"),
    "wrong-type": lambda c: (_set(c, "budget.monthly_usd", "lots"), "budget.monthly_usd"),
    "eks-version": lambda c: (_set(c, "cluster.version", "1.20"), "cluster.version"),
    "az-of-other-region": _when(_managed, _last_az_elsewhere),
    "region-mismatch": lambda c: ({**c, "__aws_region__": "ap-south-1"}, "aws:region"),
}


@given(valid_configs(), st.sampled_from(sorted(MUTATIONS)))
@settings(max_examples=150, deadline=None)
def test_breaking_one_rule_fails_at_that_field(config: Config, name: str) -> None:
    broken = MUTATIONS[name](config)
    assume(broken is not None)
    assert broken is not None
    mutated, path = broken
    issues = issues_of(mutated, stack=config["environment"]["name"])
    assert path in [i.path for i in issues], f"{name}: {[(i.path, i.message) for i in issues]}"


EXAMPLES = [sections("dev"), sections("prod"), sections("staging", {"node_pools": {"gpu": []}})]


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_every_mutation_applies_to_some_base_config_and_breaks_it_there(name: str) -> None:
    """Guards the fuzz test above: a mutation that never applies would test nothing."""
    results = [r for r in (MUTATIONS[name](cfg) for cfg in EXAMPLES) if r is not None]
    assert results, f"{name} applies to none of the examples"
    for mutated, path in results:
        assert path in [i.path for i in issues_of(mutated)], name


@given(valid_configs())
@settings(max_examples=30, deadline=None)
def test_a_stack_file_named_after_another_environment_fails_at_environment_name(config: Config) -> None:
    assert [i.path for i in issues_of(config, stack="someone-else")] == ["environment.name"]
