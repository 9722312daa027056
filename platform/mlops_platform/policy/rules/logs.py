"""CloudWatch Logs: bounded retention and customer-managed encryption."""

from __future__ import annotations

from collections.abc import Iterator

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, checkov, resource_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.values import Defer, as_int, fmt, is_unknown

_LOGS_DOCS = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs"


@resource_policy(
    name="logs-retention", area=Area.LOGS, resource_types=(t.LOG_GROUP,), severity=Severity.LOW,
    description="Log groups keep logs at least the configured number of days, and not forever.",
    remediation="Set retentionInDays to a CloudWatch-supported value ≥ `min_log_retention_days` "
                "(e.g. 90, 365); the stack's cluster.log_retention_days sets it for control-plane logs.",
    url=f"{_LOGS_DOCS}/Working-with-log-groups-and-streams.html#SettingLogRetention",
    compliance=checkov("CKV_AWS_66", "CKV_AWS_338"), settings=("min_log_retention_days",),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when retentionInDays is unknown.",
)
def logs_retention(res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
    days = res.get("retentionInDays")
    if is_unknown(days):
        yield Defer("retentionInDays")
    elif not as_int(days):
        yield "retentionInDays is unset: logs are kept (and billed) forever"
    elif (as_int(days) or 0) < settings.min_log_retention_days:
        yield f"retentionInDays is {fmt(days)} < {settings.min_log_retention_days}"


@resource_policy(
    name="logs-kms-encryption", area=Area.LOGS, resource_types=(t.LOG_GROUP,), severity=Severity.MEDIUM,
    description="Log groups are encrypted with a customer-managed KMS key.",
    remediation="Set kmsKeyId to the environment's logs key (its key policy must allow logs.<region>.amazonaws.com).",
    url=f"{_LOGS_DOCS}/encrypt-log-data-kms.html", compliance=checkov("CKV_AWS_158"),
    on_unknown=OnUnknown.PASS, unknown_note="An unknown key id (created in the same update) passes.",
)
def logs_kms_encryption(res: Res, _: PolicySettings) -> Iterator[str]:
    key = res.get("kmsKeyId")
    if not is_unknown(key) and not key:
        yield "kmsKeyId is unset: logs use the service-owned key"
