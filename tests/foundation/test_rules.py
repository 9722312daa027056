"""Layer 1: the schema's cross-field and per-tier rules, as pure validation (no file, no engine)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from mlops_platform.config import PlatformConfig, load_env, shipped_envs
from mlops_platform.config import rules as R
from mlops_platform.config.rules_air_gap import PRIVATE_NODE_ENDPOINTS
from mlops_platform.config.sections import NatStrategy

from .stackfiles import issue_at, issues_of, sections


def gpu_pool(**fields: Any) -> dict[str, Any]:
    pool = {"name": "l4", "instance_types": ["g6.xlarge"], "min_size": 0, "desired_size": 0, "max_size": 2}
    return {**pool, **fields}


def pools(*gpu: dict[str, Any], **system: Any) -> dict[str, Any]:
    base = {"instance_types": ["m6i.xlarge"], "min_size": 2, "desired_size": 2, "max_size": 4}
    return {"node_pools": {"system": {**base, **system}, "gpu": list(gpu)}}


ALL_AZS = [f"us-east-1{c}" for c in "abcdefg"]
PUBLIC = {"endpoint_access": "public_and_private", "allow_public_endpoint_cidrs": ["203.0.113.0/24"]}

# (tier, override, dotted path of the issue, regex its message must match)
VIOLATIONS = [
    # prod-only rules
    pytest.param("prod", {"network": {"availability_zones": ALL_AZS[:2]}}, "network.availability_zones",
                 r"prod needs 3\.\.6 AZs", id="prod-needs-3-azs"),
    pytest.param("prod", pools(capacity="spot", min_size=3, desired_size=3), "node_pools.system.capacity",
                 "prod system pool must be on-demand", id="prod-system-on-demand"),
    pytest.param("prod", pools(min_size=1, desired_size=1), "node_pools.system.min_size",
                 r"prod system pool needs >= 2 nodes", id="prod-system-two-nodes"),
    pytest.param("prod", {"cluster": PUBLIC}, "cluster.endpoint_access", "prod API endpoint must be private",
                 id="prod-private-endpoint"),
    pytest.param("prod", {"cluster": {"deletion_protection": False}}, "cluster.deletion_protection",
                 "prod needs deletion protection", id="prod-deletion-protection"),
    pytest.param("prod", {"network": {"nat": "single"}}, "network.nat", "single NAT gateway", id="prod-no-single-nat"),
    pytest.param("prod", {"artifacts": {"allow_force_destroy": True}}, "artifacts.allow_force_destroy",
                 "retained", id="prod-no-force-destroy"),
    pytest.param("prod", {"monitoring": {"enabled": False}}, "monitoring.enabled", "must run monitoring",
                 id="prod-monitoring-on"),
    pytest.param("prod", {"network": {"mode": "existing", "availability_zones": [], "existing": {
        "vpc_id": "vpc-0123456789abcdef0",
        "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]}}},
        "network.existing.private_subnet_ids", r">= 3 AZs", id="prod-existing-3-subnets"),
    # pool sizes and instances
    pytest.param("dev", pools(gpu_pool(desired_size=5, max_size=4)), "node_pools.gpu[0].desired_size",
                 "min_size <= desired_size <= max_size", id="gpu-desired-above-max"),
    pytest.param("dev", pools(min_size=3, desired_size=2), "node_pools.system.desired_size",
                 "min_size <= desired_size <= max_size", id="system-min-above-desired"),
    pytest.param("dev", pools(gpu_pool(ami_type="AL2023_ARM_64_NVIDIA")), "node_pools.gpu[0].instance_types[0]",
                 "x86_64 instance does not match AMI type AL2023_ARM_64_NVIDIA", id="gpu-x86-on-arm-ami"),
    pytest.param("dev", pools(gpu_pool(instance_types=["g5g.xlarge"])), "node_pools.gpu[0].instance_types[0]",
                 "arm64 instance does not match AMI type AL2023_x86_64_NVIDIA", id="gpu-arm-on-x86-ami"),
    pytest.param("dev", pools(gpu_pool(ami_type="AL2023_x86_64_STANDARD")), "node_pools.gpu[0].ami_type",
                 "unsupported AMI type", id="gpu-pool-cpu-ami"),
    pytest.param("dev", pools(instance_types=["m7g.xlarge"]), "node_pools.system.instance_types[0]",
                 "arm64 instance does not match AMI type AL2023_x86_64_STANDARD", id="system-arm-on-x86-ami"),
    pytest.param("dev", pools(gpu_pool(instance_types=["g6.xlarge", "m6i.xlarge"])),
                 "node_pools.gpu[0].instance_types[1]", "not a known GPU instance type", id="cpu-type-in-gpu-pool"),
    pytest.param("dev", pools(instance_types=["g5.xlarge"]), "node_pools.system.instance_types[0]",
                 "not a known CPU instance type", id="gpu-type-in-system-pool"),
    pytest.param("dev", pools(gpu_pool(instance_types=["g99.huge"])), "node_pools.gpu[0].instance_types[0]",
                 "not a known GPU instance type", id="unknown-instance-type"),
    pytest.param("dev", pools(gpu_pool(instance_types=["g5.xlarge", "g6.xlarge"])), "node_pools.gpu[0].instance_types",
                 "one GPU model", id="one-gpu-model-per-pool"),
    pytest.param("dev", pools(gpu_pool(min_size=1, desired_size=1)), "node_pools.gpu[0].min_size",
                 "dev GPU pools must scale to zero", id="dev-gpu-min-zero"),
    pytest.param("dev", {**pools(gpu_pool(instance_types=["g6.12xlarge"], max_size=2)), "gpu": {"max_total_gpus": 6}},
                 "node_pools.gpu", "scale to 8 GPUs, above gpu.max_total_gpus", id="gpu-cap"),
    pytest.param("dev", pools(gpu_pool(name="system")), "node_pools", "pool names must be unique",
                 id="unique-pool-names"),
    # API endpoint
    pytest.param("dev", {"cluster": {"endpoint_access": "public_and_private"}}, "cluster.allow_public_endpoint_cidrs",
                 "public endpoint needs explicit CIDRs", id="public-endpoint-needs-cidrs"),
    pytest.param("dev", {"cluster": {**PUBLIC, "allow_public_endpoint_cidrs": ["0.0.0.0/0"]}},
                 "cluster.allow_public_endpoint_cidrs[0]", "whole internet", id="public-endpoint-not-whole-internet"),
    pytest.param("dev", {"cluster": {"allow_public_endpoint_cidrs": ["203.0.113.0/24"]}},
                 "cluster.allow_public_endpoint_cidrs", "only used with endpoint_access", id="cidrs-without-opt-in"),
    # reserved names
    pytest.param("dev", pools(gpu_pool(labels={"mlops.io/team": "x"})), "node_pools.gpu[0].labels.mlops.io/team",
                 "reserved for the platform", id="reserved-label-gpu"),
    pytest.param("dev", pools(labels={"kubernetes.io/role": "x"}), "node_pools.system.labels.kubernetes.io/role",
                 "reserved for the platform", id="reserved-label-system"),
    pytest.param("dev", {"environment": {"tags": {"owner": "someone"}}}, "environment.tags.owner",
                 "set by the platform", id="reserved-tag"),
    pytest.param("dev", {"projects": [{"name": "kube-system", "owners": ["a@example.com"], "github_repo": "o/r"}]},
                 "projects[0].name", "reserved platform namespace", id="reserved-namespace"),
    pytest.param("dev", {"projects": [{"name": "argo", "owners": ["a@example.com"], "github_repo": "o/r"}]},
                 "projects[0].name", "reserved platform namespace", id="reserved-namespace-pipelines"),
    # branches land in the CI role's `StringLike` subject: a wildcard or a `:` widens the trust (security review)
    pytest.param("dev", {"projects": [{"name": "p", "owners": ["a@example.com"], "github_repo": "o/r",
                                       "branches": ["main", "*"]}]},
                 "projects[0].branches[1]", "not a plain branch name", id="branch-wildcard"),
    pytest.param("dev", {"projects": [{"name": "p", "owners": ["a@example.com"], "github_repo": "o/r",
                                       "branches": ["main:environment:prod"]}]},
                 "projects[0].branches[0]", "not a plain branch name", id="branch-colon"),
    pytest.param("dev", {"projects": [{"name": "p", "owners": ["a@example.com"], "github_repo": "o/r",
                                       "branches": ["release/../main"]}]},
                 "projects[0].branches[0]", "not a plain branch name", id="branch-dotdot"),
    # budgets and quotas
    pytest.param("dev", {"projects": [{"name": "p", "owners": ["a@example.com"], "github_repo": "o/r",
                                       "monthly_budget_usd": 6000}]},
                 "projects", "more than the environment budget", id="project-budgets-within-env"),
    pytest.param("dev", {**pools(), "projects": [{"name": "p", "owners": ["a@example.com"], "github_repo": "o/r",
                                                  "gpu_quota": 1}]},
                 "projects[0].gpu_quota", "no GPU pool exists", id="gpu-quota-needs-gpu-pool"),
    pytest.param("dev", {"projects": [{"name": "p", "owners": ["a@example.com"], "github_repo": "o/r",
                                       "gpu_quota": 17}]},
                 "projects[0].gpu_quota", "exceeds the environment GPU cap", id="gpu-quota-within-cap"),
    pytest.param("dev", {"budget": {"alert_thresholds_pct": [80, 50]}}, "budget.alert_thresholds_pct",
                 "ascending, unique", id="budget-thresholds-ascending"),
    # storage, registry, logs
    pytest.param("dev", {"environment": {"name_prefix": "a" * 40}}, "environment.name_prefix",
                 "exceed 63 characters", id="bucket-name-length"),
    pytest.param("dev", {"artifacts": {"buckets": ["models", "models"]}}, "artifacts.buckets", "roles repeat",
                 id="bucket-roles-unique"),
    pytest.param("dev", {"registry": {"repositories": ["a", "a"]}}, "registry.repositories", "names repeat",
                 id="repositories-unique"),
    pytest.param("dev", {"cluster": {"log_retention_days": 42}}, "cluster.log_retention_days",
                 "not a CloudWatch retention value", id="cluster-log-retention"),
    pytest.param("dev", {"network": {"flow_log_retention_days": 10}}, "network.flow_log_retention_days",
                 "not a CloudWatch retention value", id="flow-log-retention"),
    # cluster and network basics
    pytest.param("dev", {"cluster": {"version": "1.20"}}, "cluster.version", "not supported", id="eks-version"),
    pytest.param("dev", {"cluster": {"admin_principal_arns": []}}, "cluster.admin_principal_arns",
                 "no cluster administrator", id="needs-an-admin"),
    pytest.param("dev", {"network": {"availability_zones": ["us-east-1a", "eu-west-1b"]}},
                 "network.availability_zones[1]", "not an AZ of region us-east-1", id="az-of-region"),
    pytest.param("dev", {"network": {"availability_zones": ["us-east-1a", "us-east-1a"]}},
                 "network.availability_zones", "AZs repeat", id="azs-unique"),
    pytest.param("dev", {"network": {"availability_zones": ALL_AZS}}, "network.availability_zones",
                 r"dev needs 2\.\.6 AZs", id="at-most-6-azs"),
    pytest.param("dev", {"network": {"cidr": "10.20.0.0/26"}}, "network.cidr", "between /16 and /24", id="vpc-size"),
    pytest.param("dev", {"network": {"existing": {"vpc_id": "vpc-0123456789abcdef0", "private_subnet_ids": [
        "subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]}}}, "network.existing", "only allowed with mode",
        id="existing-needs-mode"),
    pytest.param("dev", {"network": {"mode": "existing"}}, "network.existing", "needs the VPC and subnet ids",
                 id="mode-existing-needs-ids"),
]


@pytest.mark.parametrize(("tier", "over", "path", "message"), VIOLATIONS)
def test_each_rule_reports_its_field_message_and_fix(tier: str, over: dict[str, Any], path: str, message: str) -> None:
    issue = issue_at(issues_of(sections(tier, over)), path)
    assert re.search(message, issue.message), issue.message
    assert issue.fix, f"{path}: no fix given"


@pytest.mark.parametrize("tier", ["dev", "staging", "prod"])
def test_base_config_of_every_tier_is_valid(tier: str) -> None:
    assert issues_of(sections(tier)) == []


@pytest.mark.parametrize("env", shipped_envs())
def test_shipped_stacks_pass_every_rule(env: str) -> None:
    cfg = load_env(env)
    assert cfg.environment.name == env
    assert R.check_rules(cfg) == []


@pytest.mark.parametrize("over", [
    pytest.param(pools(gpu_pool(min_size=1, desired_size=1)), id="gpu-min-1"),
    pytest.param({"network": {"nat": "single", "availability_zones": ALL_AZS[:2]}}, id="single-nat-2-azs"),
    pytest.param({"cluster": PUBLIC}, id="public-endpoint-with-cidrs"),
    pytest.param(pools(capacity="spot", min_size=1, desired_size=1), id="spot-system-pool-of-one"),
])
def test_staging_may_do_what_only_prod_forbids(over: dict[str, Any]) -> None:
    assert issues_of(sections("staging", over)) == []


def test_rule_values_show_what_was_wrong() -> None:
    issues = issues_of(sections("dev", {**pools(gpu_pool(desired_size=5, max_size=4), capacity="spot"),
                                        "environment": {"tags": {"cost-center": "x"}}}))
    assert issue_at(issues, "node_pools.gpu[0].desired_size").value == "0 <= 5 <= 4"
    assert issue_at(issues, "environment.tags.cost-center").value == "cost-center"


def test_prod_rules_name_the_tier_minimum_and_example_azs() -> None:
    issue = issue_at(issues_of(sections("prod", {"network": {"availability_zones": ALL_AZS[:1]}})),
                     "network.availability_zones")
    assert issue.value == ["us-east-1a"]
    assert "us-east-1a, us-east-1b, us-east-1c" in issue.fix


def test_gpu_cap_counts_max_size_times_gpus_per_node() -> None:
    cfg = load_env("prod")
    # l4-serving 8 × 1 GPU, a10g-train 4 × g5.12xlarge (4 GPUs), a100-train 2 × p4d.24xlarge (8 GPUs)
    assert R.total_max_gpus(cfg) == 8 * 1 + 4 * 4 + 2 * 8
    assert R.total_max_gpus(cfg) <= cfg.gpu.max_total_gpus


def test_rules_are_pure_functions_of_a_config() -> None:
    """A rule can be called on any config object; copying with a bad value bypasses model validation."""
    cfg = load_env("prod")
    assert list(R.network_rules(cfg)) == []
    single = cfg.model_copy(update={"network": cfg.network.model_copy(update={"nat": NatStrategy.SINGLE})})
    assert [i.path for i in R.network_rules(single)] == ["network.nat"]
    assert R.check_rules(single) == list(R.network_rules(single))


def test_one_config_with_many_rule_breaks_reports_them_all() -> None:
    over = {"network": {"availability_zones": ALL_AZS[:2], "nat": "single"},
            "cluster": {**PUBLIC, "deletion_protection": False, "log_retention_days": 42},
            **pools(capacity="spot", min_size=1, desired_size=1)}
    paths = {i.path for i in issues_of(sections("prod", over))}
    assert paths >= {"network.availability_zones", "network.nat", "cluster.endpoint_access",
                     "cluster.deletion_protection", "cluster.log_retention_days", "node_pools.system.capacity",
                     "node_pools.system.min_size"}


def test_platform_config_raises_for_rule_breaks_so_no_invalid_config_object_exists() -> None:
    with pytest.raises(ValueError, match=r"network\.nat: prod may not depend on a single NAT gateway"):
        PlatformConfig.model_validate(sections("prod", {"network": {"nat": "single"}}))


def test_nat_none_needs_every_endpoint_private_nodes_use() -> None:
    """Nodes without internet egress pull images, join, assume roles and log only through VPC endpoints.
    https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html"""
    issue = issue_at(issues_of(sections("dev", {"network": {"nat": "none"}})), "network.interface_endpoints")
    # + what the platform's pods call (MLflow: secretsmanager, Alertmanager: sns; config/rules_air_gap.py)
    missing = "ec2, eks, eks-auth, elasticloadbalancing, autoscaling, secretsmanager, sns"
    assert issue.message.endswith(f"need VPC endpoints for {missing}")
    assert f"add {missing} to network.interface_endpoints" in issue.fix
    complete = {"network": {"nat": "none",
                            "interface_endpoints": [*PRIVATE_NODE_ENDPOINTS, "secretsmanager", "sns"]}}
    assert [i for i in issues_of(sections("dev", complete)) if i.path == "network.interface_endpoints"] == []
    assert set(PRIVATE_NODE_ENDPOINTS) >= {"ecr.api", "ecr.dkr", "sts", "ec2", "eks", "eks-auth", "logs",
                                             "elasticloadbalancing", "autoscaling"}


def test_a_former_project_name_is_not_a_current_one() -> None:
    projects = [{"name": "a", "owners": ["a@example.com"], "github_repo": "o/a", "previous_names": ["b"]},
                {"name": "b", "owners": ["b@example.com"], "github_repo": "o/b"}]
    issue = issue_at(issues_of(sections("dev", {"projects": projects})), "projects[0].previous_names[0]")
    assert issue.message == "a former name must not be a current project name" and issue.fix


def _borrowing(quota: int, pct: int) -> dict[str, Any]:
    project = {"name": "fraud", "owners": ["ml@example.com"], "github_repo": "example-org/fraud", "gpu_quota": quota}
    return {"queueing": {"enabled": True, "cohort_borrowing": True, "borrowing_limit_pct": pct},
            "projects": [project]}


def test_borrowing_headroom_over_the_gpu_cap_is_refused_before_the_policy_sees_it() -> None:
    """The namespace ResourceQuota carries the quota plus what the project may borrow (k8s/project_queue.py
    `quota_ceiling`), and policy `gpu-quota-within-cap` blocks one over `gpu.max_total_gpus`: validation
    refuses the same config up front, naming the rendered count and both knobs."""
    issue = issue_at(issues_of(sections("staging", _borrowing(11, 50))), "projects[0].gpu_quota")
    assert "ResourceQuota allows 17 physical GPUs, above gpu.max_total_gpus" in issue.message
    assert issue.value == 11 and "borrowing_limit_pct" in issue.fix and "(16)" in issue.fix


@pytest.mark.parametrize(("quota", "pct"), [(8, 100), (10, 50)])
def test_borrowing_headroom_within_the_cap_is_valid(quota: int, pct: int) -> None:
    assert issues_of(sections("staging", _borrowing(quota, pct))) == []


def test_a_quota_over_the_cap_is_reported_once_with_or_without_borrowing() -> None:
    issues = issues_of(sections("staging", _borrowing(17, 50)))
    assert [i.message for i in issues if i.path == "projects[0].gpu_quota"] == ["quota exceeds the environment GPU cap"]
