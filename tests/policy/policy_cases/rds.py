"""Fixtures of the policies in `mlops_platform.policy.rules.rds`."""

from __future__ import annotations

from policy_plans import DROP, Patch, U

from policy_cases._base import DB, DEFERRED, Case, fail, ok, u

CASES: dict[str, Case] = {
    "rds-storage-encrypted": Case(
        passing=(ok(),), failing=(fail(DB, Patch("db", "storageEncrypted", DROP)),),
        unknown=u(DEFERRED, Patch("db", "storageEncrypted", U))),
    "rds-not-public": Case(
        passing=(ok(), ok(Patch("db", "publiclyAccessible", DROP))),
        failing=(fail(DB, Patch("db", "publiclyAccessible", True)),),
        unknown=u(DEFERRED, Patch("db", "publiclyAccessible", U))),
    "rds-backups": Case(
        passing=(ok(),), failing=(fail(DB, Patch("db", "backupRetentionPeriod", 1)),
                                  fail(DB, Patch("db", "backupRetentionPeriod", DROP))),
        unknown=u(DEFERRED, Patch("db", "backupRetentionPeriod", U))),
    "rds-deletion-protection": Case(
        passing=(ok(),), failing=(fail(DB, Patch("db", "deletionProtection", False)),),
        unknown=u(DEFERRED, Patch("db", "deletionProtection", U))),
}
