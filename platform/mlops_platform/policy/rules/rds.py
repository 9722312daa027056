"""RDS: encrypted, private, backed up, and protected from deletion where the environment says so."""

from __future__ import annotations

from collections.abc import Iterator

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, checkov, fsbp, resource_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.values import Defer, as_int, fmt, is_unknown
from mlops_platform.policy.value_policy import value_policy

_RDS_DOCS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide"


value_policy(
    name="rds-storage-encrypted", area=Area.RDS, resource_types=(t.RDS_INSTANCE,), severity=Severity.HIGH,
    description="Database storage, snapshots and backups are encrypted.",
    remediation="Set storageEncrypted=True and kmsKeyId to a customer-managed key (needs a new instance "
                "restored from an encrypted snapshot copy for existing ones).",
    url=f"{_RDS_DOCS}/Overview.Encryption.html", compliance=checkov("CKV_AWS_16") + fsbp("RDS.3"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when storageEncrypted is unknown.",
    path="storageEncrypted", expected=True, problem=": data at rest is readable from raw storage and snapshots",
)

value_policy(
    name="rds-not-public", area=Area.RDS, resource_types=(t.RDS_INSTANCE,), severity=Severity.CRITICAL,
    description="Databases are not publicly accessible.",
    remediation="Set publiclyAccessible=False and place the instance in private subnets.",
    url=f"{_RDS_DOCS}/USER_VPC.WorkingWithRDSInstanceinaVPC.html", compliance=checkov("CKV_AWS_17") + fsbp("RDS.2"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when publiclyAccessible is unknown.",
    path="publiclyAccessible", expected=False, problem=": the endpoint resolves to a public address",
)


@resource_policy(
    name="rds-backups", area=Area.RDS, resource_types=(t.RDS_INSTANCE,), severity=Severity.MEDIUM,
    description="Automated backups are kept at least the configured number of days.",
    remediation="Set backupRetentionPeriod ≥ `min_backup_retention_days` (the stack's "
                "tracking.backup_retention_days; 14 in prod by default).",
    url=f"{_RDS_DOCS}/USER_WorkingWithAutomatedBackups.html", compliance=checkov("CKV_AWS_133") + fsbp("RDS.11"),
    settings=("min_backup_retention_days",), on_unknown=OnUnknown.DEFER,
    unknown_note="Deferred when backupRetentionPeriod is unknown.",
)
def rds_backups(res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
    days = res.get("backupRetentionPeriod")
    if is_unknown(days):
        yield Defer("backupRetentionPeriod")
    elif (as_int(days) or 0) < settings.min_backup_retention_days:
        yield f"backupRetentionPeriod is {fmt(days)} < {settings.min_backup_retention_days} days"


value_policy(
    name="rds-deletion-protection", area=Area.RDS, resource_types=(t.RDS_INSTANCE,), severity=Severity.HIGH,
    description="Databases cannot be deleted by accident where the environment requires protection (prod).",
    remediation="Set deletionProtection=True (and skipFinalSnapshot=False); the platform does it in prod.",
    url=f"{_RDS_DOCS}/USER_DeleteInstance.html#USER_DeleteInstance.DeletionProtection",
    compliance=checkov("CKV_AWS_293") + fsbp("RDS.8"), enabled_by="require_rds_deletion_protection",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when deletionProtection is unknown.",
    path="deletionProtection", expected=True, problem=": one `pulumi destroy` or console click drops the data",
)
