"""KMS: customer-managed keys rotate and their key policies never open the key to everyone."""

from __future__ import annotations

from collections.abc import Iterator

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, checkov, fsbp, resource_policy
from mlops_platform.policy.rules.s3 import public_grants
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.values import Defer, fmt, is_unknown

_KMS_DOCS = "https://docs.aws.amazon.com/kms/latest/developerguide"


@resource_policy(
    name="kms-rotation", area=Area.KMS, resource_types=(t.KMS_KEY,), severity=Severity.MEDIUM,
    description="Symmetric customer-managed keys rotate their key material automatically.",
    remediation="Set enableKeyRotation=True (optionally rotationPeriodInDays, 90..2560).",
    url=f"{_KMS_DOCS}/rotate-keys.html", compliance=checkov("CKV_AWS_7") + fsbp("KMS.4"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the rotation flag or key spec is unknown.",
)
def kms_rotation(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    spec, rotation = res.get("customerMasterKeySpec"), res.get("enableKeyRotation")
    if is_unknown(spec) or is_unknown(rotation):
        yield Defer("enableKeyRotation")
    elif spec in (None, "SYMMETRIC_DEFAULT") and rotation is not True:
        yield f"enableKeyRotation is {fmt(rotation)}: a leaked data key stays valid forever"


@resource_policy(
    name="kms-safe-key-policy", area=Area.KMS, resource_types=(t.KMS_KEY, t.KMS_KEY_POLICY),
    severity=Severity.CRITICAL, description="Key policies grant nothing to \"*\" and keep the lockout safety check.",
    remediation="Grant the account root and named roles; pin any \"*\" principal with kms:CallerAccount or "
                "aws:PrincipalOrgID; never set bypassPolicyLockoutSafetyCheck.",
    url=f"{_KMS_DOCS}/key-policies.html", compliance=checkov("CKV_AWS_33"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the key policy document is unknown.",
)
def kms_safe_key_policy(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    if res.get("bypassPolicyLockoutSafetyCheck") is True:
        yield "bypassPolicyLockoutSafetyCheck is true: a bad policy can lock the account out of the key"
    policy = res.get("policy")
    if policy is not None:
        yield from public_grants(policy)
