"""ECR: immutable tags, scan on push, KMS encryption, no public repository policy, a lifecycle policy."""

from __future__ import annotations

from collections.abc import Iterator

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, checkov, fsbp, resource_policy, stack_policy
from mlops_platform.policy.rules.s3 import public_grants
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res, StackView
from mlops_platform.policy.sdk.values import Defer, Violation, as_list, fmt, is_unknown
from mlops_platform.policy.value_policy import value_policy

_ECR_DOCS = "https://docs.aws.amazon.com/AmazonECR/latest/userguide"


value_policy(
    name="ecr-immutable-tags", area=Area.ECR, resource_types=(t.ECR_REPOSITORY,), severity=Severity.MEDIUM,
    description="Image tags are immutable, so a deployed tag always means the same image.",
    remediation="Set imageTagMutability=\"IMMUTABLE\" (or IMMUTABLE_WITH_EXCLUSION for a reviewed cache tag).",
    url=f"{_ECR_DOCS}/image-tag-mutability.html", compliance=checkov("CKV_AWS_51") + fsbp("ECR.2"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when imageTagMutability is unknown.",
    path="imageTagMutability", expected=("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"),
    problem=" (provider default MUTABLE)",
)

value_policy(
    name="ecr-scan-on-push", area=Area.ECR, resource_types=(t.ECR_REPOSITORY,), severity=Severity.MEDIUM,
    description="Images are scanned for vulnerabilities when pushed.",
    remediation="Set imageScanningConfiguration {scanOnPush: true} (or enable enhanced scanning registry-wide).",
    url=f"{_ECR_DOCS}/image-scanning.html", compliance=checkov("CKV_AWS_163") + fsbp("ECR.1"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when scanOnPush is unknown.",
    path="imageScanningConfiguration.scanOnPush", expected=True,
)


@resource_policy(
    name="ecr-kms-encryption", area=Area.ECR, resource_types=(t.ECR_REPOSITORY, t.ECR_CREATION_TEMPLATE),
    severity=Severity.MEDIUM,
    description="Repositories, and the creation templates of those ECR creates itself (pull-through cache), are "
                "encrypted with a customer-managed KMS key.",
    remediation="Set encryptionConfigurations=[{encryptionType: \"KMS\", kmsKey: <key ARN>}].",
    url=f"{_ECR_DOCS}/encryption-at-rest.html", compliance=checkov("CKV_AWS_136"),
    on_unknown=OnUnknown.PASS, unknown_note="An unknown kmsKey passes; an unknown encryptionType defers.",
)
def ecr_kms_encryption(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    configs = [c for c in as_list(res.get("encryptionConfigurations")) if isinstance(c, dict)]
    kinds = [c.get("encryptionType") for c in configs]
    if any(is_unknown(k) for k in kinds):
        yield Defer("encryptionConfigurations.encryptionType")
    elif "KMS" not in kinds:
        yield f"encryptionConfigurations use {fmt(kinds or ['AES256 (default)'])}, not KMS"
    elif not any(is_unknown(c.get("kmsKey")) or c.get("kmsKey") for c in configs):
        yield "encryptionType KMS without kmsKey uses the AWS-managed aws/ecr key"


@resource_policy(
    name="ecr-no-public-policy", area=Area.ECR, resource_types=(t.ECR_REPOSITORY_POLICY,),
    severity=Severity.CRITICAL, description="No repository policy lets any principal (\"*\") pull or push.",
    remediation="Name the accounts or roles in Principal, or pin \"*\" with aws:PrincipalOrgID.",
    url=f"{_ECR_DOCS}/repository-policies.html", compliance=checkov("CKV_AWS_32"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the policy document is unknown.",
)
def ecr_no_public_policy(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    yield from public_grants(res.get("policy"))


def repository_keys(repo: Res) -> tuple[object, ...]:
    return repo.get("name"), repo.name, repo.get("arn"), repo.get("repositoryUrl")


@stack_policy(
    name="ecr-lifecycle-policy", area=Area.ECR, resource_types=(t.ECR_REPOSITORY, t.ECR_LIFECYCLE),
    severity=Severity.LOW, description="Every repository has a lifecycle policy that expires old images.",
    remediation="Add aws.ecr.LifecyclePolicy(repository=<repo>.name, policy=...) expiring untagged images "
                "after a few days (`registry.untagged_expiry_days`); tagged images are never expired.",
    url=f"{_ECR_DOCS}/LifecyclePolicies.html", compliance=fsbp("ECR.3"),
    on_unknown=OnUnknown.RESOLVE,
    unknown_note="Matched by repository name, or through the dependency graph while the name is unknown.",
)
def ecr_lifecycle_policy(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    refs = stack.referrers((t.ECR_LIFECYCLE,), "repository", (t.ECR_REPOSITORY,), repository_keys)
    for repo in stack.of_type(t.ECR_REPOSITORY):
        if refs.of(repo):
            continue
        if refs.unresolved:
            yield Defer("which LifecyclePolicy belongs to the repository", repo.urn)
        else:
            yield Violation(f"repository {repo.name!r} has no LifecyclePolicy: images pile up forever", repo.urn)
