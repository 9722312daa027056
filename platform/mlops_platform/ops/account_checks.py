"""Preflight checks of what one AWS account holds once for all its environments, and of the path to the
cluster API: the GitHub OIDC provider, the Auto Scaling and EC2 Spot service-linked roles, TCP 443 to the endpoint."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from mlops_platform.config.gpu_provisioning import launches_spot_with_karpenter
from mlops_platform.core import naming
from mlops_platform.core.iam import GITHUB_OIDC_HOST
from mlops_platform.core.naming import AUTOSCALING_SERVICE_ROLE as AUTOSCALING_ROLE
from mlops_platform.core.naming import DEPLOY_SOURCE_KEY as SOURCE_KEY
from mlops_platform.core.naming import SPOT_SERVICE_ROLE as SPOT_ROLE
from mlops_platform.ops._aws import Aws, AwsFailure, error_code
from mlops_platform.ops.checks import CheckResult, Status

if TYPE_CHECKING:
    from mlops_platform.config import PlatformConfig

#: The endpoint probe waits this long: a private endpoint from outside the VPC never answers.
PROBE_TIMEOUT_S = 3.0
Probe = Callable[[str, int, float], str | None]


def _ours(tags: Sequence[Mapping[str, Any]] | None, cfg: PlatformConfig) -> bool:
    """Created by this environment (the provider's default tags), so re-running `up` is no conflict."""
    found = {t.get("Key"): t.get("Value") for t in tags or []}
    return found.get("environment") == cfg.environment.name and found.get("managed-by") == "mlops-platform"


def check_github_oidc(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    """IAM holds one OIDC provider per URL per account: a second environment must reuse the first's."""
    host = GITHUB_OIDC_HOST
    arns = [p["Arn"] for p in aws.iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])
            if p["Arn"].endswith(f"/{host}")]
    configured = cfg.ci.github_oidc_provider_arn
    name = "github oidc provider"
    if configured:
        if configured in arns:
            yield CheckResult(name, Status.PASS, f"reusing {configured}")
        else:
            yield CheckResult(name, Status.FAIL, f"ci.github_oidc_provider_arn {configured} does not exist",
                              f"set it to {arns[0]}" if arns else "remove ci.github_oidc_provider_arn (the aws "
                              "layer then creates the provider)")
        return
    if not arns:
        yield CheckResult(name, Status.PASS, "none in the account: the aws layer creates it")
    elif _ours(aws.iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arns[0]).get("Tags"), cfg):
        yield CheckResult(name, Status.PASS, f"{arns[0]} was created by this environment")
    else:
        yield CheckResult(name, Status.FAIL, f"the account already has {arns[0]}; creating a second fails "
                                             "(EntityAlreadyExists)",
                          f"set `mlops-platform:ci: {{github_oidc_provider_arn: {arns[0]}}}` in the stack file")


def config_line(env: str, section: str, key: str, value: str) -> str:
    """The exact lines to put in an environment's stack file."""
    return f"in stacks/Pulumi.{env}.yaml set\n      mlops-platform:{section}:\n        {key}: {value}"


@dataclass(frozen=True)
class _ServiceRole:
    """A service-linked role the aws layer creates once per account unless `account.<key>` is false."""

    check: str
    role: str
    service: str
    key: str
    created_before: str


_AUTOSCALING = _ServiceRole("autoscaling role", AUTOSCALING_ROLE, "autoscaling.amazonaws.com",
                            "create_autoscaling_service_role", "before the EBS key")
_SPOT = _ServiceRole("spot role", SPOT_ROLE, "spot.amazonaws.com", "create_spot_service_role",
                     "for Karpenter's spot launches")


def check_autoscaling_role(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    """The EBS key policy names AWSServiceRoleForAutoScaling; KMS rejects policies naming missing principals.

    Detected here (IAM GetRole), and `mlplat up` stops on a mismatch with the exact lines to set, rather than
    passing the detected value to the engine itself: the stack file stays the one truth, so a plain `pulumi
    preview` in CI or a colleague's `pulumi up` plans exactly what `mlplat up` applies, and an account change
    can never flip what the stack owns behind the user's back (a role the stack created, then read as
    "exists", would otherwise leave the stack on the next run).
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-service-linked-role.html
    """
    yield from _check_service_role(cfg, aws, _AUTOSCALING, cfg.account.create_autoscaling_service_role)


def check_spot_role(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    """Karpenter's spot CreateFleet needs AWSServiceRoleForEC2Spot, which its controller may not create
    (AuthFailure.ServiceLinkedRoleCreationNotPermitted); detected like the Auto Scaling role, and only when a
    Karpenter pool can launch spot (managed node groups' Auto Scaling groups create it themselves).
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/service-linked-roles-spot-instance-requests.html
    """
    if launches_spot_with_karpenter(cfg):
        yield from _check_service_role(cfg, aws, _SPOT, cfg.account.create_spot_service_role)


def _check_service_role(cfg: PlatformConfig, aws: Aws, slr: _ServiceRole, create: bool) -> Iterator[CheckResult]:
    env = cfg.environment.name
    try:
        tags = aws.iam.get_role(RoleName=slr.role)["Role"].get("Tags")
    except AwsFailure as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        if create:
            yield CheckResult(slr.check, Status.PASS, f"{slr.role} does not exist: the aws layer creates it "
                                                      f"{slr.created_before}")
        else:
            yield CheckResult(slr.check, Status.FAIL, f"{slr.role} does not exist and account.{slr.key} is false",
                              config_line(env, "account", slr.key, "true")
                              + "\n    (or create it once for the account: `aws iam create-service-linked-role "
                                f"--aws-service-name {slr.service}`)")
        return
    if not create or _ours(tags, cfg):
        yield CheckResult(slr.check, Status.PASS, f"{slr.role} exists")
    else:
        yield CheckResult(slr.check, Status.FAIL, f"{slr.role} already exists in the account (not created by "
                                                  f"{env}); creating it again fails (InvalidInput: Service role "
                                                  f"name {slr.role} has been taken in this account)",
                          config_line(env, "account", slr.key, "false"))


def tcp_probe(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection to host:port opens within `timeout`, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def runner_commands(cfg: PlatformConfig) -> list[str]:
    """Commands that hand this checkout to the in-VPC runner, which applies the cluster and tenants layers."""
    env = cfg.environment
    source = f"s3://{naming.bucket_name(env, 'pulumi-state')}/{SOURCE_KEY.format(env=env.name)}"
    return ["git archive --format=zip -o /tmp/mlops-source.zip HEAD",
            f"aws s3 cp /tmp/mlops-source.zip {source}",
            f"aws codebuild start-build --project-name {naming.deploy_runner_name(cfg.cluster_name)} "
            f"--region {env.region}"]


def unreachable_fix(cfg: PlatformConfig) -> str:
    """The exact next step when this machine cannot open the cluster API."""
    env = cfg.environment.name
    steps = "; ".join(f"`{c}`" for c in runner_commands(cfg)) if cfg.in_vpc_deployer else (
        "list a role in cluster.deployer_role_arns, `mlplat up ENV --layer aws` (creates the in-VPC runner), then "
        "follow docs/operations.md")
    return (f"apply the in-cluster layers from inside the VPC — {steps} — or from a machine with a route to the "
            f"endpoint (VPN/peering/bastion): `mlplat up {env} --layer cluster` then `mlplat up {env} --layer "
            "tenants`; dev only: add this machine's egress CIDR to cluster.allow_public_endpoint_cidrs with "
            "endpoint_access: public_and_private")


def check_api_endpoint(cfg: PlatformConfig, aws: Aws, probe: Probe = tcp_probe) -> Iterator[CheckResult]:
    """TCP 443 to an existing cluster's endpoint; a warning (the aws layer never needs it)."""
    name = "api endpoint"
    try:
        endpoint = aws.eks.describe_cluster(name=cfg.cluster_name)["cluster"].get("endpoint") or ""
    except AwsFailure as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        yield CheckResult(name, Status.PASS, f"cluster {cfg.cluster_name} does not exist yet: the aws layer "
                                             "creates it (the cluster and tenants layers then need TCP 443 to it)")
        return
    host = urlparse(endpoint).hostname or endpoint
    why = probe(host, 443, PROBE_TIMEOUT_S)
    if why is None:
        yield CheckResult(name, Status.PASS, f"{endpoint} answers on TCP 443 from this machine")
    else:
        yield CheckResult(name, Status.WARN, f"{endpoint} is not reachable on TCP 443 within {PROBE_TIMEOUT_S:g}s "
                                             f"({why}): `mlplat up` stops after the aws layer", unreachable_fix(cfg))
