"""`mlplat bootstrap ENV`: the self-managed Pulumi state backend of an environment, idempotently.

Creates (or converges) one S3 bucket — versioned, SSE-KMS with a bucket key, public access blocked,
ACLs disabled, TLS-only policy, noncurrent-version retention — and one KMS key with rotation behind an
alias for the stack's secrets provider. A second run changes nothing and says so.

Safety rules, in order of precedence:
- refuse (PreflightError) when the caller is in another account than the stack's, when the bucket name
  belongs to someone else or lives in another region, or when the key is disabled or pending deletion;
- never delete anything and never weaken a setting: an existing bucket is only ever strengthened;
- settings that expire data (the noncurrent-version lifecycle) are added only to a bucket this tool
  created (tagged `managed-by: mlops-platform`); on a foreign bucket they are reported, not imposed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from mlops_platform.core.errors import PreflightError
from mlops_platform.ops._aws import Aws, AwsFailure, describe, error_code
from mlops_platform.ops.backend import StateBackend, state_backend

if TYPE_CHECKING:
    from mlops_platform.config import PlatformConfig

#: Noncurrent state versions are kept this long (Pulumi writes a new version on every update) ...
NONCURRENT_RETENTION_DAYS = 90
#: ... and the newest this many are kept whatever their age, so a rollback target always exists.
NONCURRENT_VERSIONS_KEPT = 20
ABORT_MULTIPART_DAYS = 7
LIFECYCLE_RULE_ID = "mlplat-state-noncurrent-retention"
TLS_SID = "DenyInsecureTransport"
MANAGED_TAG = ("managed-by", "mlops-platform")
_MISSING = {"NoSuchBucket", "404", "NotFound", "NoSuchBucketPolicy", "NoSuchLifecycleConfiguration",
            "ServerSideEncryptionConfigurationNotFoundError", "NoSuchPublicAccessBlockConfiguration",
            "OwnershipControlsNotFoundError", "NoSuchTagSet", "NotFoundException"}
_DENIED = {"AccessDenied", "AccessDeniedException", "403", "Forbidden", "UnauthorizedOperation"}
_PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


class Change(StrEnum):
    CREATED = "created"
    STRENGTHENED = "strengthened"
    UNCHANGED = "unchanged"
    KEPT = "kept"  # differs from what bootstrap would create, but is not weaker (or is not ours to change)


@dataclass(frozen=True)
class Step:
    item: str
    change: Change
    detail: str


@dataclass
class BootstrapReport:
    backend: StateBackend
    steps: list[Step] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(s.change in (Change.CREATED, Change.STRENGTHENED) for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        b = self.backend
        return {"bucket": b.bucket, "kms_alias": b.kms_alias, "region": b.region, "changed": self.changed,
                "login": f"pulumi login '{b.login_url}'", "secrets_provider": b.secrets_provider,
                "steps": [{"item": s.item, "change": s.change.value, "detail": s.detail} for s in self.steps]}


def bootstrap(cfg: PlatformConfig, aws: Aws | None = None) -> BootstrapReport:
    """Create or converge the state bucket and secrets key of `cfg`'s environment."""
    backend = state_backend(cfg)
    aws = aws or Aws(backend.region)
    aws.require_credentials("mlplat bootstrap")
    report = BootstrapReport(backend)
    try:
        _converge(aws, cfg, report)
    except AwsFailure as exc:
        done = ", ".join(f"{s.item} {s.change.value}" for s in report.steps) or "nothing"
        denied = error_code(exc) in _DENIED
        fix = ("grant the permissions listed in docs/operations.md (bootstrap) and re-run" if denied else
               "re-run once the cause is gone (another bootstrap of this environment at the same time?)")
        raise PreflightError(f"bootstrap stopped after: {done}; AWS said {describe(exc)} — fix: {fix}; "
                             "re-running is safe") from None
    return report


def _converge(aws: Aws, cfg: PlatformConfig, report: BootstrapReport) -> None:
    backend = report.backend
    _require_account(aws, cfg.environment.account_id)
    key_arn = _ensure_key(aws, backend, cfg.base_tags, report)
    ours = _ensure_bucket(aws, backend, cfg.base_tags, report)
    _ensure_versioning(aws, backend.bucket, report)
    _ensure_encryption(aws, backend.bucket, key_arn, report)
    _ensure_public_access_block(aws, backend.bucket, report)
    _ensure_ownership(aws, backend.bucket, report)
    _ensure_tls_policy(aws, backend.bucket, report)
    _ensure_lifecycle(aws, backend.bucket, ours, report)


def _require_account(aws: Aws, expected: str) -> None:
    actual = aws.sts.get_caller_identity()["Account"]
    if actual != expected:
        raise PreflightError(f"refusing to bootstrap: credentials are for account {actual}, the stack says "
                             f"environment.account_id {expected} — fix: use credentials of account {expected}")


def _get(call: Any, **kwargs: Any) -> Any:
    """Run a read call; None when the thing does not exist (the AWS error code says so)."""
    try:
        return call(**kwargs)
    except Exception as exc:
        if error_code(exc) in _MISSING:
            return None
        raise


# --- KMS key -------------------------------------------------------------------------------------

def _ensure_key(aws: Aws, backend: StateBackend, tags: dict[str, str], report: BootstrapReport) -> str:
    found = _get(aws.kms.describe_key, KeyId=backend.kms_alias)
    if found is None:
        arn = _create_key(aws, backend, tags)
        if arn is not None:
            report.steps.append(Step("kms key", Change.CREATED, f"{backend.kms_alias} → {arn}, rotation on"))
            return arn
        found = aws.kms.describe_key(KeyId=backend.kms_alias)  # a concurrent run's key won the alias
    meta = found["KeyMetadata"]
    if meta["KeyState"] != "Enabled":
        raise PreflightError(f"KMS key {backend.kms_alias} ({meta['Arn']}) is {meta['KeyState']} — fix: "
                             "re-enable it (or cancel its deletion) with `aws kms enable-key` / "
                             "`aws kms cancel-key-deletion`; bootstrap will not replace a key secrets use")
    if aws.kms.get_key_rotation_status(KeyId=meta["Arn"])["KeyRotationEnabled"]:
        report.steps.append(Step("kms key", Change.UNCHANGED, f"{backend.kms_alias} rotation on"))
    else:
        aws.kms.enable_key_rotation(KeyId=meta["Arn"])
        report.steps.append(Step("kms key", Change.STRENGTHENED, f"{backend.kms_alias} rotation turned on"))
    return str(meta["Arn"])


def _create_key(aws: Aws, backend: StateBackend, tags: dict[str, str]) -> str | None:
    """Create the key and point the alias at it; None when a concurrent bootstrap took the alias first.

    The alias is the lock: KMS creates an alias at most once. A key that did not get it (lost the race,
    or the run failed or was interrupted before the alias existed) is scheduled for deletion at once, so
    no orphaned key is left to bill and confuse (7 days is the shortest window KMS allows)."""
    key = aws.kms.create_key(
        Description=f"Pulumi secrets provider for {backend.bucket}", KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT", Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])
    key_id, arn = key["KeyMetadata"]["KeyId"], str(key["KeyMetadata"]["Arn"])
    try:
        aws.kms.enable_key_rotation(KeyId=arn)
        aws.kms.create_alias(AliasName=backend.kms_alias, TargetKeyId=key_id)
    except BaseException as exc:
        aws.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        if error_code(exc) == "AlreadyExistsException":
            return None
        raise
    return arn


# --- S3 bucket -----------------------------------------------------------------------------------

def _ensure_bucket(aws: Aws, backend: StateBackend, tags: dict[str, str], report: BootstrapReport) -> bool:
    """Create the bucket or check an existing one is usable; True when it is ours to fully manage."""
    try:
        head = aws.s3.head_bucket(Bucket=backend.bucket)
    except Exception as exc:
        if error_code(exc) in ("403", "AccessDenied", "Forbidden"):
            raise PreflightError(f"S3 bucket {backend.bucket} exists but is not accessible (another account "
                                 "owns it, or your role lacks s3:ListBucket) — fix: grant access, or change "
                                 "environment.name_prefix to get a different bucket name") from None
        if error_code(exc) not in _MISSING:
            raise
        if _create_bucket(aws, backend, tags):
            report.steps.append(Step("bucket", Change.CREATED, f"s3://{backend.bucket} in {backend.region}"))
            return True
        head = aws.s3.head_bucket(Bucket=backend.bucket)  # a concurrent bootstrap created it first
    region = head.get("BucketRegion") or head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region")
    if region and region != backend.region:
        raise PreflightError(f"S3 bucket {backend.bucket} is in {region}, the stack is in {backend.region} — "
                             "fix: use a stack region matching the bucket, or a different name_prefix")
    tagging = _get(aws.s3.get_bucket_tagging, Bucket=backend.bucket)
    ours = tagging is not None and {"Key": MANAGED_TAG[0], "Value": MANAGED_TAG[1]} in tagging["TagSet"]
    report.steps.append(Step("bucket", Change.UNCHANGED,
                             f"s3://{backend.bucket} exists" + ("" if ours else " (not created by mlplat)")))
    return ours


def _create_bucket(aws: Aws, backend: StateBackend, tags: dict[str, str]) -> bool:
    """Create and tag the bucket; False when a concurrent bootstrap created it between our check and now."""
    # us-east-1 is the one region that rejects an explicit LocationConstraint.
    location: Any = {} if backend.region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": backend.region}}
    try:
        aws.s3.create_bucket(Bucket=backend.bucket, **location)
    except Exception as exc:
        if error_code(exc) == "BucketAlreadyOwnedByYou":
            return False
        raise
    tag_set = [{"Key": k, "Value": v} for k, v in {**tags, MANAGED_TAG[0]: MANAGED_TAG[1]}.items()]
    aws.s3.put_bucket_tagging(Bucket=backend.bucket, Tagging={"TagSet": tag_set})  # type: ignore[typeddict-item]
    return True


def _ensure_versioning(aws: Aws, bucket: str, report: BootstrapReport) -> None:
    status = aws.s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status == "Enabled":
        report.steps.append(Step("versioning", Change.UNCHANGED, "enabled"))
        return
    aws.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    change = Change.CREATED if status is None else Change.STRENGTHENED
    report.steps.append(Step("versioning", change, f"enabled (was {status or 'never enabled'})"))


def _encryption_config(key_arn: str) -> Any:
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                                "KMSMasterKeyID": key_arn},
                       "BucketKeyEnabled": True}]}


def _ensure_encryption(aws: Aws, bucket: str, key_arn: str, report: BootstrapReport) -> None:
    found = _get(aws.s3.get_bucket_encryption, Bucket=bucket)
    rules = found["ServerSideEncryptionConfiguration"]["Rules"] if found else []
    default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
    algorithm, key = default.get("SSEAlgorithm"), default.get("KMSMasterKeyID")
    if algorithm in ("aws:kms", "aws:kms:dsse") and key not in (None, key_arn):
        report.steps.append(Step("encryption", Change.KEPT, f"{algorithm} with another key {key}; left as is"))
        return
    if algorithm in ("aws:kms", "aws:kms:dsse") and rules[0].get("BucketKeyEnabled"):
        report.steps.append(Step("encryption", Change.UNCHANGED, f"{algorithm} with the secrets key, bucket key on"))
        return
    aws.s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=_encryption_config(key_arn))
    change = Change.CREATED if algorithm is None else Change.STRENGTHENED
    report.steps.append(Step("encryption", change,
                             f"SSE-KMS with {key_arn}, bucket key on (was {algorithm or 'none'})"))


def _ensure_public_access_block(aws: Aws, bucket: str, report: BootstrapReport) -> None:
    found = _get(aws.s3.get_public_access_block, Bucket=bucket)
    current = found["PublicAccessBlockConfiguration"] if found else {}
    off = [flag for flag in _PUBLIC_ACCESS_FLAGS if not current.get(flag)]
    if not off:
        report.steps.append(Step("public access block", Change.UNCHANGED, "all four settings on"))
        return
    everything_on: Any = dict.fromkeys(_PUBLIC_ACCESS_FLAGS, True)
    aws.s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=everything_on)
    change = Change.CREATED if found is None else Change.STRENGTHENED
    report.steps.append(Step("public access block", change, f"turned on {', '.join(off)}"))


def _ensure_ownership(aws: Aws, bucket: str, report: BootstrapReport) -> None:
    found = _get(aws.s3.get_bucket_ownership_controls, Bucket=bucket)
    rules = found["OwnershipControls"]["Rules"] if found else []
    if rules and rules[0]["ObjectOwnership"] == "BucketOwnerEnforced":
        report.steps.append(Step("object ownership", Change.UNCHANGED, "ACLs disabled (BucketOwnerEnforced)"))
        return
    aws.s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    change = Change.CREATED if found is None else Change.STRENGTHENED
    report.steps.append(Step("object ownership", change, "ACLs disabled (BucketOwnerEnforced)"))


def tls_only_statement(bucket: str) -> dict[str, Any]:
    """Deny every request that does not arrive over TLS (checkov CKV_AWS_70 family, AWS S3 guidance)."""
    return {"Sid": TLS_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def _denies_plain_http(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition", {}).get("Bool", {})
    return statement.get("Effect") == "Deny" and str(condition.get("aws:SecureTransport")).lower() == "false"


def _ensure_tls_policy(aws: Aws, bucket: str, report: BootstrapReport) -> None:
    found = _get(aws.s3.get_bucket_policy, Bucket=bucket)
    policy = json.loads(found["Policy"]) if found else {"Version": "2012-10-17", "Statement": []}
    statements: Any = policy.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    if any(_denies_plain_http(s) for s in statements):
        report.steps.append(Step("bucket policy", Change.UNCHANGED, "TLS-only statement present"))
        return
    # Existing statements are kept verbatim: adding a Deny can only narrow access.
    policy["Statement"] = [*statements, tls_only_statement(bucket)]
    aws.s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    change = Change.CREATED if found is None else Change.STRENGTHENED
    report.steps.append(Step("bucket policy", change, f"added {TLS_SID} (TLS-only)"))


def lifecycle_rule() -> Any:
    return {"ID": LIFECYCLE_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_RETENTION_DAYS,
                                            "NewerNoncurrentVersions": NONCURRENT_VERSIONS_KEPT},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS}}


def _ensure_lifecycle(aws: Aws, bucket: str, ours: bool, report: BootstrapReport) -> None:
    found = _get(aws.s3.get_bucket_lifecycle_configuration, Bucket=bucket)
    rules = found["Rules"] if found else []
    if any(r.get("Status") == "Enabled" and "NoncurrentVersionExpiration" in r for r in rules):
        report.steps.append(Step("lifecycle", Change.UNCHANGED, "noncurrent-version retention rule present"))
        return
    if not ours:
        # Expiring versions of someone else's bucket could delete history they rely on: report, don't impose.
        report.steps.append(Step("lifecycle", Change.KEPT, "no noncurrent-version retention rule; old state "
                                 f"versions are kept forever. To bound it, add rule {LIFECYCLE_RULE_ID} "
                                 f"({NONCURRENT_RETENTION_DAYS} days, newest {NONCURRENT_VERSIONS_KEPT} kept)"))
        return
    aws.s3.put_bucket_lifecycle_configuration(Bucket=bucket,
                                              LifecycleConfiguration={"Rules": [*rules, lifecycle_rule()]})
    report.steps.append(Step("lifecycle", Change.CREATED if not rules else Change.STRENGTHENED,
                             f"noncurrent versions kept {NONCURRENT_RETENTION_DAYS} days "
                             f"(newest {NONCURRENT_VERSIONS_KEPT} always), stale multipart uploads aborted"))
