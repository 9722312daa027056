"""The artifact store: datasets/models buckets plus an access-log bucket, built with the pulumi-aws 7
split resources (not the deprecated V2 ones): versioning, SSE-KMS with bucket key, public access
block, ACLs disabled, TLS-only policy, lifecycle, access logging; retained and protected in prod."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts
from mlops_platform.aws.layer_outputs import BucketRef
from mlops_platform.config.sections import ArtifactsConfig, EnvironmentConfig
from mlops_platform.core.iam import document, statement, tls_only_bucket_policy, to_json
from mlops_platform.core.naming import bucket_name

LOG_BUCKET_ROLE = "access-logs"


@dataclass(frozen=True, kw_only=True)
class ArtifactStoreArgs:
    """Arguments of `ArtifactStore`."""

    config: ArtifactsConfig
    """The stack's `artifacts` section: which buckets, their lifecycle and the force-destroy opt-in. Required."""
    environment: EnvironmentConfig
    """The stack's `environment` section; bucket names are built from it (`naming.bucket_name`). Required."""
    kms_key_arn: pulumi.Input[str]
    """Key of the buckets' SSE-KMS encryption (the access-log bucket uses SSE-S3). Required."""
    protect: bool
    """Protect and retain the buckets (prod): `pulumi destroy` refuses and deletion keeps the data. Required."""
    tags: dict[str, str]
    """Tags of every bucket. Required."""


class ArtifactStore(pulumi.ComponentResource):
    buckets: dict[str, BucketRef]

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:ArtifactStore", name, None, opts)
        self._name, self._args = name, args
        logs = self._bucket(LOG_BUCKET_ROLE, log_target=None)
        self.buckets = {LOG_BUCKET_ROLE: BucketRef(logs.bucket, logs.arn)}
        for role in args.config.buckets:
            b = self._bucket(role.value, log_target=logs)
            self.buckets[role.value] = BucketRef(b.bucket, b.arn)
        self.register_outputs({k: v.name for k, v in self.buckets.items()})

    def _bucket(self, role: str, log_target: aws.s3.Bucket | None) -> aws.s3.Bucket:
        args, name = self._args, f"{self._name}-{role}"
        bucket = aws.s3.Bucket(name, bucket=bucket_name(args.environment, role),
                               force_destroy=args.config.allow_force_destroy,
                               tags={**args.tags, "mlops.io/bucket-role": role},
                               opts=child_opts(self, protect=args.protect, retain=args.protect))
        aws.s3.BucketOwnershipControls(f"{name}-ownership", bucket=bucket.id,
                                       rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
                                       opts=child_opts(self))
        aws.s3.BucketPublicAccessBlock(f"{name}-public-access", bucket=bucket.id, block_public_acls=True,
                                       block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                                       opts=child_opts(self))
        aws.s3.BucketVersioning(f"{name}-versioning", bucket=bucket.id,
                                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                                    status="Enabled"), opts=child_opts(self))
        self._encryption(name, bucket, kms=log_target is not None)
        self._lifecycle(name, bucket, is_log_bucket=log_target is None)
        self._policy(name, bucket, is_log_bucket=log_target is None)
        if log_target is not None:
            aws.s3.BucketLogging(f"{name}-logging", bucket=bucket.id, target_bucket=log_target.id,
                                 target_prefix=f"s3/{role}/", opts=child_opts(self))
        return bucket

    def _encryption(self, name: str, bucket: aws.s3.Bucket, kms: bool) -> None:
        # S3 server access logs can only be delivered to SSE-S3 buckets, so the log bucket uses AES256.
        default = (aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms", kms_master_key_id=self._args.kms_key_arn) if kms else
            aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(sse_algorithm="AES256"))
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=default, bucket_key_enabled=kms)],
            opts=child_opts(self))

    def _lifecycle(self, name: str, bucket: aws.s3.Bucket, is_log_bucket: bool) -> None:
        cfg = self._args.config
        rule = aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="noncurrent-and-multipart", status="Enabled", filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=cfg.noncurrent_version_expiration_days),
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=cfg.abort_incomplete_multipart_days),
            expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=cfg.log_expiration_days)
            if is_log_bucket else None)
        aws.s3.BucketLifecycleConfiguration(f"{name}-lifecycle", bucket=bucket.id, rules=[rule], opts=child_opts(self))

    def _policy(self, name: str, bucket: aws.s3.Bucket, is_log_bucket: bool) -> None:
        doc = tls_only_bucket_policy(bucket.arn)
        if is_log_bucket:
            account = self._args.environment.account_id
            doc["Statement"].append(statement(
                ["s3:PutObject"], [pulumi.Output.concat(bucket.arn, "/s3/*")], sid="S3ServerAccessLogs",
                principal={"Service": "logging.s3.amazonaws.com"},
                condition={"StringEquals": {"aws:SourceAccount": account}}))
        aws.s3.BucketPolicy(f"{name}-policy", bucket=bucket.id, policy=to_json(document(*doc["Statement"])),
                            opts=child_opts(self))
