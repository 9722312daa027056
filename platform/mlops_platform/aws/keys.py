"""Customer-managed KMS keys, one per purpose, rotated yearly, each with an alias."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts
from mlops_platform.core import iam

#: Purpose → AWS service principals that must use the key directly (beyond IAM-authorised callers).
KEY_PURPOSES: dict[str, tuple[str, ...]] = {
    "eks": (),  # EKS secrets envelope encryption (the cluster role is granted through IAM)
    "s3": (),
    "ecr": (),
    "logs": ("logs.{region}.amazonaws.com",),  # CloudWatch Logs encrypts with the key itself
    "ebs": (),
    "rds": (),
}
#: Purpose → the condition its services' key-policy statement documents instead of aws:SourceAccount.
#: CloudWatch Logs: the log group's ARN in the encryption context. The docs write ArnLike; the context key is
#: typed String, so StringLike (same match for this pattern; parliament flags the type mismatch).
#: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
SERVICE_CONDITIONS: dict[str, Callable[[str, str], iam.Doc | None]] = {
    "logs": lambda region, account: {"StringLike": {
        "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:log-group:*"}},
}
#: Purpose → service-linked roles (by path/name) that use the key without IAM grants.
KEY_ROLES: dict[str, tuple[str, ...]] = {
    # Node groups launch through Auto Scaling; without this, encrypted root volumes fail to attach.
    "ebs": ("aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",),
}


@dataclass(frozen=True, kw_only=True)
class PlatformKeysArgs:
    """Arguments of `PlatformKeys`."""

    env_name: str
    """Environment name; the keys' aliases are `alias/mlops-<env_name>-<purpose>`. Required."""
    account_id: str
    """Account whose root and services the key policies name. Required."""
    region: str
    """Region of the services the key policies name (e.g. `logs.<region>.amazonaws.com`). Required."""
    tags: dict[str, str]
    """Tags of every key. Required."""
    protect: bool
    """Protect the keys (prod): `pulumi destroy` refuses, since data encrypted with them would be lost. Required."""
    deletion_window_days: int = 30
    """Days a scheduled key deletion waits (AWS allows 7-30). Default: 30."""
    role_dependencies: tuple[pulumi.Resource, ...] = ()
    """What keys naming service-linked roles wait for (KMS rejects a policy naming a missing principal).
    Default: none."""


class PlatformKeys(pulumi.ComponentResource):
    """KMS keys for eks, s3, ecr, logs and ebs; `arns[purpose]` and `keys[purpose]`."""

    def __init__(self, name: str, args: PlatformKeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:PlatformKeys", name, None, opts)
        self.keys: dict[str, aws.kms.Key] = {}
        for purpose, services in KEY_PURPOSES.items():
            principals = [s.format(region=args.region) for s in services]
            roles = [f"arn:aws:iam::{args.account_id}:role/{r}" for r in KEY_ROLES.get(purpose, ())]
            condition = SERVICE_CONDITIONS[purpose](args.region, args.account_id) if purpose in SERVICE_CONDITIONS \
                else None
            policy = iam.kms_key_policy(args.account_id, principals, roles, condition)
            key = aws.kms.Key(
                f"{name}-{purpose}", description=f"mlops-platform {args.env_name} {purpose} encryption",
                enable_key_rotation=True, rotation_period_in_days=365,
                deletion_window_in_days=args.deletion_window_days, policy=iam.to_json(policy),
                tags={**args.tags, "Name": f"{args.env_name}-{purpose}", "mlops.io/key-purpose": purpose},
                # Retained with the data they protect: `destroy --force-destroy-protected-data` unprotects,
                # and a destroyed key would schedule the deletion of a key retained buckets still need.
                opts=child_opts(self, protect=args.protect, retain=args.protect,
                                depends_on=list(args.role_dependencies) if roles else None))
            aws.kms.Alias(f"{name}-{purpose}-alias", name=f"alias/mlops-{args.env_name}-{purpose}",
                          target_key_id=key.key_id, opts=child_opts(self))
            self.keys[purpose] = key
        self.arns: dict[str, pulumi.Output[str]] = {p: k.arn for p, k in self.keys.items()}
        self.register_outputs({"arns": self.arns})
