"""The deploy path (issue #9): who gets cluster access, the in-VPC runner that reaches a private endpoint,
the account singletons, and `up`/`destroy` walking the layers. Graph facts against the planned aws layer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.aws.deployer import API_PORT, CLUSTER_ADMIN_POLICY, InVpcRunnerArgs, buildspec
from mlops_platform.config import load_env, stack_file_for
from mlops_platform.core.errors import ConfigError, PreflightError
from mlops_platform.core.layers import Layer
from mlops_platform.engine import Plan, Resource, run_platform
from mlops_platform.workflows import automation
from ruamel.yaml import YAML

ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
GITHUB_URL = "https://token.actions.githubusercontent.com"


def one(plan: Plan, type_: str, name_suffix: str) -> Resource:
    [found] = [r for r in plan.of_type(type_) if r.name.endswith(name_suffix)]
    return found


@pytest.fixture(scope="module")
def aws_plan() -> Plan:
    return run_platform(env="dev", layer=Layer.AWS)


def test_every_deployer_role_gets_an_access_entry_and_cluster_admin(aws_plan: Plan) -> None:
    """Authentication mode API with no creator admin: whoever runs `up` needs an access entry explicitly.
    https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html"""
    cfg = load_env("dev")
    for arn in cfg.cluster.deployer_role_arns:
        [entry] = [r for r in aws_plan.of_type(ENTRY) if r.get("principalArn") == arn]
        [assoc] = [r for r in aws_plan.of_type(ASSOCIATION) if r.get("principalArn") == arn]
        assert (assoc.get("policyArn"), assoc.get("accessScope")) == (CLUSTER_ADMIN_POLICY, {"type": "cluster"})
        assert entry.urn in assoc.dependencies


def test_a_principal_in_both_lists_gets_one_access_entry(tmp_path: Path) -> None:
    """EKS allows one access entry per principal (CreateAccessEntry: ResourceInUseException)."""
    yaml = YAML()
    doc = yaml.load(stack_file_for("dev").read_text())
    admins = doc["config"]["mlops-platform:cluster"]["admin_principal_arns"]
    doc["config"]["mlops-platform:cluster"]["deployer_role_arns"] = list(admins)
    path = tmp_path / "Pulumi.dev.yaml"
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    plan = run_platform(stack_file=path, layer=Layer.AWS)
    principals = [r.get("principalArn") for r in plan.of_type(ENTRY)]
    assert len(principals) == len(set(principals))


def test_the_runner_builds_in_the_private_subnets_with_its_own_security_group(aws_plan: Plan) -> None:
    """A CodeBuild project with vpcConfig runs its ENIs in those subnets, behind those security groups.
    https://docs.aws.amazon.com/codebuild/latest/userguide/vpc-support.html"""
    project = one(aws_plan, "aws:codebuild/project:Project", "-runner-project")
    sg = one(aws_plan, "aws:ec2/securityGroup:SecurityGroup", "-runner-sg")
    private = {r.urn for r in aws_plan.of_type("aws:ec2/subnet:Subnet") if "-private-" in r.name}
    assert set(project.property_dependencies["vpcConfig"]) >= private | {sg.urn}
    assert project.get("environment.privilegedMode") is False
    assert project.get("source.type") == "S3"
    assert [e["toPort"] for e in sg.get("egress")] == [443]


def test_the_cluster_security_group_admits_the_runner_on_443(aws_plan: Plan) -> None:
    """The EKS-created cluster security group only admits its members; a private endpoint is reached
    through it. https://docs.aws.amazon.com/eks/latest/userguide/sec-group-reqs.html"""
    rule = one(aws_plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "-runner-api")
    sg = one(aws_plan, "aws:ec2/securityGroup:SecurityGroup", "-runner-sg")
    [cluster] = aws_plan.of_type("aws:eks/cluster:Cluster")
    assert (rule.get("ipProtocol"), rule.get("fromPort"), rule.get("toPort")) == ("tcp", API_PORT, API_PORT)
    assert sg.urn in rule.property_dependencies["referencedSecurityGroupId"]
    assert cluster.urn in rule.property_dependencies["securityGroupId"]


def test_the_runner_role_has_cluster_access_and_may_only_assume_the_deployer_roles(aws_plan: Plan) -> None:
    cfg = load_env("dev")
    role = one(aws_plan, "aws:iam/role:Role", "-runner-role")
    trust = json.loads(role.get("assumeRolePolicy"))["Statement"][0]
    assert trust["Principal"] == {"Service": ["codebuild.amazonaws.com"]}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": cfg.environment.account_id}}
    assoc = one(aws_plan, ASSOCIATION, "-runner-access")
    assert role.urn in assoc.property_dependencies["principalArn"] and assoc.get("policyArn") == CLUSTER_ADMIN_POLICY
    policy = json.loads(one(aws_plan, "aws:iam/rolePolicy:RolePolicy", "-runner-policy").get("policy"))
    assume = [s for s in policy["Statement"] if "sts:AssumeRole" in s["Action"]]
    assert [s["Resource"] for s in assume] == [list(cfg.cluster.deployer_role_arns)]


def test_the_runner_applies_only_the_in_cluster_layers() -> None:
    spec = buildspec("dev")
    assert "mlplat up dev --layer cluster" in spec and "mlplat up dev --layer tenants" in spec
    assert "--layer aws" not in spec  # it may not change its own network


def test_the_github_provider_is_created_once_or_reused(aws_plan: Plan, tmp_path: Path) -> None:
    """IAM: one OIDC provider per URL per account. With ci.github_oidc_provider_arn none is created and
    every CI trust names the given one."""
    assert [r.get("url") for r in aws_plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
            if r.get("url") == GITHUB_URL] == [GITHUB_URL]
    arn = "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com"
    plan = run_platform(stack_file=_variant(tmp_path, {"mlops-platform:ci": {"github_oidc_provider_arn": arn}}))
    assert not [r for r in plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
                if r.get("url") == GITHUB_URL]
    ci_roles = [r for r in plan.of_type("aws:iam/role:Role") if r.name.endswith(("-ci-role", "-ci-preview-role"))]
    assert len(ci_roles) == 4
    assert {json.dumps(json.loads(r.get("assumeRolePolicy"))["Statement"][0]["Principal"]) for r in ci_roles} == {
        json.dumps({"Federated": arn})}


def test_the_ebs_key_waits_for_the_autoscaling_service_linked_role(aws_plan: Plan) -> None:
    """KMS rejects a key policy naming a principal that does not exist (MalformedPolicyDocumentException);
    a fresh account has no AWSServiceRoleForAutoScaling until its first Auto Scaling group.
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html"""
    [slr] = aws_plan.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert slr.get("awsServiceName") == "autoscaling.amazonaws.com" and slr.retain_on_delete
    ebs = one(aws_plan, "aws:kms/key:Key", "-keys-ebs")
    assert "AWSServiceRoleForAutoScaling" in ebs.get("policy")
    assert slr.urn in ebs.dependencies


def test_an_existing_autoscaling_role_is_not_created_again(tmp_path: Path) -> None:
    over = {"mlops-platform:account": {"create_autoscaling_service_role": False}}
    plan = run_platform(stack_file=_variant(tmp_path, over), layer=Layer.AWS)
    assert plan.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole") == []
    assert "AWSServiceRoleForAutoScaling" in one(plan, "aws:kms/key:Key", "-keys-ebs").get("policy")


SLR = "aws:iam/serviceLinkedRole:ServiceLinkedRole"


def test_karpenter_spot_pools_get_the_ec2_spot_service_linked_role(karpenter_plan: Plan, aws_plan: Plan) -> None:
    """Karpenter launches spot with CreateFleet, which needs AWSServiceRoleForEC2Spot; its controller may not
    create it, so a fresh account fails the first spot NodeClaim (AuthFailure.ServiceLinkedRoleCreationNotPermitted).
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/service-linked-roles-spot-instance-requests.html
    dev's spot GPU pools are managed node groups: their Auto Scaling group creates it (AutoScalingServiceRolePolicy
    allows iam:CreateServiceLinkedRole for spot.amazonaws.com), so none is created there."""
    [spot] = [r for r in karpenter_plan.of_type(SLR) if r.get("awsServiceName") == "spot.amazonaws.com"]
    assert spot.retain_on_delete and spot.name.endswith("-account-spot-role")
    assert [r.get("awsServiceName") for r in aws_plan.of_type(SLR)] == ["autoscaling.amazonaws.com"]


def test_an_existing_spot_role_is_not_created_again(tmp_path: Path, karpenter_stack: Path) -> None:
    doc = YAML(typ="safe", pure=True).load(karpenter_stack.read_text())
    over = {"mlops-platform:gpu": doc["config"]["mlops-platform:gpu"],
            "mlops-platform:account": {"create_spot_service_role": False}}
    plan = run_platform(stack_file=_variant(tmp_path, over, env="staging"), layer=Layer.AWS)
    assert [r.get("awsServiceName") for r in plan.of_type(SLR)] == ["autoscaling.amazonaws.com"]
    assert plan.of_type("mlops:aws:KarpenterAccess")  # still the Karpenter variant


def _variant(tmp_path: Path, over: dict[str, Any], env: str = "dev") -> Path:
    yaml = YAML()
    doc = yaml.load(stack_file_for(env).read_text())
    doc["config"].update(over)
    path = tmp_path / f"Pulumi.{env}.yaml"
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    return path


# --- up / destroy walk the layers ------------------------------------------------------------------------

class Walk:
    """Records which layer stacks an operation touches (the Pulumi CLI is not here)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
        self.ran: list[str] = []
        self.refreshed: dict[str, bool] = {}
        monkeypatch.setattr(automation, "require_tools", lambda aws, op: "pulumi")
        monkeypatch.setattr(automation, "_gate", lambda cfg, aws, op: "review skipped")
        monkeypatch.setattr(automation, "_endpoint", lambda cfg: endpoint)
        monkeypatch.setattr(automation, "_stack", lambda cfg, layer, create: layer)
        monkeypatch.setattr(automation, "_execute", self._execute)
        # no AWS here: the desired-size raise before the aws layer is tested on moto (test_desired_sizes_moto.py)
        monkeypatch.setattr(automation, "raise_desired_sizes", lambda cfg, aws, out: self.ran.append("raise") or [])
        monkeypatch.setattr(automation, "await_controller_load_balancers", lambda cfg, aws, out: None)

    def _execute(self, stack: Any, operation: Any, out: Any, force: bool, *, refresh: bool = False) -> str:
        self.ran.append(stack.value)
        self.refreshed[stack.value] = refresh
        return "{}"


def test_up_stops_after_the_aws_layer_when_the_api_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    walk = Walk(monkeypatch, "https://ABC.gr7.us-east-1.eks.amazonaws.com")
    with pytest.raises(PreflightError, match="stopping before the cluster layer") as err:
        automation.run_operation("dev", automation.Operation.UP, aws=object(),  # type: ignore[arg-type]
                                 on_output=lambda _: None, probe=lambda h, p, t: "TimeoutError: timed out")
    assert walk.ran == ["raise", "aws"]  # never half-applies the cluster layer
    assert "aws codebuild start-build --project-name mlops-dev-deployer" in str(err.value)
    assert "the aws layer(s) of dev are done" in str(err.value)


def test_only_the_aws_layer_refreshes_before_its_update(monkeypatch: pytest.MonkeyPatch) -> None:
    """Node groups ignore `desired_size`, and Pulumi then sends the desired size recorded at the last apply
    (docs: resource option ignoreChanges); only a refresh makes it the live one, so a min/max change neither
    fails below the new minimum nor shrinks a group the autoscaler grew."""
    walk = Walk(monkeypatch, "https://ABC.gr7.us-east-1.eks.amazonaws.com")
    automation.run_operation("dev", automation.Operation.UP, aws=object(),  # type: ignore[arg-type]
                             on_output=lambda _: None, probe=lambda h, p, t: None)
    assert walk.refreshed == {"aws": True, "cluster": False, "tenants": False}
    assert automation.refreshes_first(Layer.AWS, automation.Operation.PREVIEW)
    assert not automation.refreshes_first(Layer.AWS, automation.Operation.DESTROY)


def test_up_walks_every_layer_in_order_when_the_api_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    walk = Walk(monkeypatch, "https://ABC.gr7.us-east-1.eks.amazonaws.com")
    result = automation.run_operation("dev", automation.Operation.UP, aws=object(),  # type: ignore[arg-type]
                                      on_output=lambda _: None, probe=lambda h, p, t: None)
    assert walk.ran == ["raise", "aws", "cluster", "tenants"]
    assert result.summary.startswith("aws: ")


def test_destroy_walks_the_layers_in_reverse(monkeypatch: pytest.MonkeyPatch) -> None:
    walk = Walk(monkeypatch, "https://ABC.gr7.us-east-1.eks.amazonaws.com")
    automation.run_operation("dev", automation.Operation.DESTROY, aws=object(),  # type: ignore[arg-type]
                             on_output=lambda _: None, probe=lambda h, p, t: None)
    assert walk.ran == ["tenants", "cluster", "aws"]


def test_an_in_cluster_layer_before_the_aws_layer_names_the_first_step(monkeypatch: pytest.MonkeyPatch) -> None:
    walk = Walk(monkeypatch, "")
    with pytest.raises(PreflightError, match=r"(?s)not applied yet.*mlplat up dev --layer aws"):
        automation.run_operation("dev", automation.Operation.PREVIEW, layer=Layer.CLUSTER,
                                 aws=object(), on_output=lambda _: None)  # type: ignore[arg-type]
    assert walk.ran == []


@pytest.mark.parametrize("half", [{"image": "1.dkr.ecr.us-east-1.amazonaws.com/mlops-dev/deploy-runner:1"},
                                  {"image_repository_arn": "arn:aws:ecr:us-east-1:1:repository/deploy-runner"}])
def test_the_runner_image_and_its_repository_go_together(half: dict[str, str]) -> None:
    """An image without its repository's ARN would grant ECR reads on no resource (fails only at apply)."""
    required = {"env_name": "dev", "runner_name": "r", "account_id": "1", "region": "us-east-1", "vpc_id": "v",
                "private_subnet_ids": [], "cluster_name": "c", "cluster_arn": "a", "cluster_security_group_id": "s",
                "state_bucket": "b", "state_key_alias": "k", "logs_key_arn": "l", "deployer_role_arns": [],
                "log_retention_days": 7, "tags": {}}
    with pytest.raises(ConfigError, match="image_repository_arn: goes with image") as err:
        InVpcRunnerArgs(**required, **half)
    assert "set both image and image_repository_arn" in str(err.value)
    InVpcRunnerArgs(**required)  # neither: CodeBuild's standard image
