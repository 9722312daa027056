"""Who may deploy into the cluster, and from where.

- `DeployerAccess`: every role that runs `mlplat up` gets an EKS access entry and the cluster-admin
  association (authentication mode API: no aws-auth ConfigMap, no implicit creator admin).
- `InVpcRunner`: a CodeBuild project in the private subnets with its own security group, a rule
  opening 443 on the cluster security group from it, and a role with an access entry. It applies the
  `cluster` and `tenants` layers of a cluster whose API endpoint is private (docs/operations.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts, with_name
from mlops_platform.core import iam, naming
from mlops_platform.core.errors import ConfigError, ConfigIssue

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
#: Amazon Linux 2023 standard image (Python 3.11+, AWS CLI v2); the buildspec installs the Pulumi CLI.
# https://docs.aws.amazon.com/codebuild/latest/userguide/ec2-compute-images.html
RUNNER_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
SOURCE_KEY = naming.DEPLOY_SOURCE_KEY
API_PORT = 443
VPC_BUILD_ACTIONS = ("ec2:CreateNetworkInterface", "ec2:DescribeDhcpOptions", "ec2:DescribeNetworkInterfaces",
                     "ec2:DeleteNetworkInterface", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
                     "ec2:DescribeVpcs")


def access_names(prefix: str, principal_arns: list[str]) -> dict[str, str]:
    """Logical name of each principal's access: named by principal, not position (removing one never
    replaces the others), by the ARN's last segment; roles of the same name under different IAM paths
    get a short hash of their ARN too (they are different principals)."""
    tails = [arn.rsplit("/", 1)[-1] for arn in principal_arns]
    return {arn: f"{prefix}-{tail}" if tails.count(tail) == 1 else
            f"{prefix}-{tail}-{hashlib.sha256(arn.encode()).hexdigest()[:8]}"
            for arn, tail in zip(principal_arns, tails, strict=True)}


def vpc_build_statements(region: str, account_id: str) -> list[iam.Doc]:
    """What CodeBuild needs to run a build in a VPC: it creates, describes and deletes the build's network
    interface as the service role. CodeBuild User Guide, "Allow CodeBuild access to AWS services required to
    create a VPC network interface"
    (https://docs.aws.amazon.com/codebuild/latest/userguide/auth-and-access-control-iam-identity-based-access-control.html).
    Describe* have no resource scope; Create/DeleteNetworkInterface are scoped to this account's interfaces,
    subnets and security groups (Service Authorization Reference, Amazon EC2 actions)."""
    arn = f"arn:aws:ec2:{region}:{account_id}"
    net = f"{arn}:network-interface/*"
    return [iam.statement([a for a in VPC_BUILD_ACTIONS if ":Describe" in a], ["*"]),
            iam.statement(["ec2:CreateNetworkInterface"], [net, f"{arn}:subnet/*", f"{arn}:security-group/*"]),
            iam.statement(["ec2:DeleteNetworkInterface"], [net]),
            iam.statement(["ec2:CreateNetworkInterfacePermission"], [net],
                          condition={"StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"}})]


#: Runner variables: MLPLAT_OPERATION (up | destroy) picks the walk, MLPLAT_DESTROY_FLAGS passes e.g.
#: --force-destroy-protected-data; `aws codebuild start-build --environment-variables-override` sets them.
OPERATION_VAR, DESTROY_FLAGS_VAR = "MLPLAT_OPERATION", "MLPLAT_DESTROY_FLAGS"


#: Where the runner image (docs/air-gapped.md) keeps its virtualenv with the platform's dependencies and the
#: build backend, so the checkout installs with no index.
RUNNER_IMAGE_VENV = "/opt/mlplat/venv"
#: The policy pack's virtualenv (platform/policypack/PulumiPolicy.yaml `runtime.options.virtualenv`), relative
#: to the checkout. The Pulumi CLI installs a local Python pack's requirements.txt into it before every
#: preview/up that names the pack (workflows/automation.py passes it); in the runner image it is the image's
#: venv, which holds them (the Dockerfile installs platform/policypack/requirements.txt too), so pip finds
#: every requirement already satisfied.
POLICY_PACK_VENV = "platform/policypack/venv"


def install_phase(prebuilt: bool) -> list[str]:
    """Standard image: a pinned Python runtime, the Pulumi CLI and PyPI (needs egress). Runner image: its
    venv already holds every dependency and the CLI is on its PATH, so only the checkout is installed, offline
    (`--no-index --no-build-isolation`), and the image's venv also serves as the policy pack's. `runtime-versions`
    is for CodeBuild's standard images only (https://docs.aws.amazon.com/codebuild/latest/userguide/runtime-versions.html)."""
    if prebuilt:
        return ["  install:", "    commands:",
                f"      - ln -s {RUNNER_IMAGE_VENV} .venv && ln -s {RUNNER_IMAGE_VENV} {POLICY_PACK_VENV} && "
                ".venv/bin/pip install --quiet --no-index --no-deps --no-build-isolation -e ."]
    return ["  install:", "    runtime-versions:", "      python: 3.12", "    commands:",
            "      - curl -fsSL https://get.pulumi.com | sh", "      - export PATH=$HOME/.pulumi/bin:$PATH",
            "      - python3 -m venv .venv && .venv/bin/pip install --quiet -e ."]


def buildspec(env: str, prebuilt: bool = False) -> str:
    """The runner's build: assume the deployer role when one is given, install (`install_phase`), then apply
    the in-cluster layers, or destroy them in reverse (never the aws layer: the runner may not change its
    own network). Pinned runtime, runtime dependencies only."""
    up = [f"mlplat up {env} --layer cluster", f"mlplat up {env} --layer tenants"]
    down = [f"mlplat destroy {env} --layer tenants ${DESTROY_FLAGS_VAR}",
            f"mlplat destroy {env} --layer cluster ${DESTROY_FLAGS_VAR}"]
    walk = (f'if [ "${OPERATION_VAR}" = destroy ]; then {" && ".join(f".venv/bin/{c}" for c in down)}; '
            f'elif [ "${OPERATION_VAR}" = up ]; then {" && ".join(f".venv/bin/{c}" for c in up)}; '
            f'else echo "{OPERATION_VAR} must be up or destroy, not ${OPERATION_VAR}" >&2; exit 2; fi')
    return "\n".join([
        "version: 0.2",
        # Runner image: any pip call the build still makes (the CLI's policy-pack install) fails fast on a
        # missing package instead of retrying an unreachable PyPI (pip reads PIP_<OPTION> variables:
        # https://pip.pypa.io/en/stable/topics/configuration/#environment-variables).
        *(["env:", "  variables:", '    PIP_NO_INDEX: "1"'] if prebuilt else []),
        "phases:",
        *install_phase(prebuilt),
        "  build:",
        "    commands:",
        '      - if [ -n "$DEPLOYER_ROLE_ARN" ]; then aws configure set profile.deployer.role_arn '
        '"$DEPLOYER_ROLE_ARN" && aws configure set profile.deployer.credential_source EcsContainer '
        "&& export AWS_PROFILE=deployer; fi",
        f"      - {walk}",
        "",
    ])


@dataclass(frozen=True, kw_only=True)
class DeployerAccessArgs:
    """Arguments of `DeployerAccess`."""

    cluster_name: pulumi.Input[str]
    """EKS cluster name (an Output of the cluster, so entries wait for it). Required."""
    principal_arns: list[str]
    """IAM roles given cluster-admin (`cluster.deployer_role_arns` not already admins). Required."""
    tags: dict[str, str]
    """Tags of the access entries. Required."""


class DeployerAccess(pulumi.ComponentResource):
    """An access entry + cluster-admin association per principal; `associations` is what Kubernetes
    providers wait for."""

    associations: list[aws.eks.AccessPolicyAssociation]

    def __init__(self, name: str, args: DeployerAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:DeployerAccess", name, None, opts)
        names = access_names(name, list(dict.fromkeys(args.principal_arns)))
        self.associations = [admin_access(self, logical, args.cluster_name, arn, args.tags)
                             for arn, logical in names.items()]
        self.register_outputs({"associations": [a.id for a in self.associations]})


def admin_access(parent: pulumi.Resource, name: str, cluster_name: pulumi.Input[str],
                 principal_arn: pulumi.Input[str], tags: dict[str, str]) -> aws.eks.AccessPolicyAssociation:
    """Access entry + AmazonEKSClusterAdminPolicy association, cluster-wide.
    https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html"""
    entry = aws.eks.AccessEntry(name, cluster_name=cluster_name, principal_arn=principal_arn, type="STANDARD",
                                tags=tags, opts=child_opts(parent))
    return aws.eks.AccessPolicyAssociation(
        name, cluster_name=cluster_name, principal_arn=principal_arn, policy_arn=CLUSTER_ADMIN_POLICY,
        access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
        opts=child_opts(parent, depends_on=[entry]))


@dataclass(frozen=True, kw_only=True)
class InVpcRunnerArgs:
    """Arguments of `InVpcRunner`."""

    env_name: str
    """Environment name (the runner applies its cluster and tenants layers). Required."""
    runner_name: str
    """Name of the CodeBuild project, security group and role (`naming.deploy_runner_name`). Required."""
    account_id: str
    """Account of the environment (trust condition, ARNs). Required."""
    region: str
    """Region of the environment. Required."""
    vpc_id: pulumi.Input[str]
    """VPC the builds run in. Required."""
    private_subnet_ids: pulumi.Input[list[str]]
    """Private subnets of the builds' network interfaces. Required."""
    cluster_name: pulumi.Input[str]
    """EKS cluster the runner gets an access entry on. Required."""
    cluster_arn: pulumi.Input[str]
    """ARN of that cluster (eks:DescribeCluster). Required."""
    cluster_security_group_id: pulumi.Input[str]
    """The EKS-created cluster security group that gets the 443 rule from the runner. Required."""
    state_bucket: str
    """The environment's Pulumi state bucket: the runner's source and the layers' state. Required."""
    state_key_alias: str
    """Alias of the bootstrap KMS key the state bucket is SSE-KMS encrypted with
    (`naming.state_key_alias`): the runner decrypts its source zip with it. Required."""
    github_token_secret: str | None = None
    """Secrets Manager secret (name) the build exports as GITHUB_TOKEN (`github.token_secret`, needed when
    `github.manage` is on). Default: None (no token)."""
    logs_key_arn: pulumi.Input[str]
    """KMS key of the build log group. Required."""
    deployer_role_arns: list[str]
    """Roles the runner may assume (`cluster.deployer_role_arns`; the first is used). Required."""
    log_retention_days: int
    """Retention of the build log group. Required."""
    tags: dict[str, str]
    """Tags of every resource. Required."""
    image: pulumi.Input[str] | None = None
    """The runner image in a platform repository (`cluster.deployer_image` as a full ECR reference), pulled
    with the service role. Default: None (CodeBuild's standard image, which downloads the Pulumi CLI and
    PyPI packages)."""
    image_repository_arn: pulumi.Input[str] | None = None
    """ARN of the runner image's repository (the service role's pull grant); set it with `image`. Default: None."""

    def __post_init__(self) -> None:
        # one without the other is a pull grant on no repository (`iam.statement(..., [None])`), which only
        # fails at apply time, or a grant nothing uses
        if (self.image is None) is not (self.image_repository_arn is None):
            raise ConfigError([ConfigIssue(
                "image_repository_arn", "goes with image", self.image_repository_arn,
                "set both image and image_repository_arn (the runner image's repository), or neither")])


class InVpcRunner(pulumi.ComponentResource):
    """CodeBuild deploy runner inside the VPC (reaches a private API endpoint)."""

    project: aws.codebuild.Project
    association: aws.eks.AccessPolicyAssociation
    _policy: aws.iam.RolePolicy

    def __init__(self, name: str, args: InVpcRunnerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:InVpcRunner", name, None, opts)
        self._name, self._args = name, args
        sg = self._security_group()
        role = self._role()
        self.association = admin_access(self, f"{name}-access", args.cluster_name, role.arn, args.tags)
        self.project = self._project(sg, role)
        self.register_outputs({"project": self.project.name, "securityGroupId": sg.id})

    def _security_group(self) -> aws.ec2.SecurityGroup:
        a = self._args
        # Egress 443 only: the API endpoint, AWS APIs, the Pulumi CLI and PyPI (through NAT or endpoints).
        sg = aws.ec2.SecurityGroup(
            f"{self._name}-sg", vpc_id=a.vpc_id, description=f"mlops {a.env_name} in-VPC deploy runner",
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="tcp", from_port=443, to_port=443,
                                                    cidr_blocks=["0.0.0.0/0"], description="HTTPS out")],
            tags=with_name(a.tags, a.runner_name), opts=child_opts(self))
        # The EKS-created cluster security group admits only its own members: open the API to the runner.
        # https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html (private endpoint access)
        aws.vpc.SecurityGroupIngressRule(
            f"{self._name}-api", security_group_id=a.cluster_security_group_id, referenced_security_group_id=sg.id,
            ip_protocol="tcp", from_port=API_PORT, to_port=API_PORT, description="EKS API from the deploy runner",
            tags=a.tags, opts=child_opts(self))
        return sg

    def _role(self) -> aws.iam.Role:
        a = self._args
        trust = iam.document(iam.statement(["sts:AssumeRole"], None, principal={"Service": ["codebuild.amazonaws.com"]},
                                           condition={"StringEquals": {"aws:SourceAccount": a.account_id}}))
        role = aws.iam.Role(f"{self._name}-role", name=a.runner_name, assume_role_policy=iam.to_json(trust),
                            tags=a.tags, opts=child_opts(self))
        self._policy = aws.iam.RolePolicy(f"{self._name}-policy", role=role.id,
                                          policy=iam.to_json(self._permissions()), opts=child_opts(self))
        return role

    def _permissions(self) -> iam.Doc:
        a = self._args
        bucket = f"arn:aws:s3:::{a.state_bucket}"
        logs = f"arn:aws:logs:{a.region}:{a.account_id}:log-group:/aws/codebuild/{a.runner_name}"
        own = f"{bucket}/{SOURCE_KEY.format(env=a.env_name).rsplit('/', 1)[0]}/*"
        # CodeBuild reads a versioned S3 source with GetObjectVersion; the runner writes only under its
        # own prefix (the layers' state is written as the deployer role it assumes).
        # https://docs.aws.amazon.com/codebuild/latest/userguide/setting-up-service-role.html
        stmts = [iam.statement(["logs:CreateLogStream", "logs:PutLogEvents"], [logs, f"{logs}:*"]),
                 iam.statement(["s3:GetObject", "s3:GetObjectVersion"], [f"{bucket}/*"]),
                 iam.statement(["s3:PutObject", "s3:DeleteObject"], [own]),
                 iam.statement(["s3:ListBucket", "s3:GetBucketLocation"], [bucket]),
                 iam.statement(["eks:DescribeCluster"], [a.cluster_arn]),
                 # `mlplat destroy` waits for the LB controller's load balancers before the aws layer (teardown)
                 iam.statement(["elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags"],
                               ["*"]),
                 *self._key_and_secret(), *vpc_build_statements(a.region, a.account_id), *self._image_pull()]
        if a.deployer_role_arns:
            stmts.append(iam.statement(["sts:AssumeRole"], list(a.deployer_role_arns)))
        return iam.document(*stmts)

    def _key_and_secret(self) -> list[iam.Doc]:
        """The state bucket is SSE-KMS under the bootstrap key (ops/bootstrap.py): reading the source zip needs
        kms:Decrypt on it, writing needs GenerateDataKey. The key is known here by alias only, so the grant
        is conditioned on the alias. https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
        (kms:ResourceAliases)"""
        a = self._args
        keys = f"arn:aws:kms:{a.region}:{a.account_id}:key/*"
        stmts = [iam.statement(["kms:Decrypt", "kms:GenerateDataKey"], [keys], condition={
            "ForAnyValue:StringEquals": {"kms:ResourceAliases": a.state_key_alias}})]
        if a.github_token_secret:
            # CodeBuild resolves a SECRETS_MANAGER variable with the service role; Secrets Manager appends
            # six random characters to a secret's ARN.
            # https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html (env/secrets-manager)
            arn = f"arn:aws:secretsmanager:{a.region}:{a.account_id}:secret:{a.github_token_secret}-??????"
            stmts.append(iam.statement(["secretsmanager:GetSecretValue"], [arn]))
        return stmts

    def _image_pull(self) -> list[iam.Doc]:
        """A private ECR build image pulled with SERVICE_ROLE credentials: the service role gets the token and
        reads that one repository. CodeBuild User Guide, sample-ecr.html ("Amazon ECR sample for CodeBuild")."""
        a = self._args
        if a.image is None:
            return []
        return [iam.statement(["ecr:GetAuthorizationToken"], ["*"]),
                iam.statement(["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                              [a.image_repository_arn])]

    def _project(self, sg: aws.ec2.SecurityGroup, role: aws.iam.Role) -> aws.codebuild.Project:
        a = self._args
        group = aws.cloudwatch.LogGroup(f"{self._name}-logs", name=f"/aws/codebuild/{a.runner_name}",
                                        retention_in_days=a.log_retention_days, kms_key_id=a.logs_key_arn,
                                        tags=a.tags, opts=child_opts(self))
        plain = {"DEPLOYER_ROLE_ARN": a.deployer_role_arns[0] if a.deployer_role_arns else "",
                 OPERATION_VAR: "up", DESTROY_FLAGS_VAR: ""}
        env_vars = [aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs(name=k, value=v) for k, v in plain.items()]
        if a.github_token_secret:  # pulumi-github reads GITHUB_TOKEN (github.manage)
            env_vars.append(aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs(
                name="GITHUB_TOKEN", type="SECRETS_MANAGER", value=a.github_token_secret))
        return aws.codebuild.Project(
            f"{self._name}-project", name=a.runner_name, service_role=role.arn,
            description=f"Applies the cluster and tenants layers of {a.env_name} from inside its VPC",
            source=aws.codebuild.ProjectSourceArgs(
                type="S3", location=f"{a.state_bucket}/{SOURCE_KEY.format(env=a.env_name)}",
                buildspec=buildspec(a.env_name, prebuilt=a.image is not None)),
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                compute_type="BUILD_GENERAL1_SMALL", image=a.image or RUNNER_IMAGE, type="LINUX_CONTAINER",
                image_pull_credentials_type="SERVICE_ROLE" if a.image else "CODEBUILD",
                privileged_mode=False, environment_variables=env_vars),
            vpc_config=aws.codebuild.ProjectVpcConfigArgs(vpc_id=a.vpc_id, subnets=a.private_subnet_ids,
                                                          security_group_ids=[sg.id]),
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(group_name=group.name)),
            # CodeBuild validates the role when the project is created: wait for its permissions, not only
            # the role (its ARN alone lets the two race).
            build_timeout=60, tags=a.tags, opts=child_opts(self, depends_on=[self._policy]))
