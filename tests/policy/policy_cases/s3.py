"""Fixtures of the policies in `mlops_platform.policy.rules.s3`."""

from __future__ import annotations

from policy_plans import ACCOUNT, DROP, Add, Drop, Patch, U, doc, res

from policy_cases._base import DATA, DEFERRED, LOGS, Case, allow, fail, ok, on, u

CASES: dict[str, Case] = {
    "s3-public-access-block": Case(
        passing=(ok(), ok(Patch("data-pab", "bucket", U))),  # unknown name: resolved through dependencies
        failing=(fail(DATA, Patch("data-pab", "blockPublicPolicy", False)), fail(DATA, Drop("data-pab"))),
        unknown=u(DEFERRED, Patch("data-pab", "restrictPublicBuckets", U))),
    "s3-sse-kms": Case(
        passing=(ok(), ok(Patch("data-sse", "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", U))),
        failing=(fail(DATA, Patch("data-sse", "rules.0.applyServerSideEncryptionByDefault",
                                  {"sseAlgorithm": "AES256"})),
                 fail(DATA, Patch("data-sse", "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", DROP)),
                 fail(DATA, Drop("data-sse")),
                 fail(LOGS, Patch("logs-sse", "rules", []))),
        unknown=u(DEFERRED, Patch("data-sse", "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", U))),
    "s3-versioning": Case(
        passing=(ok(),),
        failing=(fail(DATA, Patch("data-versioning", "versioningConfiguration.status", "Suspended")),
                 fail(LOGS, Drop("logs-versioning"))),
        unknown=u(DEFERRED, Patch("data-versioning", "versioningConfiguration.status", U))),
    "s3-access-logging": Case(
        passing=(ok(), ok(Patch("data-logging", "bucket", U))),
        # without its only BucketLogging, the log bucket is no longer a log sink either
        failing=(fail((DATA, LOGS), Drop("data-logging")),),
        # an unknown bucket reference with no dependency to follow cannot be attributed: deferred
        unknown=u(DEFERRED, Drop("data-logging"), Add(res("aws:s3/bucketLogging:BucketLogging", "orphan-logging", {
            "bucket": U, "targetBucket": "acme-test-logs"})))),
    "s3-lifecycle-abort-multipart": Case(
        passing=(ok(),),
        failing=(fail(DATA, Patch("data-lifecycle", "rules.0.abortIncompleteMultipartUpload", DROP)),
                 fail(DATA, Patch("data-lifecycle", "rules.0.status", "Disabled")), fail(DATA, Drop("data-lifecycle"))),
        unknown=u(DEFERRED, Patch("data-lifecycle", "rules.0.abortIncompleteMultipartUpload.daysAfterInitiation", U))),
    "s3-tls-only": Case(
        passing=(ok(),),
        failing=(fail(DATA, Patch("data-policy", "policy", doc(allow(
            "s3:GetObject", "arn:aws:s3:::x/*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})))),
                 fail(DATA, Drop("data-policy"))),
        unknown=u(DEFERRED, Patch("data-policy", "policy", U))),
    "s3-no-public-principal": Case(
        passing=(ok(), ok(Patch("data-policy", "policy", doc(allow(
            "s3:GetObject", "arn:aws:s3:::acme-test-data/*", Principal="*",
            Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}))))),
        failing=(fail(on("aws:s3/bucketPolicy:BucketPolicy", "data-policy"), Patch("data-policy", "policy", doc(
            allow("s3:GetObject", "arn:aws:s3:::acme-test-data/*", Principal={"AWS": "*"})))),
                 fail(DATA, Patch("data", "policy", doc(allow("s3:*", "*", Principal="*"))))),
        unknown=u(DEFERRED, Patch("data-policy", "policy", U))),
    "s3-no-public-acl": Case(
        passing=(ok(), ok(Patch("data", "acl", "private"))),
        failing=(fail(DATA, Patch("data", "acl", "public-read")),
                 fail(on("aws:s3/bucketAcl:BucketAcl", "acl"), Add(res("aws:s3/bucketAcl:BucketAcl", "acl", {
                     "bucket": "acme-test-data", "acl": "public-read-write"})))),
        unknown=u(DEFERRED, Patch("data", "acl", U))),
}
