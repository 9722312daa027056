"""Fixtures of the policies in `mlops_platform.policy.rules.logs`."""

from __future__ import annotations

from policy_plans import DROP, Patch, U

from policy_cases._base import DEFERRED, PASSES, Case, fail, ok, on, u

CASES: dict[str, Case] = {
    "logs-retention": Case(
        passing=(ok(), ok(Patch("cp-logs", "retentionInDays", 365))),
        failing=(fail(on("aws:cloudwatch/logGroup:LogGroup", "cp-logs"), Patch("cp-logs", "retentionInDays", 30)),
                 fail(on("aws:cloudwatch/logGroup:LogGroup", "cp-logs"), Patch("cp-logs", "retentionInDays", DROP))),
        unknown=u(DEFERRED, Patch("cp-logs", "retentionInDays", U))),
    "logs-kms-encryption": Case(
        passing=(ok(), ok(Patch("cp-logs", "kmsKeyId", U))),
        failing=(fail(on("aws:cloudwatch/logGroup:LogGroup", "cp-logs"), Patch("cp-logs", "kmsKeyId", DROP)),),
        unknown=u(PASSES, Patch("cp-logs", "kmsKeyId", U))),
}
