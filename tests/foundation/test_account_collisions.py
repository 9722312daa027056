"""Two environments in one AWS account never collide on a physical name (issue #9).

Planned over the graphs of the shipped dev environment and a second environment `dev2` in the same
account and region. Account singletons (the GitHub OIDC provider, the Auto Scaling service-linked role)
exist once: the second environment reuses them, as `mlplat preflight` tells it to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import stack_file_for
from mlops_platform.engine import Plan, run_platform
from ruamel.yaml import YAML

#: Resource type -> the input that is its physical name, unique per account (and region where regional).
#: IAM roles/providers/SLRs: account-wide; S3 buckets: global; the rest: per account and region.
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html (names unique per account)
PHYSICAL_NAMES = {
    "aws:iam/role:Role": "name", "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "url",
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": "awsServiceName", "aws:s3/bucket:Bucket": "bucket",
    "aws:eks/cluster:Cluster": "name", "aws:kms/alias:Alias": "name", "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:ecr/repository:Repository": "name", "aws:budgets/budget:Budget": "name", "aws:sns/topic:Topic": "name",
    "aws:codebuild/project:Project": "name", "aws:rds/instance:Instance": "identifier",
    "aws:rds/subnetGroup:SubnetGroup": "name", "aws:rds/parameterGroup:ParameterGroup": "name",
    "aws:iam/policy:Policy": "name", "aws:ec2/launchTemplate:LaunchTemplate": "name",
}
SINGLETONS = {"mlops-platform:ci": {"github_oidc_provider_arn":
                                    "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com"},
              "mlops-platform:account": {"create_autoscaling_service_role": False}}


def physical_names(plan: Plan) -> set[tuple[str, str]]:
    names = set()
    for r in plan.custom_resources():
        key = PHYSICAL_NAMES.get(r.type)
        value = r.get(key) if key else None
        if isinstance(value, str) and value:
            names.add((r.type, value))
    return names


def second_environment(tmp_path: Path, extra: dict[str, Any]) -> Path:
    yaml = YAML()
    doc = yaml.load(stack_file_for("dev").read_text())
    doc["config"]["mlops-platform:environment"]["name"] = "dev2"
    doc["config"].update(extra)
    path = tmp_path / "Pulumi.dev2.yaml"
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    return path


@pytest.mark.slow
def test_two_environments_in_one_account_share_no_physical_name(plans: dict[str, Plan], tmp_path: Path) -> None:
    first = physical_names(plans["dev"])
    assert len(first) > 30  # the check sees the names (roles, buckets, keys, repositories, ...)
    second = physical_names(run_platform(stack_file=second_environment(tmp_path, SINGLETONS)))
    assert first & second == set()


@pytest.mark.slow
def test_without_reusing_the_account_singletons_exactly_they_collide(plans: dict[str, Plan], tmp_path: Path) -> None:
    """What preflight's `github oidc provider` and `autoscaling role` checks catch before a second `up`."""
    second = physical_names(run_platform(stack_file=second_environment(tmp_path, {})))
    assert physical_names(plans["dev"]) & second == {
        ("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "https://token.actions.githubusercontent.com"),
        ("aws:iam/serviceLinkedRole:ServiceLinkedRole", "autoscaling.amazonaws.com")}
