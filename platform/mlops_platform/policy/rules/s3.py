"""S3: every bucket blocks public access, uses SSE-KMS, versions, logs, expires uploads and requires TLS.

With pulumi-aws 7.x these settings are separate resources that point at the bucket (`BucketVersioning`,
`BucketServerSideEncryptionConfiguration`, ...), so the per-bucket checks are stack policies: they find
each bucket's companions by the bucket name, or through the dependency graph while the name is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, checkov, fsbp, resource_policy, stack_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Referrers, Res, StackView
from mlops_platform.policy.sdk.iam import Statement, is_public_principal, statements
from mlops_platform.policy.sdk.values import UNKNOWN, Defer, Violation, as_int, as_list, dig, fmt, is_unknown

_S3_DOCS = "https://docs.aws.amazon.com/AmazonS3/latest/userguide"
_RESOLVE_NOTE = ("Companions are matched by bucket name, or through the dependency graph while the name is "
                 "unknown; a companion setting that is itself unknown defers the check for that bucket.")
#: Condition keys that pin a `*` principal to a known caller (account, organisation, VPC endpoint, source).
_PINNING_KEYS = ("aws:sourcearn", "aws:sourceaccount", "aws:principalorgid", "aws:principalaccount",
                 "aws:sourcevpce", "aws:sourcevpc", "aws:principalarn")


def bucket_keys(bucket: Res) -> tuple[object, ...]:
    """Values a companion's `bucket` input may hold for this bucket: its name (= id) or ARN."""
    return bucket.get("bucket"), bucket.name, bucket.get("arn"), bucket.get("id")


def _companions(stack: StackView, companion_type: str) -> Referrers:
    return stack.referrers((companion_type,), "bucket", (t.BUCKET,), bucket_keys)


def _per_bucket(stack: StackView, companion_type: str, what: str,
                judge: Callable[[Res, list[Res]], Iterator[str | Defer]]) -> Iterator[Violation | Defer]:
    """Run `judge(bucket, companions)` for each bucket; a missing companion is a violation."""
    refs = _companions(stack, companion_type)
    for bucket in stack.of_type(t.BUCKET):
        found = refs.of(bucket)
        if not found and refs.unresolved:
            yield Defer(f"which {what} belongs to the bucket", bucket.urn)
        elif not found:
            yield Violation(f"bucket {bucket.name!r} has no {what}", bucket.urn)
        for outcome in judge(bucket, found):
            yield outcome if isinstance(outcome, Defer) else Violation(outcome, bucket.urn)


_PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _judge_pab(bucket: Res, blocks: list[Res]) -> Iterator[str | Defer]:
    for block in blocks:
        for flag in _PAB_FLAGS:
            value = block.get(flag)
            if is_unknown(value):
                yield Defer(f"{block.name}.{flag}", bucket.urn)
            elif value is not True:
                yield f"{block.name}: {flag} is {fmt(value)}"


@stack_policy(
    name="s3-public-access-block", area=Area.S3, resource_types=(t.BUCKET, t.BUCKET_PAB),
    severity=Severity.CRITICAL, description="Every bucket has a public access block with all four flags on.",
    remediation="Add aws.s3.BucketPublicAccessBlock(bucket=<bucket>.id, block_public_acls=True, "
                "block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True).",
    url=f"{_S3_DOCS}/access-control-block-public-access.html",
    compliance=checkov("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56") + fsbp("S3.8"),
    on_unknown=OnUnknown.RESOLVE, unknown_note=_RESOLVE_NOTE,
)
def s3_public_access_block(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    yield from _per_bucket(stack, t.BUCKET_PAB, "BucketPublicAccessBlock", _judge_pab)


def _judge_sse(bucket: Res, configs: list[Res]) -> Iterator[str | Defer]:
    for config in configs:
        rules = config.get("rules")
        if is_unknown(rules):
            yield Defer(f"{config.name}.rules", bucket.urn)
            continue
        defaults = [r.get("applyServerSideEncryptionByDefault") or {} for r in as_list(rules) if isinstance(r, dict)]
        algos, keys = [d.get("sseAlgorithm") for d in defaults], [d.get("kmsMasterKeyId") for d in defaults]
        if any(is_unknown(a) for a in algos):
            yield Defer(f"{config.name}.rules.sseAlgorithm", bucket.urn)
        elif not any(a in ("aws:kms", "aws:kms:dsse") for a in algos):
            yield f"{config.name}: sseAlgorithm is {fmt(algos or None)}, not aws:kms"
        elif not any(is_unknown(k) or k for k in keys):
            yield f"{config.name}: no kmsMasterKeyId — the AWS-managed aws/s3 key cannot be scoped or audited"


@stack_policy(
    name="s3-sse-kms", area=Area.S3, resource_types=(t.BUCKET, t.BUCKET_SSE, t.BUCKET_LOGGING),
    severity=Severity.HIGH,
    description="Every bucket encrypts by default with SSE-KMS under a customer-managed key (access-log buckets: "
                "SSE-S3, the only encryption S3 log delivery supports).",
    remediation="Add BucketServerSideEncryptionConfiguration with rules=[{applyServerSideEncryptionByDefault: "
                "{sseAlgorithm: \"aws:kms\", kmsMasterKeyId: <key ARN>}, bucketKeyEnabled: true}].",
    url=f"{_S3_DOCS}/UsingKMSEncryption.html", compliance=checkov("CKV_AWS_145", "CKV_AWS_19"),
    on_unknown=OnUnknown.RESOLVE, unknown_note=_RESOLVE_NOTE + " An unknown key ARN passes.",
)
def s3_sse_kms(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    sinks = _log_sinks(stack)
    yield from _per_bucket(stack, t.BUCKET_SSE, "BucketServerSideEncryptionConfiguration",
                           lambda bucket, found: (_judge_sink_sse if sinks.of(bucket) else _judge_sse)(bucket, found))


def _log_sinks(stack: StackView) -> Referrers:
    """Buckets that receive server access logs (targets of some BucketLogging)."""
    return stack.referrers((t.BUCKET_LOGGING,), "targetBucket", (t.BUCKET,), bucket_keys)


def _judge_sink_sse(bucket: Res, configs: list[Res]) -> Iterator[str | Defer]:
    """S3 delivers server access logs only to SSE-S3 buckets, so a log sink must use AES256 — not nothing."""
    for config in configs:
        rules = config.get("rules")
        algos = [] if is_unknown(rules) else [dig(r, "applyServerSideEncryptionByDefault.sseAlgorithm")
                                              for r in as_list(rules)]
        if is_unknown(rules) or any(is_unknown(a) for a in algos):
            yield Defer(f"{config.name}.rules", bucket.urn)
        elif "AES256" not in algos:
            yield f"{config.name}: access-log bucket must default to AES256 (S3 cannot deliver logs to SSE-KMS), " \
                  f"has {fmt(algos or None)}"


def _judge_versioning(bucket: Res, configs: list[Res]) -> Iterator[str | Defer]:
    for config in configs:
        status = config.get("versioningConfiguration.status")
        if is_unknown(status):
            yield Defer(f"{config.name}.versioningConfiguration.status", bucket.urn)
        elif status != "Enabled":
            yield f"{config.name}: versioningConfiguration.status is {fmt(status)}"


@stack_policy(
    name="s3-versioning", area=Area.S3, resource_types=(t.BUCKET, t.BUCKET_VERSIONING), severity=Severity.MEDIUM,
    description="Every bucket keeps object versions, so overwrites and deletes can be undone.",
    remediation="Add BucketVersioning(bucket=<bucket>.id, versioning_configuration={\"status\": \"Enabled\"}) and "
                "expire noncurrent versions with a lifecycle rule.",
    url=f"{_S3_DOCS}/Versioning.html", compliance=checkov("CKV_AWS_21"),
    on_unknown=OnUnknown.RESOLVE, unknown_note=_RESOLVE_NOTE,
)
def s3_versioning(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    yield from _per_bucket(stack, t.BUCKET_VERSIONING, "BucketVersioning", _judge_versioning)


@stack_policy(
    name="s3-access-logging", area=Area.S3, resource_types=(t.BUCKET, t.BUCKET_LOGGING), severity=Severity.MEDIUM,
    description="Every bucket writes server access logs to a log bucket (log buckets themselves excepted).",
    remediation="Add BucketLogging(bucket=<bucket>.id, target_bucket=<access-log bucket>.id, "
                "target_prefix=\"<bucket>/\").",
    url=f"{_S3_DOCS}/ServerLogs.html", compliance=checkov("CKV_AWS_18") + fsbp("S3.9"),
    on_unknown=OnUnknown.RESOLVE, unknown_note=_RESOLVE_NOTE,
)
def s3_access_logging(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    sinks = _log_sinks(stack)
    refs = _companions(stack, t.BUCKET_LOGGING)
    for bucket in stack.of_type(t.BUCKET):
        if refs.of(bucket) or sinks.of(bucket):
            continue  # logged, or the log sink itself (logging a log bucket into itself would loop)
        if refs.unresolved or sinks.unresolved:
            yield Defer("which BucketLogging belongs to the bucket", bucket.urn)
        else:
            yield Violation(f"bucket {bucket.name!r} has no BucketLogging", bucket.urn)


def _abort_days(rule: dict[str, object]) -> object:
    abort = rule.get("abortIncompleteMultipartUpload")
    return abort.get("daysAfterInitiation") if isinstance(abort, dict) else None


def _judge_lifecycle(bucket: Res, configs: list[Res]) -> Iterator[str | Defer]:
    for config in configs:
        rules = config.get("rules")
        if is_unknown(rules):
            yield Defer(f"{config.name}.rules", bucket.urn)
            continue
        enabled = [r for r in as_list(rules) if isinstance(r, dict) and r.get("status") == "Enabled"]
        days = [_abort_days(r) for r in enabled]
        if any(is_unknown(d) for d in days):
            yield Defer(f"{config.name}.abortIncompleteMultipartUpload", bucket.urn)
        elif not any((as_int(d) or 0) >= 1 for d in days):
            yield f"{config.name}: no enabled rule aborts incomplete multipart uploads"


@stack_policy(
    name="s3-lifecycle-abort-multipart", area=Area.S3, resource_types=(t.BUCKET, t.BUCKET_LIFECYCLE),
    severity=Severity.LOW, description="Every bucket has a lifecycle that aborts incomplete multipart uploads.",
    remediation="Add BucketLifecycleConfiguration with an Enabled rule abortIncompleteMultipartUpload "
                "{daysAfterInitiation: 7} (and noncurrentVersionExpiration for versioned buckets).",
    url=f"{_S3_DOCS}/mpu-abort-incomplete-mpu-lifecycle-config.html",
    compliance=checkov("CKV_AWS_300", "CKV2_AWS_61"), on_unknown=OnUnknown.RESOLVE, unknown_note=_RESOLVE_NOTE,
)
def s3_lifecycle_abort_multipart(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    yield from _per_bucket(stack, t.BUCKET_LIFECYCLE, "BucketLifecycleConfiguration", _judge_lifecycle)


def _denies_insecure_transport(stmt: Statement) -> bool:
    if stmt.effect != "Deny" or not is_public_principal(stmt):
        return False
    tests = [(op, v) for op, v in stmt.condition_values("aws:SecureTransport") if op == "Bool"]
    return any(str(as_list(v)[0]).lower() == "false" for _, v in tests if as_list(v))


def _tls_outcome(bucket: Res, policies: list[Res]) -> Iterator[Violation | Defer]:
    docs = [p.get("policy") for p in policies] + ([bucket.get("policy")] if bucket.get("policy") else [])
    parsed = [statements(d) for d in docs]
    if any(s is UNKNOWN for s in parsed):
        yield Defer("bucket policy document", bucket.urn)
    elif not any(_denies_insecure_transport(s) for group in parsed for s in group or []):
        yield Violation(f"bucket {bucket.name!r}: no policy statement denies aws:SecureTransport=false",
                        bucket.urn)


@stack_policy(
    name="s3-tls-only", area=Area.S3, resource_types=(t.BUCKET, t.BUCKET_POLICY), severity=Severity.MEDIUM,
    description="Every bucket policy denies requests that do not use TLS.",
    remediation="Add to the BucketPolicy a statement {Effect: Deny, Principal: \"*\", Action: \"s3:*\", "
                "Resource: [bucket ARN, bucket ARN/*], Condition: {Bool: {\"aws:SecureTransport\": \"false\"}}}.",
    url=f"{_S3_DOCS}/security-best-practices.html", compliance=fsbp("S3.5"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the policy document is unknown.",
)
def s3_tls_only(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    refs = _companions(stack, t.BUCKET_POLICY)
    for bucket in stack.of_type(t.BUCKET):
        if not refs.of(bucket) and refs.unresolved:
            yield Defer("which BucketPolicy belongs to the bucket", bucket.urn)
        else:
            yield from _tls_outcome(bucket, refs.of(bucket))


def public_grants(document: object) -> Iterator[str | Defer]:
    """Allow statements open to `*` with no condition pinning the caller (shared with ECR, KMS)."""
    stmts = statements(document)
    if stmts is UNKNOWN:
        yield Defer("policy")
        return
    for stmt in stmts or []:
        pinned = any(stmt.condition_values(k) for k in _PINNING_KEYS)
        if stmt.allows and is_public_principal(stmt) and not pinned:
            yield f"{stmt.label()} allows {fmt(list(stmt.actions))} to any principal (\"*\")"


@resource_policy(
    name="s3-no-public-principal", area=Area.S3, resource_types=(t.BUCKET_POLICY, t.BUCKET),
    severity=Severity.CRITICAL, description="No bucket policy allows anything to principal \"*\".",
    remediation="Name the principals (account or role ARNs), or pin \"*\" with aws:PrincipalOrgID / "
                "aws:SourceVpce / aws:SourceArn conditions. Serve public content through CloudFront OAC.",
    url=f"{_S3_DOCS}/example-bucket-policies.html", compliance=checkov("CKV_AWS_70"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the policy document is unknown.",
)
def s3_no_public_principal(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    yield from public_grants(res.get("policy"))


_PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")


@resource_policy(
    name="s3-no-public-acl", area=Area.S3, resource_types=(t.BUCKET, "aws:s3/bucketAcl:BucketAcl"),
    severity=Severity.CRITICAL, description="No bucket uses a public canned ACL.",
    remediation="Remove the ACL (buckets default to private with BucketOwnerEnforced ownership).",
    url=f"{_S3_DOCS}/acl-overview.html", compliance=checkov("CKV_AWS_20") + fsbp("S3.2"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the ACL is unknown.",
)
def s3_no_public_acl(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    acl = res.get("acl")
    if is_unknown(acl):
        yield Defer("acl")
    elif acl in _PUBLIC_ACLS:
        yield f"acl is {fmt(acl)}"
