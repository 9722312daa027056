"""Fixtures of the policies in `mlops_platform.policy.rules.irsa`."""

from __future__ import annotations

import json

from policy_plans import ACCOUNT, ISSUER, OIDC_ARN, Add, Patch, U, doc, irsa_trust, res, s3_prefix_policy

from policy_cases._base import APP_ROLE, DEFERRED, PASSES, Case, allow, app_doc, fail, ok, u

CASES: dict[str, Case] = {
    "irsa-trust-pinned": Case(
        passing=(ok(),),
        failing=(fail(APP_ROLE, Patch("app-role", "assumeRolePolicy", doc(
            {"Effect": "Allow", "Principal": {"Federated": OIDC_ARN}, "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:fraud:fraud-workload"}}}))),
                 fail(APP_ROLE, Patch("app-role", "assumeRolePolicy", doc(
                     {"Effect": "Allow", "Principal": {"Federated": OIDC_ARN},
                      "Action": "sts:AssumeRoleWithWebIdentity",
                      "Condition": {"StringLike": {f"{ISSUER}:sub": "system:serviceaccount:fraud:*"},
                                    "StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com"}}})))),
        unknown=u(DEFERRED, Patch("app-role", "assumeRolePolicy", U))),
    "irsa-serviceaccount-binding": Case(
        passing=(ok(), ok(Patch("fraud-sa", "metadata.annotations", {"eks.amazonaws.com/role-arn": U}))),
        failing=(fail(APP_ROLE, Patch("fraud-sa", "metadata.name", "other")),
                 fail(APP_ROLE, Patch("app-role", "assumeRolePolicy", irsa_trust("fraud", "someone-else"))),
                 fail(APP_ROLE, Add(res("kubernetes:core/v1:ServiceAccount", "stowaway", {"metadata": {
                     "name": "stowaway", "namespace": "fraud",
                     "annotations": {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/fraud-workload"}}})))),
        unknown=u(PASSES, Patch("fraud-sa", "metadata.annotations", {"eks.amazonaws.com/role-arn": U}))),
    "irsa-s3-prefix-scoped": Case(
        passing=(ok(),),
        failing=(fail(APP_ROLE, app_doc(allow("s3:GetObject", "arn:aws:s3:::acme-test-data/*"))),
                 fail(APP_ROLE, app_doc(allow("s3:ListBucket", "arn:aws:s3:::acme-test-data"))),
                 fail(APP_ROLE, Patch("app-policy", "policy", json.dumps(json.loads(s3_prefix_policy(
                     "*", "")))))),
        unknown=u(DEFERRED, Patch("app-policy", "policy", U))),
}
