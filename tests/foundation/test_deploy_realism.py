"""Deploy-realism facts of the aws layer and of teardown (review of issue #9's work): what a real `up`, a
day-2 change or a destroy needs that the mock runtime cannot see. Each test cites its AWS source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.aws.deployer import DESTROY_FLAGS_VAR, OPERATION_VAR, VPC_BUILD_ACTIONS, buildspec
from mlops_platform.config import load_env, stack_file_for
from mlops_platform.core import naming
from mlops_platform.core.layers import Layer
from mlops_platform.engine import Plan, Resource, run_platform
from ruamel.yaml import YAML

PROJECT = "aws:codebuild/project:Project"


def one(plan: Plan, type_: str, name_suffix: str) -> Resource:
    [found] = [r for r in plan.of_type(type_) if r.name.endswith(name_suffix)]
    return found


def statements(plan: Plan) -> list[dict[str, Any]]:
    return list(json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "-runner-policy").get("policy"))["Statement"])


def granting(stmts: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in stmts if action in s["Action"]]


def variant(tmp_path: Path, over: dict[str, dict[str, Any]], env: str = "dev") -> Path:
    yaml = YAML()
    doc = yaml.load(stack_file_for(env).read_text())
    for section, values in over.items():
        doc["config"].setdefault(section, {}).update(values)
    path = tmp_path / f"Pulumi.{env}.yaml"
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    return path


@pytest.fixture(scope="module")
def aws_plan() -> Plan:
    return run_platform(env="dev", layer=Layer.AWS)


# --- A1: a build in a VPC ---------------------------------------------------------------------------------

def test_the_runner_role_may_create_and_clean_up_its_build_network_interface(aws_plan: Plan) -> None:
    """CodeBuild User Guide, "Allow CodeBuild access to AWS services required to create a VPC network
    interface": CreateNetworkInterface, DescribeDhcpOptions, DescribeNetworkInterfaces, DeleteNetworkInterface,
    DescribeSubnets, DescribeSecurityGroups, DescribeVpcs on *, plus CreateNetworkInterfacePermission
    conditioned on ec2:AuthorizedService (aws-cdk#2651/#2652: builds fail without them)."""
    cfg = load_env("dev")
    ec2 = f"arn:aws:ec2:{cfg.environment.region}:{cfg.environment.account_id}"
    stmts = statements(aws_plan)
    for action in ("ec2:DescribeDhcpOptions", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                   "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"):
        assert [s["Resource"] for s in granting(stmts, action)] == [["*"]], action
    # Create/Delete take resource-level permissions (Service Authorization Reference, Amazon EC2).
    assert [s["Resource"] for s in granting(stmts, "ec2:CreateNetworkInterface")] == [[
        f"{ec2}:network-interface/*", f"{ec2}:subnet/*", f"{ec2}:security-group/*"]]
    assert [s["Resource"] for s in granting(stmts, "ec2:DeleteNetworkInterface")] == [[f"{ec2}:network-interface/*"]]
    [perm] = granting(stmts, "ec2:CreateNetworkInterfacePermission")
    assert perm["Condition"] == {"StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"}}
    assert set(VPC_BUILD_ACTIONS) == {a for s in stmts for a in s["Action"] if a.startswith("ec2:")} - {
        "ec2:CreateNetworkInterfacePermission"}


def test_the_project_waits_for_the_role_permissions_not_only_the_role(aws_plan: Plan) -> None:
    """CreateProject validates the service role; a project created before the role's inline policy races it."""
    policy = one(aws_plan, "aws:iam/rolePolicy:RolePolicy", "-runner-policy")
    assert policy.urn in one(aws_plan, PROJECT, "-runner-project").dependencies


# --- A2: the source zip in the SSE-KMS state bucket ------------------------------------------------------

def test_the_runner_can_read_its_source_from_the_kms_encrypted_state_bucket(aws_plan: Plan) -> None:
    """The state bucket is SSE-KMS under the bootstrap key (ops/bootstrap.py): S3 GetObject of an SSE-KMS
    object needs kms:Decrypt on its key (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html);
    a versioned S3 source is read with GetObjectVersion (CodeBuild User Guide, "Create a CodeBuild service
    role"). The key is named by alias: kms:ResourceAliases
    (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html)."""
    cfg = load_env("dev")
    stmts = statements(aws_plan)
    [kms] = granting(stmts, "kms:Decrypt")
    assert set(kms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert kms["Resource"] == [f"arn:aws:kms:{cfg.environment.region}:{cfg.environment.account_id}:key/*"]
    assert kms["Condition"] == {"ForAnyValue:StringEquals": {
        "kms:ResourceAliases": naming.state_key_alias(cfg.environment)}}
    bucket = f"arn:aws:s3:::{naming.bucket_name(cfg.environment, 'pulumi-state')}"
    assert granting(stmts, "s3:GetObjectVersion")[0]["Resource"] == [f"{bucket}/*"]
    [write] = granting(stmts, "s3:PutObject")
    assert write["Resource"] == [f"{bucket}/deployer/dev/*"] and "s3:DeleteObject" in write["Action"]
    source = one(aws_plan, PROJECT, "-runner-project").get("source.location")
    assert source.startswith(bucket.removeprefix("arn:aws:s3:::") + "/deployer/dev/")


def test_bootstrap_and_the_runner_name_the_same_state_key() -> None:
    from mlops_platform.ops.backend import state_backend

    cfg = load_env("dev")
    assert state_backend(cfg).kms_alias == naming.state_key_alias(cfg.environment)


# --- A3: GITHUB_TOKEN in the runner ----------------------------------------------------------------------

def test_the_runner_exports_github_token_from_secrets_manager_when_github_is_managed(aws_plan: Plan) -> None:
    """pulumi-github reads GITHUB_TOKEN; a CodeBuild SECRETS_MANAGER variable is resolved with the service role,
    and secret ARNs end in six random characters (CodeBuild buildspec reference, env/secrets-manager;
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples.html)."""
    cfg = load_env("dev")
    assert cfg.github.manage and cfg.github.token_secret
    env_vars = {v["name"]: v for v in one(aws_plan, PROJECT, "-runner-project").get("environment.environmentVariables")}
    assert env_vars["GITHUB_TOKEN"]["type"] == "SECRETS_MANAGER"
    assert env_vars["GITHUB_TOKEN"]["value"] == cfg.github.token_secret
    [read] = granting(statements(aws_plan), "secretsmanager:GetSecretValue")
    env = cfg.environment
    assert read["Resource"] == [f"arn:aws:secretsmanager:{env.region}:{env.account_id}:secret:"
                                f"{cfg.github.token_secret}-??????"]


def test_managed_github_without_a_token_secret_is_a_config_error(tmp_path: Path) -> None:
    from mlops_platform.config import load_stack_file
    from mlops_platform.core.errors import ConfigError

    yaml = YAML()
    doc = yaml.load(stack_file_for("dev").read_text())
    del doc["config"]["mlops-platform:github"]["token_secret"]
    path = tmp_path / "Pulumi.dev.yaml"
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    with pytest.raises(ConfigError, match=r"github\.token_secret: github\.manage needs a GitHub token") as err:
        load_stack_file(path)
    assert "Secrets Manager" in str(err.value) and "github.manage: false" in str(err.value)


# --- A9: the account's GitHub OIDC provider --------------------------------------------------------------

def test_the_github_oidc_provider_outlives_the_environment_that_created_it(aws_plan: Plan) -> None:
    """Other environments reuse it (ci.github_oidc_provider_arn); IAM allows one provider per URL per account
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc.html)."""
    [provider] = [r for r in aws_plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
                  if r.get("url") == "https://token.actions.githubusercontent.com"]
    assert provider.retain_on_delete


# --- A8: ECR repositories and destroy --------------------------------------------------------------------

def test_prod_repositories_are_protected_and_retained(plans: Any) -> None:
    """DeleteRepository fails with RepositoryNotEmptyException unless forced
    (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DeleteRepository.html): prod keeps its
    repositories (and images) through a forced destroy."""
    repos = plans["prod"].of_type("aws:ecr/repository:Repository")
    assert repos and all(r.protect and r.retain_on_delete and r.get("forceDelete") is False for r in repos)


def test_force_delete_of_repositories_follows_allow_force_destroy(tmp_path: Path) -> None:
    plan = run_platform(stack_file=variant(tmp_path, {"mlops-platform:artifacts": {"allow_force_destroy": True}}))
    repos = plan.of_type("aws:ecr/repository:Repository")
    assert len(repos) >= 4 and all(r.get("forceDelete") is True and not r.retain_on_delete for r in repos)
    assert any("-tenants-" in r.name for r in repos)  # project repositories too


# --- A7: what a retained resource keeps using is retained too ---------------------------------------------

def _stack_of(urn: str) -> str:
    return urn.split("::")[1]


def test_the_retained_set_is_closed_under_dependencies(plans: Any) -> None:
    """A retained RDS instance keeps using its subnet group, security group and parameter group: deleting them
    fails (InvalidDBSubnetGroupStateFault, DependencyViolation —
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html,
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBSubnetGroup.html). So every cloud
    resource a retained resource depends on in the same stack is retained as well."""
    plan = plans["prod"]
    by_urn = {r.urn: r for r in plan.resources}
    retained = [r for r in plan.resources if r.retain_on_delete]
    assert any(r.type == "aws:rds/instance:Instance" for r in retained)
    for res in retained:
        for dep in res.dependencies:
            target = by_urn.get(dep)
            if target is None or target.type.startswith("pulumi:") or not target.custom:
                continue
            if _stack_of(dep) == _stack_of(res.urn):
                assert target.retain_on_delete, f"{res.name} is retained but depends on {target.name}"
    db = {r.type for r in retained if "-tracking-db" in r.name}
    assert db >= {"aws:rds/instance:Instance", "aws:rds/subnetGroup:SubnetGroup",
                  "aws:ec2/securityGroup:SecurityGroup", "aws:rds/parameterGroup:ParameterGroup"}


# --- A4: nat: none ---------------------------------------------------------------------------------------

def test_nat_none_without_the_mirror_and_the_runner_image_is_one_report_of_what_is_missing(tmp_path: Path) -> None:
    """Nodes without egress pull only from ECR (https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html):
    the charts' images need the registry mirror (its pull-through credentials), and the runner, which cannot
    download the Pulumi CLI or PyPI, its own image (docs/air-gapped.md). Every missing piece in one error."""
    from mlops_platform.config import load_stack_file
    from mlops_platform.config.rules_air_gap import PRIVATE_NODE_ENDPOINTS
    from mlops_platform.core.errors import ConfigError

    path = variant(tmp_path, {"mlops-platform:network": {"nat": "none",
                                                         "interface_endpoints": list(PRIVATE_NODE_ENDPOINTS)}})
    with pytest.raises(ConfigError) as err:
        load_stack_file(path)
    text = str(err.value)
    for field in ("registry.mirror.docker_hub_credential_arn", "registry.mirror.github_credential_arn",
                  "cluster.deployer_image", "network.interface_endpoints"):
        assert field in text
    assert "ecr-pullthroughcache/" in text and "kms" in text


# --- B12: the runner's walk ------------------------------------------------------------------------------

def test_the_runner_builds_up_or_destroys_the_in_cluster_layers_in_reverse() -> None:
    """Pinned runtime (CodeBuild runtime-versions), runtime dependencies only, and MLPLAT_OPERATION picks
    `up` (cluster → tenants) or `destroy` (tenants → cluster); never the aws layer."""
    spec = YAML(typ="safe").load(buildspec("dev"))
    assert spec["phases"]["install"]["runtime-versions"] == {"python": 3.12}
    assert not any("[dev]" in c for c in spec["phases"]["install"]["commands"])
    [walk] = [c for c in spec["phases"]["build"]["commands"] if OPERATION_VAR in c]
    down, up = walk.split("elif")
    assert down.index("destroy dev --layer tenants") < down.index("destroy dev --layer cluster")
    assert f"${DESTROY_FLAGS_VAR}" in down
    assert up.index("up dev --layer cluster") < up.index("up dev --layer tenants")
    assert "--layer aws" not in walk and "exit 2" in walk


def test_the_runner_defaults_to_up(aws_plan: Plan) -> None:
    env_vars = {v["name"]: v.get("value") for v in one(aws_plan, PROJECT, "-runner-project")
                .get("environment.environmentVariables")}
    assert env_vars[OPERATION_VAR] == "up" and env_vars[DESTROY_FLAGS_VAR] == ""


# --- C: the logs key's documented condition --------------------------------------------------------------

def test_the_logs_key_admits_cloudwatch_logs_by_log_group_arn(aws_plan: Plan) -> None:
    """CloudWatch Logs documents its key policy condition as the log group ARN in the encryption context
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)."""
    cfg = load_env("dev")
    env = cfg.environment
    policy = json.loads(one(aws_plan, "aws:kms/key:Key", "-keys-logs").get("policy"))
    [services] = [s for s in policy["Statement"] if s.get("Sid") == "ServicesUse"]
    assert services["Principal"] == {"Service": [f"logs.{env.region}.amazonaws.com"]}
    assert services["Condition"] == {"StringLike": {
        "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{env.region}:{env.account_id}:log-group:*"}}


def test_same_name_roles_under_different_paths_get_distinct_access_names() -> None:
    """IAM role names are unique per path only in the ARN: `role/a/deploy` and `role/b/deploy` are two
    principals; their access entries must not share a logical name. Unique names stay as they were."""
    from mlops_platform.aws.deployer import access_names

    arns = ["arn:aws:iam::123456789012:role/a/deploy", "arn:aws:iam::123456789012:role/b/deploy",
            "arn:aws:iam::123456789012:role/ci"]
    names = access_names("dev-deployers", arns)
    assert len(set(names.values())) == 3 and names[arns[2]] == "dev-deployers-ci"
    assert all(names[a].startswith("dev-deployers-deploy-") for a in arns[:2])
