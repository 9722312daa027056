"""Account-wide prerequisites of an environment: the things that exist once per AWS account.

- The GitHub Actions OIDC provider: IAM allows one provider per URL per account, so a second
  environment in the same account (or any other stack that made one) must reuse it:
  config `ci.github_oidc_provider_arn`; `mlplat preflight` finds an existing one and prints its ARN.
- The Auto Scaling service-linked role: the EBS key policy names it, and KMS rejects a key policy
  whose principal does not exist yet (a fresh account has no such role until its first Auto Scaling
  group). The environment creates it first unless it already exists (`autoscaling_role_exists`,
  which preflight reports), and the EBS key depends on it.
- The EC2 Spot service-linked role: Karpenter launches spot nodes with CreateFleet, which needs
  `AWSServiceRoleForEC2Spot`; a fresh account lacks it and Karpenter's controller may not create it
  (AuthFailure.ServiceLinkedRoleCreationNotPermitted on the first spot NodeClaim). Created only when a
  Karpenter pool can launch spot, the same way as the Auto Scaling role. Managed node groups need none:
  their Auto Scaling group creates it itself (AutoScalingServiceRolePolicy allows iam:CreateServiceLinkedRole
  for spot.amazonaws.com).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts
from mlops_platform.core import iam, naming

#: https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-service-linked-role.html
AUTOSCALING_SERVICE = "autoscaling.amazonaws.com"
AUTOSCALING_ROLE = naming.AUTOSCALING_SERVICE_ROLE
#: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/service-linked-roles-spot-instance-requests.html
SPOT_SERVICE = "spot.amazonaws.com"
#: https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services
GITHUB_OIDC_URL = f"https://{iam.GITHUB_OIDC_HOST}"


def github_oidc_provider_arn(account_id: str) -> str:
    """ARN IAM gives the account's GitHub Actions OIDC provider (named by its host)."""
    return f"arn:aws:iam::{account_id}:oidc-provider/{iam.GITHUB_OIDC_HOST}"


@dataclass(frozen=True, kw_only=True)
class AccountPrerequisitesArgs:
    """Arguments of `AccountPrerequisites`."""

    github_oidc_provider_arn: str | None = None
    """`ci.github_oidc_provider_arn`: reuse this provider instead of creating one. Default: None (create)."""
    create_autoscaling_role: bool = True
    """Create the Auto Scaling service-linked role (false where it exists). Default: True."""
    create_spot_role: bool = False
    """Create the EC2 Spot service-linked role (Karpenter spot pools, where it does not exist). Default: False."""
    tags: dict[str, str]
    """Tags of the created resources. Required."""


class AccountPrerequisites(pulumi.ComponentResource):
    """`github_oidc_provider_arn` (created or reused), `autoscaling_role` and `spot_role` (None when not created)."""

    github_oidc_provider_arn: pulumi.Output[str]
    autoscaling_role: aws.iam.ServiceLinkedRole | None
    spot_role: aws.iam.ServiceLinkedRole | None

    def __init__(self, name: str, args: AccountPrerequisitesArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:AccountPrerequisites", name, None, opts)
        if args.github_oidc_provider_arn:
            self.github_oidc_provider_arn = pulumi.Output.from_input(args.github_oidc_provider_arn)
        else:  # AWS validates GitHub's certificate chain itself: no thumbprint to pin
            # Retained: other environments of the account reuse it (ci.github_oidc_provider_arn); destroying
            # this one must not break their CI. IAM allows one provider per URL per account.
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc.html
            self.github_oidc_provider_arn = aws.iam.OpenIdConnectProvider(
                f"{name}-github-oidc", url=GITHUB_OIDC_URL, client_id_lists=["sts.amazonaws.com"], tags=args.tags,
                opts=child_opts(self, retain=True)).arn
        self.autoscaling_role = None
        if args.create_autoscaling_role:
            # Retained: other stacks' Auto Scaling groups in the account use it after this one is gone.
            self.autoscaling_role = aws.iam.ServiceLinkedRole(
                f"{name}-autoscaling-role", aws_service_name=AUTOSCALING_SERVICE,
                description="Auto Scaling (EKS managed node groups); named by the platform's EBS key policy",
                tags=args.tags,
                opts=child_opts(self, retain=True))
        self.spot_role = None
        if args.create_spot_role:
            # Retained like the Auto Scaling role: any later spot launch in the account relies on it.
            self.spot_role = aws.iam.ServiceLinkedRole(
                f"{name}-spot-role", aws_service_name=SPOT_SERVICE,
                description="EC2 Spot (Karpenter launches spot GPU nodes with CreateFleet)", tags=args.tags,
                opts=child_opts(self, retain=True))
        self.register_outputs({"githubOidcProviderArn": self.github_oidc_provider_arn})
