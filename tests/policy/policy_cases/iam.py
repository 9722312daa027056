"""Fixtures of the policies in `mlops_platform.policy.rules.iam`."""

from __future__ import annotations

from mlops_platform.core.iam import GITHUB_OIDC_HOST
from policy_plans import ACCOUNT, OIDC_ARN, Patch, U, doc

from policy_cases._base import APP_POLICY, APP_ROLE, DEFERRED, GITHUB_OIDC, Case, allow, app_doc, fail, ok, on, u


def github_trust(subject: str) -> str:
    """A GitHub Actions trust on `subject` (StringLike), audience pinned."""
    return doc({"Effect": "Allow", "Principal": {"Federated": GITHUB_OIDC}, "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com"},
                              "StringLike": {f"{GITHUB_OIDC_HOST}:sub": subject}}})


CASES: dict[str, Case] = {
    "iam-no-admin": Case(
        passing=(ok(),),
        failing=(fail(APP_POLICY, app_doc(allow("*", "*"))),
                 fail(on("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "node-worker"), Patch(
                     "node-worker", "policyArn", "arn:aws:iam::aws:policy/AdministratorAccess")),
                 fail(APP_ROLE, Patch("app-role", "managedPolicyArns", ["arn:aws:iam::aws:policy/PowerUserAccess"]))),
        unknown=u(DEFERRED, Patch("app-policy", "policy", U))),
    "iam-no-wildcard-action": Case(
        passing=(ok(),),
        failing=(fail(APP_POLICY, app_doc(allow("s3:*", "arn:aws:s3:::acme-test-data/projects/fraud/*"))),
                 fail(APP_ROLE, Patch("app-role", "inlinePolicies", [{"name": "x", "policy": doc(
                     {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})}]))),
        unknown=u(DEFERRED, Patch("app-policy", "policy", U))),
    "iam-no-wildcard-resource": Case(
        passing=(ok(), ok(app_doc(allow(["ecr:GetAuthorizationToken", "ec2:DescribeInstances"], "*")))),
        failing=(fail(APP_POLICY, app_doc(allow("s3:PutObject", "*"))),),
        unknown=u(DEFERRED, Patch("app-policy", "policy", U))),
    "iam-no-privilege-escalation": Case(
        passing=(ok(), ok(app_doc(allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/x")))),
        failing=(fail(APP_POLICY, app_doc(allow(["iam:PassRole", "s3:GetObject"], "*"))),
                 fail(APP_POLICY, app_doc(allow("iam:*", "*")))),
        unknown=u(DEFERRED, Patch("app-policy", "policy", U))),
    "iam-restricted-trust": Case(
        passing=(ok(), ok(Patch("app-role", "assumeRolePolicy", github_trust("repo:org/fraud:*"))),
                 ok(Patch("app-role", "assumeRolePolicy", github_trust("repo:org/*")))),  # one owner's repositories
        failing=(fail(on("aws:iam/role:Role", "node-role"), Patch("node-role", "assumeRolePolicy", doc(
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}))),
                 fail(APP_ROLE, Patch("app-role", "assumeRolePolicy", doc(
                     {"Effect": "Allow", "Principal": {"Federated": OIDC_ARN},
                      "Action": "sts:AssumeRoleWithWebIdentity"}))),
                 # security review item 4: any owner's repository of that name (GitHub subjects are
                 # `repo:<owner>/<repo>:...`, docs.github.com/en/actions/reference/security/oidc)
                 fail(APP_ROLE, Patch("app-role", "assumeRolePolicy",
                                      github_trust("repo:*/fraud:ref:refs/heads/main"))),
                 fail(APP_ROLE, Patch("app-role", "assumeRolePolicy", github_trust("repo:*"))),
                 fail(APP_ROLE, Patch("app-role", "assumeRolePolicy", github_trust("rep?:org/fraud:*")))),
        unknown=u(DEFERRED, Patch("app-role", "assumeRolePolicy", U))),
}
