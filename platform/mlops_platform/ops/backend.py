"""Names of an environment's self-managed Pulumi state backend: one place, so bootstrap creates what
preflight checks and `mlplat up` logs in to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_platform.core import naming
from mlops_platform.core.errors import UsageError

if TYPE_CHECKING:
    from mlops_platform.config import PlatformConfig

MAX_BUCKET_NAME = 63


@dataclass(frozen=True)
class StateBackend:
    """S3 bucket holding the stack state and the KMS key encrypting the stack's secrets."""

    bucket: str
    kms_alias: str
    region: str

    @property
    def login_url(self) -> str:
        # awssdk=v2 makes the Pulumi CLI honour SSO profiles and AWS_ENDPOINT_URL like the AWS CLI does.
        return f"s3://{self.bucket}?region={self.region}&awssdk=v2"

    @property
    def secrets_provider(self) -> str:
        return f"awskms://{self.kms_alias}?region={self.region}"


def state_backend(cfg: PlatformConfig) -> StateBackend:
    env = cfg.environment
    bucket = naming.bucket_name(env, "pulumi-state")
    if len(bucket) > MAX_BUCKET_NAME:
        raise UsageError(f"state bucket name {bucket!r} is {len(bucket)} characters; S3 allows "
                         f"{MAX_BUCKET_NAME} — fix: shorten environment.name_prefix or environment.name")
    return StateBackend(bucket=bucket, kms_alias=naming.state_key_alias(env),
                        region=env.region)
